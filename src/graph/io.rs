//! Reading and writing graph files: binary protobuf or text format, chosen by
//! the file name as TensorFlow's tools do, with a content check as fallback.

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;
use prost_reflect::ReflectMessage;

use super::{GraphError, Result};
use super::sink::StreamSink;
use crate::atomic::AtomicFile;
use crate::proto::tensorflow::{GraphDef, MetaGraphDef, SavedModel};
use crate::proto::PROTOBUF_LIMIT;
use crate::textformat;
use crate::error::FileError;
use crate::filekind::{DirKind, FileKind, ForeignFile, Wanted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Binary,
    Text,
}

impl Format {
    /// `.pbtxt`, `.pbtext`, `.txt` and `.prototxt` are text; anything else binary.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("pbtxt" | "pbtext" | "txt" | "prototxt") => Format::Text,
            _ => Format::Binary,
        }
    }
}

pub fn read_message<M: Message + ReflectMessage + Default>(path: &Path) -> Result<M> {
    let bytes = std::fs::read(path).map_err(|source| GraphError::Io(FileError { path: path.to_path_buf(), source }))?;
    decode_message(path, bytes::Bytes::from(bytes))
}

/// From `Bytes`, prost gives every `tensor_content` as a view into the
/// file's bytes, not a copy.
fn decode_message<M: Message + ReflectMessage + Default>(path: &Path, bytes: bytes::Bytes) -> Result<M> {
    let what = || M::default().descriptor().full_name().to_string();
    let as_text = || {
        let text = std::str::from_utf8(&bytes).map_err(|_| textformat::TextFormatError::NotUtf8)?;
        textformat::parse::<M>(text)
    };
    match Format::from_path(path) {
        Format::Text => as_text().map_err(|source| GraphError::NotText { path: path.to_path_buf(), what: what(), source }),
        Format::Binary => match M::decode(bytes.clone()) {
            Ok(m) => Ok(m),
            // Text files saved under a binary-looking name are common (`.pb` from `as_text=True`).
            Err(binary) => as_text().map_err(|_| GraphError::Unrecognised { path: path.to_path_buf(), what: what(), source: binary }),
        },
    }
}

/// Writes `message` in `format` to `out`, streaming; `path` names the output
/// in errors. Returns the number of bytes written.
pub fn write_message_to<M: Message + ReflectMessage + Default>(
    out: &mut impl Write,
    path: &Path,
    message: &M,
    format: Format,
) -> Result<u64> {
    let io_error = |source| GraphError::Io(FileError { path: path.to_path_buf(), source });
    match format {
        Format::Text => {
            let text = textformat::print(message).map_err(|source| GraphError::Print { path: path.to_path_buf(), source })?;
            out.write_all(text.as_bytes()).map_err(io_error)?;
            Ok(text.len() as u64)
        }
        Format::Binary => {
            let len = message.encoded_len() as u64;
            if len > PROTOBUF_LIMIT {
                return Err(GraphError::TooLarge { path: path.to_path_buf(), bytes: len });
            }
            let mut sink = StreamSink::new(out);
            message
                .encode(&mut sink)
                .map_err(|e| io_error(std::io::Error::other(e)))?;
            sink.finish().map_err(io_error)
        }
    }
}

/// Writes `message` to `path` atomically.
pub fn write_message<M: Message + ReflectMessage + Default>(path: &Path, message: &M, format: Format) -> Result<()> {
    let io_error = |source| GraphError::Io(FileError { path: path.to_path_buf(), source });
    let mut file = AtomicFile::create(path).map_err(io_error)?;
    write_message_to(&mut file, path, message, format)?;
    file.commit().map_err(io_error)
}

/// The GraphDef a container from `encode` holds, decoded in memory.
fn read_container(path: &Path) -> Result<GraphDef> {
    let bytes = std::fs::read(path).map_err(|source| GraphError::Io(FileError { path: path.to_path_buf(), source }))?;
    Ok(crate::codec::decode_graph_def(path, &bytes)?)
}

/// Any file or directory that holds a graph.
// One per command: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ModelFile {
    Graph(GraphDef),
    Meta(MetaGraphDef),
    SavedModel(SavedModel),
}

impl ModelFile {
    /// The file `load` reads: `path`, or in a SavedModel directory its
    /// `saved_model.pb` (or `.pbtxt`), which need not exist.
    pub fn file_of(path: &Path) -> PathBuf {
        if !path.is_dir() {
            return path.to_path_buf();
        }
        let text = path.join("saved_model.pbtxt");
        match !path.join("saved_model.pb").is_file() && text.is_file() {
            true => text,
            false => path.join("saved_model.pb"),
        }
    }

    /// A SavedModel directory, a `.meta` MetaGraphDef, a GraphDef, or a
    /// container from `encode` (decoded in memory into its GraphDef). Any
    /// other kind of file is an error saying what it is.
    pub fn load(path: &Path) -> Result<(PathBuf, Self)> {
        match FileKind::of(path) {
            FileKind::Directory(DirKind::SavedModel) => {
                let file = Self::file_of(path);
                let model = ModelFile::SavedModel(read_message(&file)?);
                model.validate(&file)?;
                Ok((file, model))
            }
            FileKind::Container => {
                let model = ModelFile::Graph(read_container(path)?);
                model.validate(path)?;
                Ok((path.to_path_buf(), model))
            }
            FileKind::Unknown => {
                let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                let model = if name.ends_with(".meta") || name.ends_with(".meta.pbtxt") || name.ends_with(".meta.txt") {
                    ModelFile::Meta(read_message(path)?)
                } else if name.starts_with("saved_model.") {
                    ModelFile::SavedModel(read_message(path)?)
                } else {
                    ModelFile::Graph(read_message(path)?)
                };
                model.validate(path)?;
                Ok((path.to_path_buf(), model))
            }
            kind => Err(ForeignFile::new(path, kind, Wanted::Graph).into()),
        }
    }

    /// Every graph the file holds passes `Graph::new`'s checks.
    fn validate(&self, path: &Path) -> Result<()> {
        let defs: Vec<&GraphDef> = match self {
            ModelFile::Graph(g) => vec![g],
            ModelFile::Meta(m) => m.graph_def.iter().collect(),
            ModelFile::SavedModel(s) => s.meta_graphs.iter().filter_map(|m| m.graph_def.as_ref()).collect(),
        };
        defs.into_iter().try_for_each(|def| super::Graph::validate(def, path))
    }

    /// The graph itself (a SavedModel's first meta graph).
    pub fn graph_def(&self) -> Option<&GraphDef> {
        match self {
            ModelFile::Graph(g) => Some(g),
            ModelFile::Meta(m) => m.graph_def.as_ref(),
            ModelFile::SavedModel(s) => s.meta_graphs.first().and_then(|m| m.graph_def.as_ref()),
        }
    }

    pub fn meta_graph(&self) -> Option<&MetaGraphDef> {
        match self {
            ModelFile::Graph(_) => None,
            ModelFile::Meta(m) => Some(m),
            ModelFile::SavedModel(s) => s.meta_graphs.first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::NodeDef;

    #[test]
    fn text_and_binary_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let g = GraphDef {
            node: vec![NodeDef { name: "x".into(), op: "Placeholder".into(), ..Default::default() }],
            ..Default::default()
        };
        for name in ["g.pb", "g.pbtxt"] {
            let p = dir.path().join(name);
            write_message(&p, &g, Format::from_path(&p)).unwrap();
            assert_eq!(read_message::<GraphDef>(&p).unwrap(), g);
        }
        // Text under a binary name still loads.
        std::fs::copy(dir.path().join("g.pbtxt"), dir.path().join("t.pb")).unwrap();
        assert_eq!(read_message::<GraphDef>(&dir.path().join("t.pb")).unwrap(), g);
    }

    #[test]
    fn outputs_over_two_gigabytes_are_refused() {
        use crate::proto::tensorflow::attr_value::Value;
        use crate::proto::tensorflow::{AttrValue, TensorProto};
        // Zeroed memory is only reserved, never touched: encoded_len does not read it.
        let content = bytes::Bytes::from(vec![0u8; 1 << 31]);
        let mut node = NodeDef { name: "w".into(), op: "Const".into(), ..Default::default() };
        let tensor = TensorProto { dtype: 1, tensor_content: content, ..Default::default() };
        node.attr.insert("value".into(), AttrValue { value: Some(Value::Tensor(tensor)) });
        let g = GraphDef { node: vec![node], ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.pb");
        let err = write_message(&path, &g, Format::Binary).unwrap_err().to_string();
        assert!(err.contains("2 GiB") && err.contains("big.pb"), "{err}");
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a temporary file was left");
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.pb");
        std::fs::write(&p, [0xff, 0xff, 0xff]).unwrap();
        let err = read_message::<GraphDef>(&p).unwrap_err().to_string();
        assert!(err.contains("bad.pb") && err.contains("unrecognised contents, neither a binary nor a text tensorflow.GraphDef"), "{err}");
    }
}
