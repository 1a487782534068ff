//! A TFLite file: read, checked and rewritten by `accelerate` (every FC
//! weight stored sparse, so the rewrite runs on whatever the reader accepts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tf_strip::tflite::{accelerate, AccelerateOptions};

fuzz_target!(|bytes: &[u8]| {
    let _ = accelerate(bytes, &AccelerateOptions { min_sparsity: 0.0 });
});
