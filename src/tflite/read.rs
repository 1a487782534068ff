//! A TFLite model read into the little tf-strip needs of it, checked as it
//! is read: planus verifies every table, vector and string it reaches (bounds,
//! alignment, offsets); what a flatbuffer cannot say is checked here (indices
//! into other vectors, constant data against shape and type), so the rewrite
//! never indexes out of range on a hostile file.

use super::schema::tflite as fb;
use super::Invalid;
use planus::ReadAsRoot;

/// Where a TFLite file carries its identifier, after the root offset.
const IDENTIFIER: &[u8; 4] = b"TFL3";

pub const FULLY_CONNECTED: i32 = 9;
pub const DENSIFY: i32 = 124;
pub const DEQUANTIZE: i32 = 6;
/// `TensorType` of schema.fbs.
pub const FLOAT32: i8 = 0;

#[derive(Debug)]
pub struct Model<'a> {
    pub codes: Vec<OpCode>,
    pub subgraphs: Vec<Subgraph>,
    pub buffers: Vec<Buffer<'a>>,
}

#[derive(Debug)]
pub struct OpCode {
    /// The larger of `deprecated_builtin_code` and `builtin_code`, as TFLite
    /// reads it (schema.fbs: builtin codes above 127 live only in the second).
    pub builtin: i32,
}

#[derive(Debug)]
pub struct Subgraph {
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
    pub outputs: Vec<i32>,
}

#[derive(Debug)]
pub struct Tensor {
    pub name: String,
    pub dtype: i8,
    pub shape: Vec<i32>,
    pub shape_signature: Option<Vec<i32>>,
    pub has_rank: bool,
    pub buffer: u32,
    pub is_variable: bool,
    /// Any of min, max, scale or zero_point given.
    pub quantized: bool,
    pub variants: bool,
    pub sparsity: Option<Sparsity>,
}

/// A sparse tensor's format, in the one shape tf-strip takes as it is:
/// traversal order [0, 1], no block map, a dense dimension then a CSR one.
/// Anything else is kept as `Other`, with what makes it different.
#[derive(Debug)]
pub enum Sparsity {
    Csr { rows: i32, segments: Vec<u32>, indices: Vec<u32> },
    Other(OtherSparsity),
}

/// How a sparse format differs from the one tf-strip takes.
#[derive(Debug, thiserror::Error)]
pub enum OtherSparsity {
    #[error("traversal order {order:?}, block map {block_map:?}, {dims} dimensions")]
    Layout { order: Vec<i32>, block_map: Vec<i32>, dims: usize },
    #[error("not a dense dimension then a CSR one")]
    DimensionTypes,
}

#[derive(Debug)]
pub struct Operator {
    pub opcode: u32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
}

#[derive(Debug, Clone, Copy)]
pub enum Buffer<'a> {
    Inline(&'a [u8]),
    /// Stored after the flatbuffer (models over 2 GB); its place was checked
    /// to lie inside the file.
    External { size: u64 },
}

impl<'a> Buffer<'a> {
    pub fn is_empty(&self) -> bool {
        match self {
            Buffer::Inline(d) => d.is_empty(),
            Buffer::External { size, .. } => *size == 0,
        }
    }
}

impl<'a> Model<'a> {
    pub fn read(bytes: &'a [u8]) -> Result<Model<'a>, Invalid> {
        if bytes.get(4..8) != Some(IDENTIFIER) {
            return Err(Invalid("no TFL3 identifier after the root offset".into()));
        }
        let model = fb::ModelRef::read_as_root(bytes).map_err(malformed)?;
        let codes = tables(model.operator_codes().map_err(malformed)?, |c: fb::OperatorCodeRef<'a>| {
            let deprecated = c.deprecated_builtin_code().map_err(malformed)?;
            Ok(OpCode { builtin: c.builtin_code().map_err(malformed)?.max(deprecated as i32) })
        })?;
        let buffers = tables(model.buffers().map_err(malformed)?, |b: fb::BufferRef<'a>| {
            let (offset, size) = (b.offset().map_err(malformed)?, b.size().map_err(malformed)?);
            Ok(match b.data().map_err(malformed)? {
                Some(data) if !data.is_empty() => Buffer::Inline(data),
                _ if offset > 1 => {
                    // schema.fbs: offset 1 marks "no data" for models with external buffers.
                    let end = offset.checked_add(size).filter(|&e| e <= bytes.len() as u64);
                    if end.is_none() {
                        return Err(Invalid(format!("a buffer at offset {offset} with {size} bytes lies past the end of the file ({} bytes)", bytes.len())));
                    }
                    Buffer::External { size }
                }
                _ => Buffer::Inline(&[]),
            })
        })?;
        let subgraphs = tables(model.subgraphs().map_err(malformed)?, read_subgraph)?;
        let model = Model { codes, subgraphs, buffers };
        model.check_indices()?;
        Ok(model)
    }

    /// The builtin operator of `op`, checked in range by `read`.
    pub fn builtin(&self, op: &Operator) -> i32 {
        self.codes.get(op.opcode as usize).map_or(-1, |c| c.builtin)
    }

    fn check_indices(&self) -> Result<(), Invalid> {
        for (s, sg) in self.subgraphs.iter().enumerate() {
            for (i, op) in sg.operators.iter().enumerate() {
                if op.opcode as usize >= self.codes.len() {
                    return Err(Invalid(format!("subgraph {s} operator {i}: opcode index {} of {} operator codes", op.opcode, self.codes.len())));
                }
                for &t in op.inputs.iter().chain(&op.outputs) {
                    if t < -1 || t >= sg.tensors.len() as i32 {
                        return Err(Invalid(format!("subgraph {s} operator {i}: tensor index {t} of {} tensors", sg.tensors.len())));
                    }
                }
            }
            if let Some(&t) = sg.outputs.iter().find(|&&t| t < 0 || t >= sg.tensors.len() as i32) {
                return Err(Invalid(format!("subgraph {s}: output tensor index {t} of {} tensors", sg.tensors.len())));
            }
            for t in &sg.tensors {
                self.check_tensor_data(t).map_err(|why| Invalid(format!("subgraph {s} tensor `{}`: {why}", t.name)))?;
            }
        }
        Ok(())
    }

    fn check_tensor_data(&self, t: &Tensor) -> Result<(), String> {
        let Some(buffer) = self.buffers.get(t.buffer as usize) else {
            return Err(format!("buffer index {} of {} buffers", t.buffer, self.buffers.len()));
        };
        let stored = match buffer {
            Buffer::Inline(d) => d.len() as u64,
            Buffer::External { size, .. } => *size,
        };
        if stored == 0 || t.sparsity.is_some() {
            return Ok(());
        }
        let Some(width) = element_bytes(t.dtype) else { return Ok(()) };
        let elements = t.shape.iter().try_fold(1u64, |n, &d| u64::try_from(d).ok().and_then(|d| n.checked_mul(d)));
        match elements.and_then(|n| n.checked_mul(width)) {
            Some(want) if want == stored => Ok(()),
            Some(want) => Err(format!("shape {:?} needs {want} bytes, its buffer holds {stored}", t.shape)),
            None => Err(format!("constant of shape {:?}, which has no size", t.shape)),
        }
    }
}

/// Operator `op` of subgraph `s` as an owned table, to build again.
pub fn owned_operator(bytes: &[u8], s: usize, op: usize) -> Result<fb::Operator, Invalid> {
    let model = fb::ModelRef::read_as_root(bytes).map_err(malformed)?;
    let subgraph = model.subgraphs().map_err(malformed)?.and_then(|v| v.get(s)).ok_or_else(|| Invalid(format!("no subgraph {s}")))?;
    let operators = subgraph.map_err(malformed)?.operators().map_err(malformed)?;
    let operator = operators.and_then(|v| v.get(op)).ok_or_else(|| Invalid(format!("no operator {op}")))?;
    fb::Operator::try_from(operator.map_err(malformed)?).map_err(malformed)
}

/// Every operator code as an owned table, to build again.
pub fn owned_codes(bytes: &[u8]) -> Result<Vec<fb::OperatorCode>, Invalid> {
    let model = fb::ModelRef::read_as_root(bytes).map_err(malformed)?;
    tables(model.operator_codes().map_err(malformed)?, |c| fb::OperatorCode::try_from(c).map_err(malformed))
}

/// Bytes per element of the fixed-width `TensorType`s (schema.fbs values).
fn element_bytes(dtype: i8) -> Option<u64> {
    match dtype {
        // FLOAT32, INT32, UINT32
        0 | 2 | 15 => Some(4),
        // FLOAT16, INT16, UINT16
        1 | 7 | 16 => Some(2),
        // UINT8, BOOL, INT8
        3 | 6 | 9 => Some(1),
        // INT64, COMPLEX64, FLOAT64, UINT64
        4 | 8 | 10 | 12 => Some(8),
        _ => None,
    }
}

fn read_subgraph(s: fb::SubGraphRef<'_>) -> Result<Subgraph, Invalid> {
    Ok(Subgraph {
        tensors: tables(s.tensors().map_err(malformed)?, read_tensor)?,
        operators: tables(s.operators().map_err(malformed)?, |o: fb::OperatorRef<'_>| {
            Ok(Operator {
                opcode: o.opcode_index().map_err(malformed)?,
                inputs: ints(o.inputs().map_err(malformed)?)?,
                outputs: ints(o.outputs().map_err(malformed)?)?,
            })
        })?,
        outputs: ints(s.outputs().map_err(malformed)?)?,
    })
}

fn read_tensor(t: fb::TensorRef<'_>) -> Result<Tensor, Invalid> {
    let quantized = match t.quantization().map_err(malformed)? {
        None => false,
        Some(q) => {
            let floats = [q.min(), q.max(), q.scale()].into_iter().map(|v| v.map_err(malformed).map(|v| v.is_some_and(|v| !v.is_empty())));
            let zero_point = q.zero_point().map_err(malformed)?.is_some_and(|v| !v.is_empty());
            floats.collect::<Result<Vec<bool>, _>>()?.into_iter().any(|b| b) || zero_point
        }
    };
    Ok(Tensor {
        name: t.name().map_err(malformed)?.unwrap_or_default().to_string(),
        dtype: t.type_().map_err(malformed)?,
        shape: ints(t.shape().map_err(malformed)?)?,
        shape_signature: t.shape_signature().map_err(malformed)?.map(|v| ints(Some(v))).transpose()?,
        has_rank: t.has_rank().map_err(malformed)?,
        buffer: t.buffer().map_err(malformed)?,
        is_variable: t.is_variable().map_err(malformed)?,
        quantized,
        variants: t.variant_tensors().map_err(malformed)?.is_some_and(|v| !v.is_empty()),
        sparsity: t.sparsity().map_err(malformed)?.map(read_sparsity).transpose()?,
    })
}

fn read_sparsity(s: fb::SparsityParametersRef<'_>) -> Result<Sparsity, Invalid> {
    let order = ints(s.traversal_order().map_err(malformed)?)?;
    let block_map = ints(s.block_map().map_err(malformed)?)?;
    let dims = tables(s.dim_metadata().map_err(malformed)?, Ok)?;
    if order != [0, 1] || !block_map.is_empty() || dims.len() != 2 {
        return Ok(Sparsity::Other(OtherSparsity::Layout { order, block_map, dims: dims.len() }));
    }
    let (dense, csr) = (&dims[0], &dims[1]);
    if dense.format().map_err(malformed)? != fb::DimensionType::Dense || csr.format().map_err(malformed)? != fb::DimensionType::SparseCsr {
        return Ok(Sparsity::Other(OtherSparsity::DimensionTypes));
    }
    let (Some(segments), Some(indices)) = (csr.array_segments().map_err(malformed)?, csr.array_indices().map_err(malformed)?) else {
        return Err(Invalid("a CSR dimension without its segments or indices".into()));
    };
    Ok(Sparsity::Csr { rows: dense.dense_size().map_err(malformed)?, segments: index_vector(segments)?, indices: index_vector(indices)? })
}

fn index_vector(v: fb::SparseIndexVectorRef<'_>) -> Result<Vec<u32>, Invalid> {
    let values = match v {
        fb::SparseIndexVectorRef::Int32Vector(v) => ints(v.values().map_err(malformed)?)?,
        fb::SparseIndexVectorRef::Uint16Vector(v) => list(v.values().map_err(malformed)?, |x: u16| Ok(x as i32))?,
        fb::SparseIndexVectorRef::Uint8Vector(v) => v.values().map_err(malformed)?.unwrap_or_default().iter().map(|&x| x as i32).collect(),
    };
    values.into_iter().map(|x| u32::try_from(x).map_err(|_| Invalid(format!("a negative sparse index {x}")))).collect()
}

fn ints(v: Option<planus::Vector<'_, i32>>) -> Result<Vec<i32>, Invalid> {
    list(v, Ok)
}

/// Every element of an optional vector, each read with `read`.
fn list<'a, T: planus::VectorRead<'a>, O>(
    v: Option<planus::Vector<'a, T>>,
    read: impl FnMut(T) -> Result<O, Invalid>,
) -> Result<Vec<O>, Invalid> {
    let Some(v) = v else { return Ok(Vec::new()) };
    v.iter().map(read).collect()
}

/// Every table of an optional vector of tables, each read with `read`.
fn tables<'a, T, O>(
    v: Option<planus::Vector<'a, planus::Result<T>>>,
    mut read: impl FnMut(T) -> Result<O, Invalid>,
) -> Result<Vec<O>, Invalid>
where
    planus::Result<T>: planus::VectorRead<'a>,
{
    list(v, |t| read(t.map_err(malformed)?))
}

fn malformed(e: planus::Error) -> Invalid {
    Invalid(e.to_string())
}
