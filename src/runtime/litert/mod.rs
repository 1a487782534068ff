//! LiteRT (TFLite's runtime), loaded at run time from the `ai-edge-litert`
//! wheel's libLiteRt.so (`find.rs`), so that `verify` and `bench` run
//! `.tflite` models beside TensorFlow's, on the CPU, through LiteRT's C API
//! (`api.rs`): a model compiled for the CPU accelerator, its signature's
//! inputs and outputs in managed host-memory buffers.

mod api;
mod find;

pub use find::LoadError;

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::sync::OnceLock;

use bytes::Bytes;

use api::{Api, Layout, RankedTensorType, Status};
use crate::proto::tensorflow::DataType;
use crate::tensor::{Tensor, TensorData};

#[derive(Debug, thiserror::Error)]
pub enum LiteRtError {
    #[error("cannot load LiteRT: {0}")]
    Load(#[source] &'static LoadError),
    #[error("LiteRT: {call} failed: {} (status {status})", api::status_name(*status))]
    Call { call: &'static str, status: Status },
    #[error("LiteRT: {0} returned no handle")]
    Null(&'static str),
    #[error("LiteRT finds no signature to run in the model")]
    NoSignature,
    #[error("the model was opened for its signature only, not compiled to run")]
    NotCompiled,
    #[error("{what} `{name}` has no static rank, which tf-strip cannot feed")]
    Unranked { what: &'static str, name: String },
    #[error("{what} `{name}` is of LiteRT element type {element_type}, which tf-strip cannot pass to or from LiteRT")]
    Unsupported { what: &'static str, name: String, element_type: i32 },
    #[error("input `{name}` is fed {given}, but the model takes {want}")]
    FeedType { name: String, given: &'static str, want: &'static str },
    #[error("the model takes {want} inputs, {given} were fed")]
    FeedCount { want: usize, given: usize },
    #[error("a dimension of {what} `{name}` is too large for LiteRT's 32-bit sizes or unknown after resizing")]
    Dimension { what: &'static str, name: String },
    #[error("the path is not one LiteRT can open (it holds a NUL byte)")]
    Path,
    #[error(transparent)]
    Tensor(#[from] crate::tensor::TensorError),
}

pub type Result<T, E = LiteRtError> = std::result::Result<T, E>;

/// Opens libLiteRt.so once per process; `python` is the interpreter whose
/// pip-installed `ai-edge-litert` is used when `LITERT_DIR` is not set (the
/// first call decides).
pub fn load_with(python: Option<&Path>) -> Result<&'static Api> {
    static LOADED: OnceLock<std::result::Result<Api, LoadError>> = OnceLock::new();
    LOADED.get_or_init(|| find::load(python)).as_ref().map_err(LiteRtError::Load)
}

fn check(call: &'static str, status: Status) -> Result<()> {
    if status == 0 { Ok(()) } else { Err(LiteRtError::Call { call, status }) }
}

/// Calls `f` with an out-pointer for a handle and returns the handle, checked
/// for a status of ok and a non-null value.
fn create(call: &'static str, f: impl FnOnce(*mut *mut c_void) -> Status) -> Result<*mut c_void> {
    let mut handle = std::ptr::null_mut();
    check(call, f(&mut handle))?;
    if handle.is_null() { Err(LiteRtError::Null(call)) } else { Ok(handle) }
}

/// A signature input or output: its name, dtype and static shape.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DataType,
    /// Negative where a dimension is dynamic.
    pub shape: Vec<i64>,
}

/// `LiteRtElementType` values (litert_model_types.h) of the dtypes tf-strip feeds and fetches.
fn dtype_of(element_type: i32) -> Option<DataType> {
    Some(match element_type {
        1 => DataType::DtFloat,
        11 => DataType::DtDouble,
        2 => DataType::DtInt32,
        4 => DataType::DtInt64,
        3 => DataType::DtUint8,
        9 => DataType::DtInt8,
        _ => return None,
    })
}

fn element_type_of(dtype: DataType) -> i32 {
    match dtype {
        DataType::DtFloat => 1,
        DataType::DtDouble => 11,
        DataType::DtInt32 => 2,
        DataType::DtInt64 => 4,
        DataType::DtUint8 => 3,
        // DtInt8, the last dtype `dtype_of` gives.
        _ => 9,
    }
}

/// A `.tflite` model compiled for LiteRT's CPU accelerator.
pub struct Model {
    api: &'static Api,
    env: api::Environment,
    model: api::Model,
    options: api::Options,
    compiled: api::CompiledModel,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    /// Buffers for the input shapes of the last run, reused while they stay.
    bound: RefCell<Option<Bound>>,
}

struct Bound {
    shapes: Vec<Vec<u64>>,
    inputs: Vec<Buffer>,
    outputs: Vec<(Buffer, Vec<u64>)>,
}

/// A managed host-memory tensor buffer, destroyed with it.
struct Buffer {
    api: &'static Api,
    handle: api::TensorBuffer,
    bytes: usize,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: a handle LiteRtCreateManagedTensorBuffer returned, destroyed once.
        unsafe { (self.api.destroy_tensor_buffer)(self.handle) }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        self.bound.get_mut().take();
        // SAFETY: each handle was created by its LiteRtCreate* call (or is
        // null, never created), destroyed once, users before what they use.
        unsafe {
            if !self.compiled.is_null() {
                (self.api.destroy_compiled_model)(self.compiled);
            }
            if !self.options.is_null() {
                (self.api.destroy_options)(self.options);
            }
            if !self.model.is_null() {
                (self.api.destroy_model)(self.model);
            }
            if !self.env.is_null() {
                (self.api.destroy_environment)(self.env);
            }
        }
    }
}

/// The TOML payload of the CPU options, freed by LiteRT through `free_payload`.
unsafe extern "C" fn free_payload(payload: *mut c_void) {
    // SAFETY: `payload` is the CString::into_raw of `Model::load`, given back once.
    drop(unsafe { CString::from_raw(payload.cast::<c_char>()) });
}

impl Model {
    /// Loads and compiles `path` for the CPU; `threads` sets XNNPACK's
    /// thread count (`None`: LiteRT's default). What `bench` times as load.
    pub fn load(path: &Path, threads: Option<u32>, python: Option<&Path>) -> Result<Model> {
        let mut m = Model::open(path, python)?;
        let api = m.api;
        // SAFETY (every call below): the signatures of api.rs, handles
        // created above them and owned by `m`, out-pointers to live locals.
        unsafe {
            m.options = create("LiteRtCreateOptions", |h| (api.create_options)(h))?;
            check(
                "LiteRtSetOptionsHardwareAccelerators",
                (api.set_options_hardware_accelerators)(m.options, api::HW_ACCELERATOR_CPU),
            )?;
            if let Some(n) = threads {
                let payload = CString::new(format!("num_threads = {n}\n")).map_err(|_| LiteRtError::Path)?.into_raw();
                let opaque = create("LiteRtCreateOpaqueOptions", |h| {
                    (api.create_opaque_options)(api::CPU_OPTIONS_IDENTIFIER.as_ptr(), payload.cast(), free_payload, h)
                });
                let opaque = match opaque {
                    Ok(o) => o,
                    Err(e) => {
                        free_payload(payload.cast());
                        return Err(e);
                    }
                };
                if let Err(e) = check("LiteRtAddOpaqueOptions", (api.add_opaque_options)(m.options, opaque)) {
                    (api.destroy_opaque_options)(opaque);
                    return Err(e);
                }
            }
            m.compiled = create("LiteRtCreateCompiledModel", |h| (api.create_compiled_model)(m.env, m.model, m.options, h))?;
        }
        Ok(m)
    }

    /// Loads `path` and reads its signature, without compiling it (a model
    /// `run` needs `load`): what `verify` and `bench` pair with the other
    /// models before any is run.
    pub fn open(path: &Path, python: Option<&Path>) -> Result<Model> {
        let api = load_with(python)?;
        let file = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| LiteRtError::Path)?;
        let mut m = Model {
            api,
            env: std::ptr::null_mut(),
            model: std::ptr::null_mut(),
            options: std::ptr::null_mut(),
            compiled: std::ptr::null_mut(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            bound: RefCell::new(None),
        };
        // SAFETY (every call below): the signatures of api.rs, handles
        // created above them and owned by `m`, out-pointers to live locals.
        unsafe {
            let options = [
                api::EnvOption::int(api::ENV_AUTO_REGISTER_ACCELERATORS, api::HW_ACCELERATOR_CPU.into()),
                api::EnvOption::int(api::ENV_MIN_LOGGER_SEVERITY, log_severity()),
            ];
            m.env = create("LiteRtCreateEnvironment", |h| (api.create_environment)(options.len() as i32, options.as_ptr(), h))?;
            m.model = create("LiteRtCreateModelFromFile", |h| (api.create_model_from_file)(m.env, file.as_ptr(), h))?;
            let mut count = 0;
            check("LiteRtGetNumModelSignatures", (api.get_num_model_signatures)(m.model, &mut count))?;
            if count == 0 {
                return Err(LiteRtError::NoSignature);
            }
            // Signature 0 is what runs: the model's first, or LiteRT's
            // default one over the main subgraph's inputs and outputs.
            let signature = create("LiteRtGetModelSignature", |h| (api.get_model_signature)(m.model, 0, h))?;
            m.inputs = signature_tensors(api, signature, "input")?;
            m.outputs = signature_tensors(api, signature, "output")?;
        }
        Ok(m)
    }

    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// Runs signature 0 on `feeds` (in input order); the outputs in output
    /// order. An input shape other than the model's resizes it (batch).
    pub fn run(&self, feeds: &[&Tensor]) -> Result<Vec<Tensor>> {
        if self.compiled.is_null() {
            return Err(LiteRtError::NotCompiled);
        }
        if feeds.len() != self.inputs.len() {
            return Err(LiteRtError::FeedCount { want: self.inputs.len(), given: feeds.len() });
        }
        for (spec, t) in self.inputs.iter().zip(feeds) {
            if spec.dtype != t.dtype {
                return Err(LiteRtError::FeedType { name: spec.name.clone(), given: t.dtype.name(), want: spec.dtype.name() });
            }
        }
        let shapes: Vec<Vec<u64>> = feeds.iter().map(|t| t.shape.clone()).collect();
        let mut bound = self.bound.borrow_mut();
        if bound.as_ref().is_none_or(|b| b.shapes != shapes) {
            let previous = bound.take().map(|b| b.shapes);
            *bound = Some(self.bind(shapes, previous)?);
        }
        let Some(b) = bound.as_ref() else { return Err(LiteRtError::NoSignature) };
        let api = self.api;
        // SAFETY: buffers of `bytes` bytes created by `bind` for these
        // shapes; a lock gives their host memory until the unlock.
        unsafe {
            for (buffer, t) in b.inputs.iter().zip(feeds) {
                let bytes = t.pod_bytes()?;
                let mut at = std::ptr::null_mut();
                check("LiteRtLockTensorBuffer", (api.lock_tensor_buffer)(buffer.handle, &mut at, api::LOCK_WRITE))?;
                if at.is_null() {
                    return Err(LiteRtError::Null("LiteRtLockTensorBuffer"));
                }
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), at.cast::<u8>(), bytes.len().min(buffer.bytes));
                check("LiteRtUnlockTensorBuffer", (api.unlock_tensor_buffer)(buffer.handle))?;
            }
            let mut ins: Vec<api::TensorBuffer> = b.inputs.iter().map(|x| x.handle).collect();
            let mut outs: Vec<api::TensorBuffer> = b.outputs.iter().map(|(x, _)| x.handle).collect();
            check(
                "LiteRtRunCompiledModel",
                (api.run_compiled_model)(self.compiled, 0, ins.len(), ins.as_mut_ptr(), outs.len(), outs.as_mut_ptr()),
            )?;
            b.outputs
                .iter()
                .zip(&self.outputs)
                .map(|((buffer, shape), spec)| {
                    let mut at = std::ptr::null_mut();
                    check("LiteRtLockTensorBuffer", (api.lock_tensor_buffer)(buffer.handle, &mut at, api::LOCK_READ))?;
                    if at.is_null() {
                        return Err(LiteRtError::Null("LiteRtLockTensorBuffer"));
                    }
                    let data = Bytes::copy_from_slice(std::slice::from_raw_parts(at.cast::<u8>(), buffer.bytes));
                    check("LiteRtUnlockTensorBuffer", (api.unlock_tensor_buffer)(buffer.handle))?;
                    Ok(Tensor { dtype: spec.dtype, shape: shape.clone(), data: TensorData::Pod(data) })
                })
                .collect()
        }
    }

    /// Resizes the inputs whose shape changed since `previous` (or differs
    /// from the model's), then makes buffers for these shapes.
    fn bind(&self, shapes: Vec<Vec<u64>>, previous: Option<Vec<Vec<u64>>>) -> Result<Bound> {
        let api = self.api;
        let mut inputs = Vec::with_capacity(shapes.len());
        for (i, (spec, shape)) in self.inputs.iter().zip(&shapes).enumerate() {
            let dims = i32_dims(shape).ok_or_else(|| LiteRtError::Dimension { what: "input", name: spec.name.clone() })?;
            let current: Vec<i64> = match &previous {
                Some(p) => p[i].iter().map(|&d| d as i64).collect(),
                None => spec.shape.clone(),
            };
            if current != dims.iter().map(|&d| d as i64).collect::<Vec<_>>() {
                // SAFETY: `dims` outlives the call, which copies it.
                check("LiteRtCompiledModelResizeInputTensorNonStrict", unsafe {
                    (api.resize_input_tensor)(self.compiled, 0, i, dims.as_ptr(), dims.len())
                })?;
            }
            inputs.push(self.buffer(spec, &dims, "input")?);
        }
        let mut layouts = vec![Layout::default(); self.outputs.len()];
        // SAFETY: room for one layout per output, as the call writes.
        check("LiteRtGetCompiledModelOutputTensorLayouts", unsafe {
            (api.get_output_tensor_layouts)(self.compiled, 0, layouts.len(), layouts.as_mut_ptr(), true)
        })?;
        let outputs = self
            .outputs
            .iter()
            .zip(&layouts)
            .map(|(spec, layout)| {
                let dims = layout.dims().to_vec();
                let shape: Option<Vec<u64>> = dims.iter().map(|&d| u64::try_from(d).ok()).collect();
                let shape = shape.ok_or_else(|| LiteRtError::Dimension { what: "output", name: spec.name.clone() })?;
                Ok((self.buffer(spec, &dims, "output")?, shape))
            })
            .collect::<Result<_>>()?;
        Ok(Bound { shapes, inputs, outputs })
    }

    fn buffer(&self, spec: &TensorSpec, dims: &[i32], what: &'static str) -> Result<Buffer> {
        let too_large = || LiteRtError::Dimension { what, name: spec.name.clone() };
        let mut layout = Layout { rank_and_strides: dims.len() as u32, ..Layout::default() };
        layout.dimensions.get_mut(..dims.len()).ok_or_else(too_large)?.copy_from_slice(dims);
        let elements = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
        let bytes = elements.and_then(|n| n.checked_mul(spec.dtype.byte_size().unwrap_or(1))).ok_or_else(too_large)?;
        let kind = RankedTensorType { element_type: element_type_of(spec.dtype), layout };
        // SAFETY: `kind` outlives the call; the buffer is owned by the Buffer returned.
        let handle = create("LiteRtCreateManagedTensorBuffer", |h| unsafe {
            // A zero-byte buffer is refused: an empty tensor still gets one element's room.
            (self.api.create_managed_tensor_buffer)(self.env, api::BUFFER_TYPE_HOST_MEMORY, &kind, bytes.max(1), h)
        })?;
        Ok(Buffer { api: self.api, handle, bytes })
    }
}

/// LiteRT's log severity for TensorFlow's `TF_CPP_MIN_LOG_LEVEL`, so one
/// variable quiets both: errors only unless it asks for more (as
/// `runtime::find` sets it when unset, for the same reason).
fn log_severity() -> i64 {
    match std::env::var("TF_CPP_MIN_LOG_LEVEL").as_deref() {
        Ok("0") => 1,
        Ok("1") => 2,
        _ => 3,
    }
}

fn i32_dims(shape: &[u64]) -> Option<Vec<i32>> {
    shape.iter().map(|&d| i32::try_from(d).ok()).collect()
}

/// The inputs or outputs of `signature`: names, dtypes and shapes.
///
/// # Safety
/// `signature` is a live handle of `api`.
unsafe fn signature_tensors(api: &Api, signature: api::Signature, what: &'static str) -> Result<Vec<TensorSpec>> {
    let inputs = what == "input";
    let mut count = 0;
    let (count_call, count_fn) = if inputs {
        ("LiteRtGetNumSignatureInputs", api.get_num_signature_inputs)
    } else {
        ("LiteRtGetNumSignatureOutputs", api.get_num_signature_outputs)
    };
    check(count_call, count_fn(signature, &mut count))?;
    (0..count)
        .map(|i| {
            let mut name: *const c_char = std::ptr::null();
            let (name_call, status) = if inputs {
                ("LiteRtGetSignatureInputName", (api.get_signature_input_name)(signature, i, &mut name))
            } else {
                ("LiteRtGetSignatureOutputName", (api.get_signature_output_name)(signature, i, &mut name))
            };
            check(name_call, status)?;
            if name.is_null() {
                return Err(LiteRtError::Null(name_call));
            }
            let name = CStr::from_ptr(name).to_string_lossy().into_owned();
            let tensor = if inputs {
                create("LiteRtGetSignatureInputTensorByIndex", |h| (api.get_signature_input_tensor)(signature, i, h))?
            } else {
                create("LiteRtGetSignatureOutputTensorByIndex", |h| (api.get_signature_output_tensor)(signature, i, h))?
            };
            let mut type_id = -1;
            check("LiteRtGetTensorTypeId", (api.get_tensor_type_id)(tensor, &mut type_id))?;
            if type_id != api::RANKED_TENSOR_TYPE {
                return Err(LiteRtError::Unranked { what, name });
            }
            let mut ranked = RankedTensorType::default();
            check("LiteRtGetRankedTensorType", (api.get_ranked_tensor_type)(tensor, &mut ranked))?;
            let dtype = dtype_of(ranked.element_type)
                .ok_or(LiteRtError::Unsupported { what, name: name.clone(), element_type: ranked.element_type })?;
            let shape = ranked.layout.dims().iter().map(|&d| d as i64).collect();
            Ok(TensorSpec { name, dtype, shape })
        })
        .collect()
}
