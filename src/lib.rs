//! tf-strip: strip, inspect, encode and compact TensorFlow models trained with
//! magnitude pruning, natively, without TensorFlow.
//!
//! ```
//! use tf_strip::checkpoint::Checkpoint;
//! use tf_strip::locate::resolve_prefix;
//!
//! // A directory a tf.train.Saver saved into, as TensorFlow finds its latest checkpoint.
//! let prefix = resolve_prefix("testdata/mlp90".as_ref())?.prefix;
//! let ckpt = Checkpoint::open(&prefix)?;
//! let mask = ckpt.tensor("fc1/mask")?; // a view into the memory-mapped data file
//! assert!(mask.zero_fraction().unwrap_or(0.0) > 0.85);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod proto;
pub mod runtime;

pub mod runner;

pub mod atomic;
pub mod checkpoint;
pub mod codec;
pub mod error;
pub mod events;
pub mod filekind;
pub mod graph;
pub mod inspect;
pub mod interrupt;
pub mod locate;
pub mod jobs;
pub mod model;
pub mod overwrite;
pub mod pruning;
pub mod saved_model;
pub mod tensor;
pub mod transform;
pub mod textformat;
pub mod tflite;
