//! tf-strip: strip, inspect, encode and compact TensorFlow models trained with
//! magnitude pruning, natively, without TensorFlow.

pub mod proto;
pub mod runtime;

pub mod atomic;
pub mod checkpoint;
pub mod codec;
pub mod graph;
pub mod inspect;
pub mod tensor;
pub mod transform;
pub mod textformat;
