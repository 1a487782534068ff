//! What a path holds, told by its contents (magic bytes), not by its name:
//! so a Keras `.h5`, a `.tflite` or a container given where a graph is
//! expected gets one line saying what it is and what tf-strip reads instead,
//! not a protobuf parser's complaint about a tag.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// HDF5's superblock signature, at offset 0, 512, 1024, 2048, ... (a user
/// block may precede it; the HDF5 spec's "superblock" section).
const HDF5: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
const HDF5_OFFSETS: [usize; 4] = [0, 512, 1024, 2048];
/// A zip's first local file header.
const ZIP: &[u8; 4] = b"PK\x03\x04";
/// A TFLite flatbuffer's file identifier, after the 4-byte root offset.
const TFLITE: &[u8; 4] = b"TFL3";
/// What Keras 3's `model.save("m.keras")` writes into the zip.
const KERAS_ENTRIES: [&str; 3] = ["metadata.json", "config.json", "model.weights.h5"];
/// Enough to see every signature above.
const HEAD: usize = HDF5_OFFSETS[3] + HDF5.len();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Missing,
    /// No file, but `PATH.index` exists: a checkpoint named by its prefix.
    CheckpointPrefix,
    Directory(DirKind),
    Empty,
    /// A zip archive; `keras` when its first entry is one Keras 3 writes.
    Zip { keras: bool },
    Hdf5,
    TfLite,
    /// tf-strip's own sparse container (`codec`).
    Container,
    /// A checkpoint's `.index` (an SSTable).
    CheckpointIndex,
    /// A checkpoint's `.data-NNNNN-of-NNNNN` shard (raw tensor bytes: known
    /// by its name and its `.index`, having no magic of its own).
    CheckpointData,
    /// None of the above: maybe a graph (binary or text), maybe garbage; only
    /// parsing tells.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirKind {
    /// Holds `saved_model.pb` or `saved_model.pbtxt`.
    SavedModel,
    /// Holds a `checkpoint` state file or an `.index`.
    Checkpoint,
    Other,
}

impl FileKind {
    /// Looks at `path`: its type, its first bytes, an index's footer.
    pub fn of(path: &Path) -> FileKind {
        let Ok(meta) = std::fs::metadata(path) else {
            return match crate::checkpoint::index_path(path).is_file() {
                true => FileKind::CheckpointPrefix,
                false => FileKind::Missing,
            };
        };
        if meta.is_dir() {
            return FileKind::Directory(dir_kind(path));
        }
        if meta.len() == 0 {
            return FileKind::Empty;
        }
        match head_and_tail(path) {
            Some((head, tail)) => by_content(&head, &tail).unwrap_or_else(|| by_data_name(path)),
            // Unreadable: whoever reads it next reports the system's reason.
            None => FileKind::Unknown,
        }
    }

    /// A checkpoint in any of the forms `locate::resolve_prefix` takes.
    pub fn is_checkpoint(self) -> bool {
        matches!(
            self,
            FileKind::CheckpointPrefix
                | FileKind::CheckpointIndex
                | FileKind::CheckpointData
                | FileKind::Directory(DirKind::Checkpoint)
        )
    }

    /// What to do with a file of this kind instead, where there is a known way.
    fn remedy(self, wanted: Wanted) -> &'static str {
        match self {
            FileKind::Zip { keras: true } | FileKind::Hdf5 => {
                ": save the Keras model as a SavedModel with model.export(DIR) or tf.saved_model.save(model, DIR)"
            }
            FileKind::Zip { keras: false } => ": extract the archive first",
            FileKind::TfLite => ": give the TensorFlow model it was converted from",
            FileKind::Container => ": `tf-strip decode` gives the GraphDef back",
            FileKind::CheckpointPrefix
            | FileKind::CheckpointIndex
            | FileKind::CheckpointData
            | FileKind::Directory(DirKind::Checkpoint) => {
                ": strip the checkpoint into a frozen graph first (tf-strip --checkpoint_dir=DIR --output_node_names=...)"
            }
            FileKind::Directory(DirKind::SavedModel) if wanted == Wanted::Checkpoint => {
                ": strip takes a TF1 checkpoint; inspect and verify read a SavedModel"
            }
            FileKind::Directory(DirKind::SavedModel) => ": strip or freeze it into a GraphDef first",
            FileKind::Missing | FileKind::Empty | FileKind::Directory(DirKind::Other) | FileKind::Unknown => "",
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Missing => "no such file or directory",
            FileKind::CheckpointPrefix => "a checkpoint prefix",
            FileKind::Directory(DirKind::SavedModel) => "a SavedModel directory",
            FileKind::Directory(DirKind::Checkpoint) => "a checkpoint directory",
            FileKind::Directory(DirKind::Other) => "a directory holding neither a SavedModel (saved_model.pb) nor a checkpoint",
            FileKind::Empty => "an empty file",
            FileKind::Zip { keras: true } => "a zip archive (a Keras v3 .keras model)",
            FileKind::Zip { keras: false } => "a zip archive",
            FileKind::Hdf5 => "an HDF5 file (a Keras .h5 model or weights)",
            FileKind::TfLite => "a TFLite flatbuffer (an already converted model)",
            FileKind::Container => "a tf-strip sparse container",
            FileKind::CheckpointIndex => "a checkpoint's .index file, which holds no graph",
            FileKind::CheckpointData => "a checkpoint's data shard, which holds no graph",
            FileKind::Unknown => "unrecognised contents",
        })
    }
}

/// What the reading command takes, for the second half of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// A graph: what `ModelFile::load` reads (compact, inject, `--input_graph`).
    Graph,
    /// A graph or a checkpoint (inspect, verify, bench).
    Model,
    /// What `--checkpoint_dir` / `--checkpoint` name.
    Checkpoint,
    /// The GraphDef `encode` stores.
    GraphDef,
    /// The container `decode` reads.
    Container,
    /// The TFLite flatbuffer `accelerate` reads.
    TfLite,
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Wanted::Graph => {
                "tf-strip reads a graph here: a GraphDef (.pb, .pbtxt), a MetaGraphDef (.meta), a SavedModel directory or a tf-strip container"
            }
            Wanted::Model => {
                "tf-strip reads TensorFlow graphs (.pb, .pbtxt, .meta), checkpoints, SavedModel directories and its own containers"
            }
            Wanted::Checkpoint => {
                "neither a checkpoint directory (where a tf.train.Saver saved) nor a checkpoint prefix (DIR/model.ckpt-N, beside its .index)"
            }
            Wanted::GraphDef => "tf-strip encode reads a GraphDef (.pb, .pbtxt)",
            Wanted::Container => "tf-strip decode reads a container written by tf-strip encode",
            Wanted::TfLite => "tf-strip accelerate reads a TFLite flatbuffer (.tflite): convert the model with TensorFlow's TFLite converter first",
        })
    }
}

/// A file of a kind the command does not read: the file, what it is, what
/// the command reads and, when there is one, the way from one to the other.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}; {wanted}{}", .path.display(), described(*.kind, *.wanted), .kind.remedy(*.wanted))]
pub struct ForeignFile {
    pub path: PathBuf,
    pub kind: FileKind,
    pub wanted: Wanted,
}

impl ForeignFile {
    pub fn new(path: &Path, kind: FileKind, wanted: Wanted) -> Self {
        ForeignFile { path: path.to_path_buf(), kind, wanted }
    }
}

/// Unrecognised contents are worth saying only where a graph was expected:
/// any file may be a graph, but no file is a checkpoint.
fn described(kind: FileKind, wanted: Wanted) -> String {
    match (kind, wanted) {
        (FileKind::Unknown, Wanted::Checkpoint) => "a file".into(),
        _ => kind.to_string(),
    }
}

fn dir_kind(dir: &Path) -> DirKind {
    if ["saved_model.pb", "saved_model.pbtxt"].iter().any(|f| dir.join(f).is_file()) {
        return DirKind::SavedModel;
    }
    let has_index = || {
        std::fs::read_dir(dir)
            .map(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "index")))
            .unwrap_or(false)
    };
    match dir.join("checkpoint").is_file() || has_index() {
        true => DirKind::Checkpoint,
        false => DirKind::Other,
    }
}

/// The first `HEAD` bytes (fewer in a shorter file) and the last 8.
fn head_and_tail(path: &Path) -> Option<(Vec<u8>, [u8; 8])> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = Vec::with_capacity(HEAD);
    (&mut file).take(HEAD as u64).read_to_end(&mut head).ok()?;
    let mut tail = [0u8; 8];
    if file.seek(SeekFrom::End(-8)).is_ok() {
        file.read_exact(&mut tail).ok()?;
    }
    Some((head, tail))
}

fn by_content(head: &[u8], tail: &[u8; 8]) -> Option<FileKind> {
    if crate::codec::is_container(head) {
        return Some(FileKind::Container);
    }
    if head.starts_with(ZIP) {
        return Some(FileKind::Zip { keras: KERAS_ENTRIES.contains(&first_zip_entry(head)) });
    }
    if HDF5_OFFSETS.iter().any(|&at| head.get(at..at + HDF5.len()) == Some(HDF5)) {
        return Some(FileKind::Hdf5);
    }
    // The root table's offset comes first and lies inside the file; a
    // GraphDef's first four bytes (`0a LEN 0a LEN`) read as a huge offset.
    let root = head.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if head.get(4..8) == Some(TFLITE) && root.is_some_and(|r| r < 1 << 16) {
        return Some(FileKind::TfLite);
    }
    if head.len() >= crate::checkpoint::INDEX_FOOTER_LEN && u64::from_le_bytes(*tail) == crate::checkpoint::INDEX_MAGIC {
        return Some(FileKind::CheckpointIndex);
    }
    None
}

/// The name in a zip's first local file header (30 fixed bytes, then the name).
fn first_zip_entry(head: &[u8]) -> &str {
    let len = head.get(26..28).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    head.get(30..30 + len).and_then(|n| std::str::from_utf8(n).ok()).unwrap_or("")
}

/// `PREFIX.data-00000-of-00001` beside `PREFIX.index`.
fn by_data_name(path: &Path) -> FileKind {
    let name = path.to_string_lossy();
    let Some(at) = name.rfind(".data-") else { return FileKind::Unknown };
    let tail = &name[at + ".data-".len()..];
    let shard = tail.len() == 14 && tail.as_bytes()[5..9] == *b"-of-";
    match shard && crate::checkpoint::index_path(Path::new(&name[..at])).is_file() {
        true => FileKind::CheckpointData,
        false => FileKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(bytes: &[u8]) -> FileKind {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        FileKind::of(&p)
    }

    #[test]
    fn magic_bytes_tell_the_kind_whatever_the_name() {
        let mut keras = b"PK\x03\x04".to_vec();
        keras.extend([0u8; 22]);
        keras.extend(13u16.to_le_bytes());
        keras.extend([0u8; 2]);
        keras.extend(b"metadata.json");
        assert_eq!(kind_of(&keras), FileKind::Zip { keras: true });
        assert_eq!(kind_of(b"PK\x03\x04 some other zip"), FileKind::Zip { keras: false });
        assert_eq!(kind_of(b"\x89HDF\r\n\x1a\n\0\0\0\0"), FileKind::Hdf5);
        let mut user_block = vec![0u8; 512];
        user_block.extend(HDF5);
        assert_eq!(kind_of(&user_block), FileKind::Hdf5);
        assert_eq!(kind_of(b"\x1c\0\0\0TFL3\0\0\0\0"), FileKind::TfLite);
        assert_eq!(kind_of(b"TFSPARSE\x01\0"), FileKind::Container);
        assert_eq!(kind_of(b""), FileKind::Empty);
        assert_eq!(kind_of(b"\x0a\x05\x0a\x03TFL3"), FileKind::Unknown, "a GraphDef whose first node is named TFL3...");
        assert_eq!(kind_of(b"node { name: \"x\" op: \"Placeholder\" }"), FileKind::Unknown);
    }

    #[test]
    fn checkpoints_and_directories_are_told_apart() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/mlp90");
        assert_eq!(FileKind::of(&root), FileKind::Directory(DirKind::Checkpoint));
        assert_eq!(FileKind::of(&root.join("saved_model")), FileKind::Directory(DirKind::SavedModel));
        assert_eq!(FileKind::of(&root.join("model.ckpt-45")), FileKind::CheckpointPrefix);
        assert_eq!(FileKind::of(&root.join("model.ckpt-45.index")), FileKind::CheckpointIndex);
        assert_eq!(FileKind::of(&root.join("model.ckpt-45.data-00000-of-00001")), FileKind::CheckpointData);
        assert_eq!(FileKind::of(&root.join("model.ckpt-45.meta")), FileKind::Unknown);
        assert_eq!(FileKind::of(&root.join("expected")), FileKind::Directory(DirKind::Other));
        assert_eq!(FileKind::of(&root.join("no-such-file")), FileKind::Missing);
    }
}
