//! The real TensorFlow runtime, loaded at run time (from `TENSORFLOW_DIR`, or
//! a pip-installed TensorFlow: `find.rs`), so that tf-strip builds and
//! rewrites without it and only verification, benchmarks and tests need it.

pub(crate) mod find;
pub mod litert;

pub use find::{LoadError, WheelError, WheelLoadError};

use std::path::Path;
use std::sync::OnceLock;

use tensorflow as tf;

use crate::graph::InputRef;
use crate::proto::tensorflow::{DataType, SaverDef};
use crate::tensor::Tensor;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot load TensorFlow: {0}")]
    Load(#[source] &'static LoadError),
    #[error("TensorFlow: {0}")]
    Tf(#[from] tf::Status),
    #[error("TensorFlow: cannot fetch a {0} tensor")]
    CannotFetch(tf::DataType),
    #[error("{0} tensors cannot be passed to or from TensorFlow here")]
    Unsupported(DataType),
    #[error(transparent)]
    Tensor(#[from] crate::tensor::TensorError),
    #[error("`{0}` is not a tensor name (`node` or `node:N`)")]
    TensorName(String),
    #[error("{} is not UTF-8, which TensorFlow's savers need", .0.display())]
    NotUtf8(std::path::PathBuf),
}

fn tensor_name(name: &str) -> Result<InputRef<'_>> {
    InputRef::parse(name).filter(|r| !r.control).ok_or_else(|| RuntimeError::TensorName(name.to_string()))
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Loads libtensorflow once per process, with `python3` on the PATH as the
/// fallback when `TENSORFLOW_DIR` is not set.
pub fn load() -> Result<()> {
    load_with(None).map(|_| ())
}

/// Loads libtensorflow once per process; `python` is the interpreter whose
/// pip-installed TensorFlow is used when `TENSORFLOW_DIR` is not set (the
/// first call decides). Returns where the library came from.
pub fn load_with(python: Option<&Path>) -> Result<&'static str> {
    static LOADED: OnceLock<std::result::Result<String, LoadError>> = OnceLock::new();
    match LOADED.get_or_init(|| find::load(python)) {
        Ok(from) => Ok(from),
        Err(e) => Err(RuntimeError::Load(e)),
    }
}

/// How sessions are created.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionConfig {
    /// Intra- and inter-op threads; `None` leaves TensorFlow's default (one per core).
    pub threads: Option<u32>,
}

impl SessionConfig {
    fn options(&self) -> Result<tf::SessionOptions> {
        let mut options = tf::SessionOptions::new();
        if let Some(n) = self.threads {
            // A serialized ConfigProto with intra_op_parallelism_threads (field
            // 2) and inter_op_parallelism_threads (field 5): two varints, not
            // worth compiling TensorFlow's config.proto for.
            let mut config = vec![0x10];
            push_varint(&mut config, n);
            config.push(0x28);
            push_varint(&mut config, n);
            options.set_config(&config)?;
        }
        Ok(options)
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A graph imported into TensorFlow with a session to run it.
pub struct Model {
    graph: tf::Graph,
    session: tf::Session,
}

impl Model {
    pub fn from_graph_def(bytes: &[u8]) -> Result<Self> {
        Self::import(bytes, &SessionConfig::default())
    }

    /// Imports a serialized GraphDef and creates its session.
    pub fn import(bytes: &[u8], config: &SessionConfig) -> Result<Self> {
        load()?;
        let mut graph = tf::Graph::new();
        graph.import_graph_def(bytes, &tf::ImportGraphDefOptions::new())?;
        let session = tf::Session::new(&config.options()?, &graph)?;
        Ok(Model { graph, session })
    }

    /// A training graph whose variables its own saver (`saver`, the
    /// MetaGraphDef's `saver_def`) restored from the checkpoint `prefix`, as
    /// `Saver.restore` does.
    pub fn restored(graph_def: &[u8], saver: &SaverDef, prefix: &Path) -> Result<Self> {
        let model = Self::from_graph_def(graph_def)?;
        let path = prefix.to_str().ok_or_else(|| RuntimeError::NotUtf8(prefix.to_path_buf()))?;
        model.restore(&saver.restore_op_name, &saver.filename_tensor_name, path)?;
        Ok(model)
    }

    /// Loads a SavedModel directory's meta graph tagged `tags`, variables restored.
    pub fn saved_model(dir: &Path, tags: &[String], config: &SessionConfig) -> Result<Self> {
        load()?;
        let mut graph = tf::Graph::new();
        let bundle = tf::SavedModelBundle::load(&config.options()?, tags, &mut graph, dir)?;
        Ok(Model { graph, session: bundle.session })
    }

    /// Runs a saver's restore op with the checkpoint `prefix` fed to its
    /// filename tensor, as `Saver.restore` does.
    pub fn restore(&self, restore_op: &str, filename_tensor: &str, prefix: &str) -> Result<()> {
        let target = self.graph.operation_by_name_required(tensor_name(restore_op)?.node)?;
        let file = tensor_name(filename_tensor)?;
        let file_op = self.graph.operation_by_name_required(file.node)?;
        let value = tf::Tensor::<String>::new(&[]).with_values(&[prefix.to_string()])?;
        let mut args = tf::SessionRunArgs::new();
        args.add_feed(&file_op, file.port as i32, &value);
        args.add_target(&target);
        Ok(self.session.run(&mut args)?)
    }

    /// Creates a session on an empty graph: TensorFlow's one-time process
    /// set-up (device discovery, thread pools) then no longer lands in the
    /// first model's load time.
    pub fn warm_up(config: &SessionConfig) -> Result<()> {
        Self::import(&[], config).map(|_| ())
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
                match t.dtype {
                    $(DataType::$variant => {
                        Ok(Feed::$variant(tf::Tensor::new(&t.shape).with_values(&t.values::<$ty>()?)?))
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
                return Ok(Tensor::from_values(t.dims(), &t));
            })*
            Err(RuntimeError::CannotFetch(dtype))
        }
    };
}

typed!(DtFloat => f32, DtDouble => f64, DtInt32 => i32, DtInt64 => i64, DtUint8 => u8, DtInt8 => i8);
