//! Users' mistakes and damaged files: one clear line naming the file and the
//! problem, a non-zero exit, no panic, and nothing written.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tf_strip::checkpoint::{index_path, Checkpoint};

/// Runs a strip that must fail; returns its one-line message.
fn strip_fails(args: &[String], out_dir: &Path) -> String {
    let out = tf_strip().args(args).arg(format!("--output_dir={}", out_dir.display())).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "expected failure for {args:?}, got: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "more than one line: {stderr}");
    assert!(stderr.starts_with("tf-strip: error: "), "{stderr}");
    let left: Vec<PathBuf> = std::fs::read_dir(out_dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "a failed run left {left:?}");
    stderr
}

fn args(dir: &Path, outputs: &str) -> Vec<String> {
    vec![format!("--checkpoint_dir={}", dir.display()), format!("--output_node_names={outputs}")]
}

#[test]
fn users_mistakes_get_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let f = copy_fixture("mlp90", tmp.path());
    let good = f.outputs.join(",");

    let missing = tmp.path().join("no-such-dir");
    let msg = strip_fails(&args(&missing, &good), &out);
    assert!(msg.contains("no-such-dir") && msg.contains("neither a checkpoint directory"), "{msg}");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let msg = strip_fails(&args(&empty, &good), &out);
    assert!(msg.contains("empty") && msg.contains("no checkpoint has been saved"), "{msg}");

    let msg = strip_fails(&args(&f.dir, "output,no_such_node"), &out);
    assert!(msg.contains("no node named `no_such_node`") && msg.contains("nearest names"), "{msg}");

    let msg = strip_fails(&args(&f.dir, ""), &out);
    assert!(msg.contains("--output_node_names"), "{msg}");

    // The output may not replace an input.
    let meta = f.prefix.with_extension(format!("{}.meta", f.prefix.extension().unwrap().to_string_lossy()));
    let before = std::fs::read(&meta).unwrap();
    let mut a = args(&f.dir, &good);
    a.push(format!("--filename={}", meta.file_name().unwrap().to_string_lossy()));
    let out_same = tf_strip().args(&a).arg(format!("--output_dir={}", f.dir.display())).output().unwrap();
    assert_eq!(out_same.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out_same.stderr).contains("would overwrite an input"));
    assert_eq!(std::fs::read(&meta).unwrap(), before);

    // An output directory that cannot be created.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = tf_strip().args(args(&f.dir, &good)).arg(format!("--output_dir={}/sub", file.display())).output().unwrap();
    let msg = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(msg.contains("a-file/sub") && msg.lines().count() == 1, "{msg}");

    // A stale state file, then a missing .meta.
    std::fs::write(f.dir.join("checkpoint"), "model_checkpoint_path: \"model.ckpt-999\"\n").unwrap();
    let msg = strip_fails(&args(&f.dir, &good), &out);
    assert!(msg.contains("stale state file") && msg.contains("model.ckpt-999"), "{msg}");
    std::fs::remove_file(&meta).unwrap();
    let mut a = args(&f.dir, &good);
    a[0] = format!("--checkpoint={}", f.prefix.display());
    let msg = strip_fails(&a, &out);
    assert!(msg.contains(".meta") && msg.contains("--input_meta_graph"), "{msg}");
}

#[test]
fn an_absolute_state_path_from_another_machine_falls_back_to_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let f = copy_fixture("mlp90", tmp.path());
    let base = f.prefix.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(f.dir.join("checkpoint"), format!("model_checkpoint_path: \"/gone/train/{base}\"\n")).unwrap();
    let out = tf_strip().args(args(&f.dir, &f.outputs.join(","))).arg(format!("--output_dir={}", tmp.path().join("o").display())).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("/gone/train"), "{stderr}");
}

/// A LevelDB varint at `at`: (value, bytes taken).
fn varint(bytes: &[u8], at: usize) -> (usize, usize) {
    let (mut value, mut shift, mut i) = (0usize, 0, at);
    loop {
        let b = bytes[i];
        value |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (value, i - at);
        }
        shift += 7;
    }
}

#[test]
fn every_single_bit_flip_in_an_index_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let f = copy_fixture("convnet", tmp.path());
    let index = index_path(&f.prefix);
    let original = std::fs::read(&index).unwrap();
    // Every tensor's bytes, or None when the checkpoint is refused.
    let read_all = || {
        let ckpt = Checkpoint::open(&f.prefix).ok()?;
        let names: Vec<String> = ckpt.entries().map(|(name, _)| name.to_string()).collect();
        names.into_iter().map(|n| ckpt.tensor(&n).ok().map(|t| (n, canonical_bytes(&t)))).collect::<Option<Vec<_>>>()
    };
    let want = read_all().unwrap();

    // What TensorFlow never reads, so a flip there is harmless to it too: the
    // metaindex block (LevelDB's filters; TensorFlow's table reader skips it)
    // with its trailer, and the footer but for its magic, wherever the flip
    // leaves the index handle as it was (the metaindex handle, the padding, a
    // continuation bit making a varint non-minimal). Every other byte is
    // covered by a block CRC or checked in the footer.
    let footer = original.len() - 48;
    let handles = |bytes: &[u8]| {
        let (meta_offset, n1) = varint(bytes, footer);
        let (meta_size, n2) = varint(bytes, footer + n1);
        let (index_offset, n3) = varint(bytes, footer + n1 + n2);
        let (index_size, _) = varint(bytes, footer + n1 + n2 + n3);
        ((meta_offset, meta_size), (index_offset, index_size))
    };
    let ((meta_offset, meta_size), index_handle) = handles(&original);
    let unread = |at: usize| {
        let mut flipped = original.clone();
        flipped[at] ^= 1 << (at % 8);
        (meta_offset..meta_offset + meta_size + 5).contains(&at)
            || ((footer..original.len() - 8).contains(&at) && handles(&flipped).1 == index_handle)
    };

    let (mut rejected, mut harmless) = (0, 0);
    for at in 0..original.len() {
        let mut bytes = original.clone();
        bytes[at] ^= 1 << (at % 8);
        std::fs::write(&index, &bytes).unwrap();
        match read_all() {
            None => rejected += 1,
            Some(got) => {
                assert!(unread(at), "a flip of bit {} at byte {at} of {} was accepted", at % 8, original.len());
                assert_eq!(got, want, "a flip at byte {at} was accepted and changed what is read");
                harmless += 1;
            }
        }
    }
    let covered = (0..original.len()).filter(|&at| !unread(at)).count();
    eprintln!("{} index bytes: {rejected} flips rejected, {harmless} harmless (of {} bytes TensorFlow never reads)", original.len(), original.len() - covered);
    assert!(rejected >= covered, "only {rejected} of the {covered} covered bytes' flips were rejected");
    for len in 0..original.len() {
        std::fs::write(&index, &original[..len]).unwrap();
        assert!(Checkpoint::open(&f.prefix).is_err(), "truncated to {len} bytes but accepted");
    }
}

#[test]
fn damaged_data_files_are_reported_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");

    let f = copy_fixture("convnet", tmp.path());
    let data = f.dir.join(format!("{}.data-00000-of-00001", f.prefix.file_name().unwrap().to_string_lossy()));
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x10;
    std::fs::write(&data, &bytes).unwrap();
    let msg = strip_fails(&args(&f.dir, &f.outputs.join(",")), &out);
    assert!(msg.contains("data-00000-of-00001") && msg.contains("checksum mismatch"), "{msg}");

    std::fs::write(&data, &bytes[..n / 2]).unwrap();
    let msg = strip_fails(&args(&f.dir, &f.outputs.join(",")), &out);
    assert!(msg.contains("beyond the end of data shard"), "{msg}");

    let f = copy_fixture("sharded", tmp.path());
    std::fs::remove_file(f.dir.join(format!("{}.data-00001-of-00002", f.prefix.file_name().unwrap().to_string_lossy()))).unwrap();
    let msg = strip_fails(&args(&f.dir, &f.outputs.join(",")), &out);
    assert!(msg.contains("data-00001-of-00002") && msg.contains("missing"), "{msg}");

    let f = copy_fixture("mlp90", tmp.path());
    let index = index_path(&f.prefix);
    let mut bytes = std::fs::read(&index).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&index, &bytes).unwrap();
    let msg = strip_fails(&args(&f.dir, &f.outputs.join(",")), &out);
    assert!(msg.contains(".index") && msg.contains("bad magic"), "{msg}");
}
