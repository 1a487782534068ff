//! The real TensorFlow runtime, loaded at run time from the libtensorflow
//! that `TENSORFLOW_DIR` names, so that tf-strip builds and rewrites without
//! it and only verification, benchmarks and tests need it.

use std::sync::OnceLock;

use bytes::Bytes;
use tensorflow as tf;

use crate::graph::InputRef;
use crate::proto::tensorflow::{DataType, SaverDef};
use crate::tensor::{Tensor, TensorData};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "cannot load TensorFlow: {0}; set TENSORFLOW_DIR to a folder holding libtensorflow.so \
         (scripts/test sets one up from the pinned tensorflow-cpu wheel)"
    )]
    Load(String),
    #[error("TensorFlow: {0}")]
    Tf(String),
    #[error("{0} tensors cannot be passed to or from TensorFlow here")]
    Unsupported(DataType),
    #[error("`{0}` is not a tensor name (`node` or `node:N`)")]
    TensorName(String),
    #[error("{} is not UTF-8, which TensorFlow's savers need", .0.display())]
    NotUtf8(std::path::PathBuf),
}

fn tensor_name(name: &str) -> Result<InputRef<'_>> {
    InputRef::parse(name).filter(|r| !r.control).ok_or_else(|| RuntimeError::TensorName(name.to_string()))
}

impl From<tf::Status> for RuntimeError {
    fn from(s: tf::Status) -> Self {
        RuntimeError::Tf(s.to_string())
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Loads libtensorflow once per process.
pub fn load() -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(tf::library::load)
        .clone()
        .map_err(RuntimeError::Load)
}

/// A GraphDef imported into TensorFlow with a session to run it.
pub struct Model {
    graph: tf::Graph,
    session: tf::Session,
}

impl Model {
    pub fn from_graph_def(bytes: &[u8]) -> Result<Self> {
        load()?;
        let mut graph = tf::Graph::new();
        graph.import_graph_def(bytes, &tf::ImportGraphDefOptions::new())?;
        let session = tf::Session::new(&tf::SessionOptions::new(), &graph)?;
        Ok(Model { graph, session })
    }

    /// A training graph whose variables its own saver (`saver`, the
    /// MetaGraphDef's `saver_def`) restored from the checkpoint `prefix`, as
    /// `Saver.restore` does: the restore op run with the prefix fed.
    pub fn restored(graph_def: &[u8], saver: &SaverDef, prefix: &std::path::Path) -> Result<Self> {
        let model = Self::from_graph_def(graph_def)?;
        let path = prefix.to_str().ok_or_else(|| RuntimeError::NotUtf8(prefix.to_path_buf()))?;
        let filename = tensor_name(&saver.filename_tensor_name)?;
        let filename_op = model.graph.operation_by_name_required(filename.node)?;
        let restore = model.graph.operation_by_name_required(&saver.restore_op_name)?;
        let path = tf::Tensor::from(path.to_string());
        let mut args = tf::SessionRunArgs::new();
        args.add_feed(&filename_op, filename.port as i32, &path);
        args.add_target(&restore);
        model.session.run(&mut args)?;
        Ok(model)
    }

    /// Runs the graph once: `feeds` and `fetches` are named `op:index`.
    pub fn run(&self, feeds: &[(String, Tensor)], fetches: &[String]) -> Result<Vec<Tensor>> {
        let inputs: Vec<(tf::Operation, i32, Feed)> = feeds
            .iter()
            .map(|(name, t)| {
                let r = tensor_name(name)?;
                Ok((self.graph.operation_by_name_required(r.node)?, r.port as i32, Feed::from_tensor(t)?))
            })
            .collect::<Result<_>>()?;
        let mut args = tf::SessionRunArgs::new();
        for (op, port, feed) in &inputs {
            feed.add_to(&mut args, op, *port);
        }
        let tokens: Vec<(tf::FetchToken, tf::DataType)> = fetches
            .iter()
            .map(|name| {
                let r = tensor_name(name)?;
                let op = self.graph.operation_by_name_required(r.node)?;
                Ok((args.request_fetch(&op, r.port as i32), op.output_type(r.port as usize)))
            })
            .collect::<Result<_>>()?;
        self.session.run(&mut args)?;
        tokens.into_iter().map(|(token, dtype)| fetch(&mut args, token, dtype)).collect()
    }
}

/// The element types tests and benchmarks feed and fetch.
macro_rules! typed {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        enum Feed { $($variant(tf::Tensor<$ty>)),* }

        impl Feed {
            fn from_tensor(t: &Tensor) -> Result<Self> {
                let TensorData::Pod(bytes) = &t.data else { return Err(RuntimeError::Unsupported(t.dtype)) };
                match t.dtype {
                    $(DataType::$variant => {
                        let size = std::mem::size_of::<$ty>();
                        let values: Vec<$ty> = bytes
                            .chunks_exact(size)
                            .map(|c| <$ty>::from_le_bytes(c.try_into().unwrap_or_default()))
                            .collect();
                        Ok(Feed::$variant(tf::Tensor::new(&t.shape).with_values(&values)?))
                    })*
                    other => Err(RuntimeError::Unsupported(other)),
                }
            }

            fn add_to<'a>(&'a self, args: &mut tf::SessionRunArgs<'a>, op: &tf::Operation, port: i32) {
                match self { $(Feed::$variant(t) => args.add_feed(op, port, t)),* }
            }
        }

        fn fetch(args: &mut tf::SessionRunArgs<'_>, token: tf::FetchToken, dtype: tf::DataType) -> Result<Tensor> {
            $(if dtype == <$ty as tf::TensorType>::data_type() {
                let t: tf::Tensor<$ty> = args.fetch(token)?;
                let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
                return Ok(Tensor {
                    dtype: DataType::$variant,
                    shape: t.dims().to_vec(),
                    data: TensorData::Pod(Bytes::from(bytes)),
                });
            })*
            Err(RuntimeError::Tf(format!("cannot fetch a {dtype} tensor")))
        }
    };
}

typed!(DtFloat => f32, DtDouble => f64, DtInt32 => i32, DtInt64 => i64, DtUint8 => u8, DtInt8 => i8);
