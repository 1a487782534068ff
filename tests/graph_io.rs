//! Every graph TensorFlow wrote parses and re-serializes without losing a
//! field (TensorFlow parses our bytes as an equal message), in binary and in
//! text format, and our own re-serialization is byte-stable.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use prost::Message;
use tf_strip::graph::{read_message, write_message, Format};
use tf_strip::proto::tensorflow::{GraphDef, MetaGraphDef};

fn graph_files() -> Vec<(PathBuf, &'static str)> {
    let mut files = Vec::new();
    for f in fixtures() {
        files.push((tf_strip::checkpoint::meta_path(&f.prefix), "meta"));
        if f.pruned && f.tf_stripped("graphs_round_trip") {
            files.push((f.expected("stripped.pb"), "graph"));
        }
    }
    files
}

fn round_trip<M: Message + prost_reflect::ReflectMessage + Default>(src: &Path, kind: &str, out: &Path) {
    let message: M = read_message(src).unwrap();
    let bytes = message.encode_to_vec();
    let again = M::decode(bytes.as_slice()).unwrap().encode_to_vec();
    assert_eq!(bytes, again, "{}: re-serialization is not byte-stable", src.display());

    for (name, format) in [("out.pb", Format::Binary), ("out.pbtxt", Format::Text)] {
        let path = out.join(name);
        write_message(&path, &message, format).unwrap();
        // Compared as bytes: constants may hold NaN, which is not equal to itself.
        let back = read_message::<M>(&path).unwrap().encode_to_vec();
        assert!(back == bytes, "{}: {name} reads back differently", src.display());
        let verdict = oracle(&["same-proto", kind, src.to_str().unwrap(), path.to_str().unwrap()]);
        assert_eq!(verdict["equal"], true, "{}: TensorFlow sees a difference in {name}:\n{}", src.display(), verdict["diff"]);
    }
}

#[test]
fn graphs_round_trip_through_binary_and_text_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (src, kind)) in graph_files().into_iter().enumerate() {
        let out = tmp.path().join(i.to_string());
        std::fs::create_dir_all(&out).unwrap();
        match kind {
            "meta" => round_trip::<MetaGraphDef>(&src, kind, &out),
            _ => round_trip::<GraphDef>(&src, kind, &out),
        }
    }
}
