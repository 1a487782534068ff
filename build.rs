//! Build script: compiles the TensorFlow `.proto` files under `proto/` into
//! Rust with prost, in pure Rust (protox is used instead of `protoc`).
//!
//! Outputs in `OUT_DIR`:
//! * `tensorflow.rs`               – prost messages for package `tensorflow`,
//!   each deriving `prost_reflect::ReflectMessage`;
//! * `file_descriptor_set.bin`     – the encoded `FileDescriptorSet` (with
//!   imports and source info), embedded by `src/proto.rs` into the runtime
//!   `DescriptorPool` used for text-format parsing/printing;
//! * `tflite_schema.rs`            – planus readers and builders for
//!   `schema/tflite.fbs`, tf-strip's subset of TFLite's model format
//!   (unformatted: formatting would need a `rustfmt` at build time).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const PROTO_ROOT: &str = "proto";
const TFLITE_SCHEMA: &str = "schema/tflite.fbs";

/// Collects every `.proto` file below `dir`, as paths relative to `root`
/// (forward slashes, as protobuf import paths use), sorted for determinism.
fn collect_protos(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("build.rs: cannot read directory {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry
            .unwrap_or_else(|e| panic!("build.rs: cannot list directory {}: {e}", dir.display()));
        let path = entry.path();
        if path.is_dir() {
            collect_protos(root, &path, out);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            let rel = path
                .strip_prefix(root)
                .expect("build.rs: proto file outside of the proto root");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(rel);
        }
    }
}

/// Generates the Rust of `schema/tflite.fbs` into `out_dir`.
fn compile_tflite_schema(manifest_dir: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-changed={TFLITE_SCHEMA}");
    let schema = manifest_dir.join(TFLITE_SCHEMA);
    let declarations = planus_translation::translate_files(&[&schema])
        .unwrap_or_else(|| panic!("build.rs: {} does not compile (planus printed why above)", schema.display()));
    let code = planus_codegen::generate_rust(&declarations, false)
        .unwrap_or_else(|e| panic!("build.rs: planus code generation for {} failed: {e}", schema.display()));
    let path = out_dir.join("tflite_schema.rs");
    fs::write(&path, code).unwrap_or_else(|e| panic!("build.rs: cannot write {}: {e}", path.display()));
}

fn main() {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build.rs");

    let manifest_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").expect("build.rs: CARGO_MANIFEST_DIR is not set"),
    );
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("build.rs: OUT_DIR is not set"));
    let proto_root = manifest_dir.join(PROTO_ROOT);
    compile_tflite_schema(&manifest_dir, &out_dir);

    let mut protos = Vec::new();
    collect_protos(&proto_root, &proto_root, &mut protos);
    protos.sort();
    assert!(
        !protos.is_empty(),
        "build.rs: no .proto files found under {}",
        proto_root.display()
    );

    // 1. Parse and type-check the protos in pure Rust. Imports (including the
    //    google/protobuf well-known types bundled with protox) are included so
    //    the descriptor set is self-contained at runtime.
    let descriptor_bytes = protox::Compiler::new([&proto_root])
        .unwrap_or_else(|e| panic!("build.rs: cannot set up protox include path: {e}"))
        .include_imports(true)
        .include_source_info(true)
        .open_files(&protos)
        .unwrap_or_else(|e| panic!("build.rs: failed to compile .proto files with protox:\n{e:?}"))
        .encode_file_descriptor_set();

    let descriptor_path = out_dir.join("file_descriptor_set.bin");
    fs::write(&descriptor_path, &descriptor_bytes).unwrap_or_else(|e| {
        panic!(
            "build.rs: cannot write descriptor set to {}: {e}",
            descriptor_path.display()
        )
    });

    // 2. Generate Rust code with prost-build from that descriptor set
    //    (skip_protoc_run makes prost-build read the file instead of running
    //    protoc), and let prost-reflect-build add `ReflectMessage` derives.
    let mut config = prost_build::Config::new();
    config
        .skip_protoc_run()
        // Deterministic (sorted) map fields.
        .btree_map(["."])
        // `bytes::Bytes` for every bytes field (zero-copy tensor_content).
        .bytes(["."])
        // Well-known types come from prost-reflect's re-export, so the crate
        // does not need a direct prost-types dependency.
        .prost_types_path("::prost_reflect::prost_types");

    prost_reflect_build::Builder::new()
        .file_descriptor_set_path(&descriptor_path)
        .descriptor_pool("crate::proto::DESCRIPTOR_POOL")
        .compile_protos_with_config(config, &protos, &[&proto_root])
        .unwrap_or_else(|e| panic!("build.rs: prost code generation failed: {e}"));
}
