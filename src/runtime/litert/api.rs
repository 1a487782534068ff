//! LiteRT's C API as libLiteRt.so exports it, declared here because the
//! wheel ships no headers: signatures and values from google-ai-edge/LiteRT's
//! `litert/c/litert_{common,environment,model,model_types,layout,options,
//! opaque_options,compiled_model,tensor_buffer,tensor_buffer_types}.h` (the
//! 2.3 API; unchanged there since v2.2.0). The library is opened with
//! libloading, the loader the tensorflow crate's runtime linking uses, and
//! never closed: the function pointers below live as long as the process.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

/// `LiteRtStatus`; 0 is `kLiteRtStatusOk`.
pub type Status = c_int;
pub type ParamIndex = usize;

/// The opaque handles (`LITERT_DEFINE_HANDLE`).
pub type Environment = *mut c_void;
pub type Model = *mut c_void;
pub type Signature = *mut c_void;
pub type Tensor = *mut c_void;
pub type Options = *mut c_void;
pub type OpaqueOptions = *mut c_void;
pub type CompiledModel = *mut c_void;
pub type TensorBuffer = *mut c_void;

/// `kLiteRtHwAcceleratorCpu`.
pub const HW_ACCELERATOR_CPU: c_int = 1;
/// `kLiteRtRankedTensorType` of `LiteRtTensorTypeId`.
pub const RANKED_TENSOR_TYPE: c_int = 0;
/// `kLiteRtTensorBufferTypeHostMemory`.
pub const BUFFER_TYPE_HOST_MEMORY: c_int = 1;
/// `LiteRtTensorBufferLockMode`.
pub const LOCK_READ: c_int = 0;
pub const LOCK_WRITE: c_int = 1;
/// `LITERT_TENSOR_MAX_RANK`.
pub const MAX_RANK: usize = 8;
/// The CPU (XNNPACK) accelerator's opaque-options identifier
/// (`LrtGetCpuOptionsIdentifier`); its payload is TOML text such as
/// `num_threads = 1` (litert/c/options/litert_cpu_options.cc). The `Lrt*`
/// helpers that write it are not exported by libLiteRt.so.
pub const CPU_OPTIONS_IDENTIFIER: &std::ffi::CStr = c"xnnpack";

/// `LiteRtEnvOption` (litert_environment_options.h: 24 bytes, the value at 8).
#[repr(C)]
pub struct EnvOption {
    pub tag: c_int,
    pub value: IntAny,
}

/// A `LiteRtAny` (litert_any.h: its type, then an 8-byte union) holding an integer.
#[repr(C)]
pub struct IntAny {
    pub any_type: c_int,
    pub int_value: i64,
}

impl EnvOption {
    pub fn int(tag: c_int, value: i64) -> Self {
        EnvOption { tag, value: IntAny { any_type: ANY_TYPE_INT, int_value: value } }
    }
}

/// `kLiteRtEnvOptionTagAutoRegisterAccelerators`: a `LiteRtHwAccelerators`
/// bitmask; CPU alone spares probing for GPU and NPU libraries.
pub const ENV_AUTO_REGISTER_ACCELERATORS: c_int = 24;
/// `kLiteRtEnvOptionTagMinLoggerSeverity`: a `LiteRtLogSeverity`
/// (0 verbose, 1 info, 2 warning, 3 error, 4 silent).
pub const ENV_MIN_LOGGER_SEVERITY: c_int = 25;
/// `kLiteRtAnyTypeInt`.
pub const ANY_TYPE_INT: c_int = 2;

/// `LiteRtLayout`: `unsigned rank : 7; unsigned has_strides : 1;` share the
/// first 32-bit word (68 bytes in all, as the header asserts).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    pub rank_and_strides: u32,
    pub dimensions: [i32; MAX_RANK],
    pub strides: [u32; MAX_RANK],
}

impl Layout {
    pub fn rank(&self) -> usize {
        (self.rank_and_strides & 0x7f) as usize
    }

    pub fn dims(&self) -> &[i32] {
        &self.dimensions[..self.rank().min(MAX_RANK)]
    }
}

/// `LiteRtRankedTensorType` (72 bytes): a `LiteRtElementType`, then the layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RankedTensorType {
    pub element_type: c_int,
    pub layout: Layout,
}

/// A `LiteRtStatus` as its header names it.
pub fn status_name(status: Status) -> &'static str {
    match status {
        1 => "invalid argument",
        2 => "memory allocation failure",
        3 => "runtime failure",
        4 => "missing input tensor",
        5 => "unsupported",
        6 => "not found",
        7 => "timeout expired",
        8 => "wrong version",
        10 => "already exists",
        100 => "cancelled",
        500 => "file I/O error",
        501 => "invalid flatbuffer",
        502 => "dynamic loading error",
        503 => "serialization error",
        504 => "compilation error",
        1000 => "index out of bounds",
        1001 => "invalid IR type",
        1002 => "invalid graph invariant",
        5001 => "shape inference failed",
        _ => "unknown error",
    }
}

macro_rules! api {
    ($($field:ident = $symbol:literal: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The functions tf-strip calls, resolved once.
        pub struct Api {
            $(pub $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Api {
            /// Opens `path` and resolves every function; a missing one is
            /// named (a libLiteRt.so of another API version).
            pub fn open(path: &Path) -> Result<Api, String> {
                // SAFETY: loading a shared library runs its initialisers;
                // libLiteRt.so depends on libc and libstdc++ only.
                let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
                // SAFETY: each symbol is declared with the signature of its
                // header (module comment); the library is leaked below, so
                // the pointers never dangle.
                let api = unsafe {
                    Api {
                        $($field: *lib
                            .get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(concat!($symbol, "\0").as_bytes())
                            .map_err(|e| format!("{}: {e}", $symbol))?,)*
                    }
                };
                std::mem::forget(lib);
                Ok(api)
            }
        }
    };
}

api! {
    create_environment = "LiteRtCreateEnvironment": fn(c_int, *const EnvOption, *mut Environment) -> Status;
    destroy_environment = "LiteRtDestroyEnvironment": fn(Environment);
    create_model_from_file = "LiteRtCreateModelFromFile": fn(Environment, *const c_char, *mut Model) -> Status;
    destroy_model = "LiteRtDestroyModel": fn(Model);
    get_num_model_signatures = "LiteRtGetNumModelSignatures": fn(Model, *mut ParamIndex) -> Status;
    get_model_signature = "LiteRtGetModelSignature": fn(Model, ParamIndex, *mut Signature) -> Status;
    get_num_signature_inputs = "LiteRtGetNumSignatureInputs": fn(Signature, *mut ParamIndex) -> Status;
    get_signature_input_name = "LiteRtGetSignatureInputName": fn(Signature, ParamIndex, *mut *const c_char) -> Status;
    get_signature_input_tensor = "LiteRtGetSignatureInputTensorByIndex": fn(Signature, ParamIndex, *mut Tensor) -> Status;
    get_num_signature_outputs = "LiteRtGetNumSignatureOutputs": fn(Signature, *mut ParamIndex) -> Status;
    get_signature_output_name = "LiteRtGetSignatureOutputName": fn(Signature, ParamIndex, *mut *const c_char) -> Status;
    get_signature_output_tensor = "LiteRtGetSignatureOutputTensorByIndex": fn(Signature, ParamIndex, *mut Tensor) -> Status;
    get_tensor_type_id = "LiteRtGetTensorTypeId": fn(Tensor, *mut c_int) -> Status;
    get_ranked_tensor_type = "LiteRtGetRankedTensorType": fn(Tensor, *mut RankedTensorType) -> Status;
    create_options = "LiteRtCreateOptions": fn(*mut Options) -> Status;
    destroy_options = "LiteRtDestroyOptions": fn(Options);
    set_options_hardware_accelerators = "LiteRtSetOptionsHardwareAccelerators": fn(Options, c_int) -> Status;
    create_opaque_options = "LiteRtCreateOpaqueOptions": fn(*const c_char, *mut c_void, unsafe extern "C" fn(*mut c_void), *mut OpaqueOptions) -> Status;
    destroy_opaque_options = "LiteRtDestroyOpaqueOptions": fn(OpaqueOptions);
    add_opaque_options = "LiteRtAddOpaqueOptions": fn(Options, OpaqueOptions) -> Status;
    create_compiled_model = "LiteRtCreateCompiledModel": fn(Environment, Model, Options, *mut CompiledModel) -> Status;
    destroy_compiled_model = "LiteRtDestroyCompiledModel": fn(CompiledModel);
    resize_input_tensor = "LiteRtCompiledModelResizeInputTensorNonStrict": fn(CompiledModel, ParamIndex, ParamIndex, *const c_int, usize) -> Status;
    get_output_tensor_layouts = "LiteRtGetCompiledModelOutputTensorLayouts": fn(CompiledModel, ParamIndex, usize, *mut Layout, bool) -> Status;
    create_managed_tensor_buffer = "LiteRtCreateManagedTensorBuffer": fn(Environment, c_int, *const RankedTensorType, usize, *mut TensorBuffer) -> Status;
    destroy_tensor_buffer = "LiteRtDestroyTensorBuffer": fn(TensorBuffer);
    lock_tensor_buffer = "LiteRtLockTensorBuffer": fn(TensorBuffer, *mut *mut c_void, c_int) -> Status;
    unlock_tensor_buffer = "LiteRtUnlockTensorBuffer": fn(TensorBuffer) -> Status;
    run_compiled_model = "LiteRtRunCompiledModel": fn(CompiledModel, ParamIndex, usize, *mut TensorBuffer, usize, *mut TensorBuffer) -> Status;
}
