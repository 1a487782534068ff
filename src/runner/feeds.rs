//! The values fed to a model's placeholders: given in `.npy`/`.npz` files, or
//! seeded random ones (floats uniform in [-1, 1), integers uniform in
//! [0, 10), so that small vocabularies and class ids stay in range).

use std::path::PathBuf;

use bytes::Bytes;

use super::signature::{resolve_shapes, InputSpec};
use super::{npy, Result, RunnerError, UsageError};
use crate::graph::{node_name, InputRef};
use crate::proto::tensorflow::DataType;
use crate::tensor::{Tensor, TensorData};

/// How inputs are made, shared by `verify` and `bench`.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// `--input_shapes name:D0,D1,...`, node names.
    pub shapes: Vec<(String, Vec<u64>)>,
    /// A leading unknown dimension; default 1.
    pub batch: Option<u64>,
    pub seed: u64,
    /// `--inputs`: values read from files override the random ones.
    pub given: Vec<Given>,
}

/// One `--inputs` entry: `NAME=FILE.npy`, `FILE.npy` (named by its stem) or
/// `FILE.npz` (each array named by its key).
#[derive(Debug, Clone)]
pub struct Given {
    pub name: Option<String>,
    pub path: PathBuf,
}

impl Given {
    pub fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((name, path)) => Given { name: Some(name.to_string()), path: path.into() },
            None => Given { name: None, path: s.into() },
        }
    }
}

/// The tensors the `--inputs` files hold, by placeholder (node) name.
pub fn read_given(given: &[Given]) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for g in given {
        let is_npz = g.path.extension().is_some_and(|e| e == "npz");
        let arrays = if is_npz { npy::read_npz(&g.path)? } else { vec![(stem(g), npy::read_npy(&g.path)?)] };
        for (name, t) in arrays {
            let name = g.name.clone().filter(|_| !is_npz).unwrap_or(name);
            out.push((node_name(&name).to_string(), t));
        }
    }
    Ok(out)
}

fn stem(g: &Given) -> String {
    g.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The feeds of input set `iteration`: `given` values where there are some,
/// random ones elsewhere, each placeholder's stream seeded from `seed`, the
/// iteration and its name, so that adding an input changes no other's values.
pub fn make_feeds(
    specs: &[InputSpec],
    opts: &InputOptions,
    given: &[(String, Tensor)],
    iteration: u64,
) -> Result<Vec<(String, Tensor)>> {
    for (name, _) in given {
        if !specs.iter().any(|s| &s.name == name) {
            let placeholders = specs.iter().map(|s| s.name.clone()).collect();
            return Err(RunnerError::Usage(UsageError::UnneededInput { flag: "--inputs", name: name.clone(), placeholders }));
        }
    }
    let mut shapes = opts.shapes.clone();
    shapes.extend(given.iter().map(|(n, t)| (n.clone(), t.shape.clone())));
    let resolved = resolve_shapes(specs, &shapes, opts.batch.unwrap_or(1))?;
    specs
        .iter()
        .zip(resolved)
        .map(|(spec, shape)| {
            let value = match given.iter().find(|(n, _)| n == &spec.name) {
                Some((_, t)) if t.dtype != spec.dtype => {
                    return Err(RunnerError::Usage(UsageError::InputType { name: spec.name.clone(), given: t.dtype, dtype: spec.dtype }))
                }
                Some((_, t)) => t.clone(),
                None => random(spec, shape, opts.seed, iteration)?,
            };
            Ok((InputRef::tensor_name(&spec.name, 0), value))
        })
        .collect()
}

/// Room for the bytes of a `shape` input, or a usage error saying why not:
/// the shape comes from `--batch` and `--input_shapes`, which can ask for
/// more than this machine can hold, and that must not abort the process.
fn input_buffer(spec: &InputSpec, shape: &[u64]) -> Result<(usize, Vec<u8>)> {
    let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let bytes = elements.and_then(|n| n.checked_mul(spec.dtype.byte_size().unwrap_or(1) as u64));
    let too_big = || RunnerError::Usage(UsageError::InputTooLarge { name: spec.name.clone(), shape: shape.to_vec(), dtype: spec.dtype, bytes });
    let (n, len) = elements.zip(bytes).and_then(|(n, b)| Some((usize::try_from(n).ok()?, usize::try_from(b).ok()?))).ok_or_else(too_big)?;
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).map_err(|_| too_big())?;
    Ok((n, buffer))
}

fn random(spec: &InputSpec, shape: Vec<u64>, seed: u64, iteration: u64) -> Result<Tensor> {
    let (n, mut bytes) = input_buffer(spec, &shape)?;
    let fnv = spec.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let mut state = seed ^ fnv ^ iteration.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = move || {
        // splitmix64: tiny, well mixed, and the same on every platform.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    // Exact in the type's own precision, so a value never rounds up to 1.0.
    let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
    let unit32 = |x: u64| (x >> 40) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
    for _ in 0..n {
        let x = next();
        match spec.dtype {
            DataType::DtFloat => bytes.extend_from_slice(&unit32(x).to_le_bytes()),
            DataType::DtDouble => bytes.extend_from_slice(&unit(x).to_le_bytes()),
            DataType::DtInt32 => bytes.extend_from_slice(&((x % 10) as i32).to_le_bytes()),
            DataType::DtInt64 => bytes.extend_from_slice(&((x % 10) as i64).to_le_bytes()),
            // uint8 and int8, the only other types `runnable` admits.
            _ => bytes.push((x % 10) as u8),
        }
    }
    Ok(Tensor { dtype: spec.dtype, shape, data: TensorData::Pod(Bytes::from(bytes)) })
}
