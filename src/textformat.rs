//! Protobuf text format (`.pbtxt`, `as_text=True`, the `checkpoint` state
//! file), through prost-reflect's dynamic messages.
//!
//! prost-reflect keeps map fields in a `HashMap`, so it would print `attr`
//! entries in a different order on every run. Text goes through a copy of our
//! descriptors in which map entries are plain repeated messages instead: the
//! wire format and the text syntax are the same (`attr { key: .. value { .. } }`),
//! and the order is the one of the binary encoding, which prost sorts.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::prost_types::{DescriptorProto, FileDescriptorSet};
use prost_reflect::text_format::{FormatOptions, ParseError};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage};

use crate::proto::FILE_DESCRIPTOR_SET_BYTES;

/// Why the ordered copy of the compiled-in descriptors could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Decode(#[from] prost::DecodeError),
    #[error(transparent)]
    Descriptor(#[from] prost_reflect::DescriptorError),
}

/// Why a message could not be read from or written as text.
#[derive(Debug, thiserror::Error)]
pub enum TextFormatError {
    #[error(transparent)]
    Pool(&'static PoolError),
    #[error("{0} is missing from the descriptor pool")]
    NotInPool(String),
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Decode(#[from] prost::DecodeError),
}

static ORDERED_POOL: LazyLock<Result<DescriptorPool, PoolError>> = LazyLock::new(|| {
    let mut set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET_BYTES)?;
    for file in &mut set.file {
        file.message_type.iter_mut().for_each(unmark_map_entries);
    }
    Ok(DescriptorPool::from_file_descriptor_set(set)?)
});

fn unmark_map_entries(message: &mut DescriptorProto) {
    if let Some(options) = message.options.as_mut() {
        options.map_entry = None;
    }
    message.nested_type.iter_mut().for_each(unmark_map_entries);
}

fn ordered_descriptor<M: ReflectMessage + Default>() -> Result<MessageDescriptor, TextFormatError> {
    let name = M::default().descriptor().full_name().to_string();
    let pool = ORDERED_POOL.as_ref().map_err(TextFormatError::Pool)?;
    pool.get_message_by_name(&name).ok_or(TextFormatError::NotInPool(name))
}

pub fn parse<M: Message + ReflectMessage + Default>(text: &str) -> Result<M, TextFormatError> {
    let dynamic = DynamicMessage::parse_text_format(ordered_descriptor::<M>()?, text)?;
    Ok(M::decode(dynamic.encode_to_vec().as_slice())?)
}

pub fn print<M: Message + ReflectMessage + Default>(message: &M) -> Result<String, TextFormatError> {
    let dynamic = DynamicMessage::decode(ordered_descriptor::<M>()?, message.encode_to_vec().as_slice())?;
    let options = FormatOptions::new().pretty(true).expand_any(true);
    let mut text = dynamic.to_text_format_with_options(&options);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::{AttrValue, GraphDef, NodeDef};

    #[test]
    fn maps_print_sorted_and_parse_back() {
        let mut node = NodeDef { name: "n".into(), op: "Const".into(), ..Default::default() };
        for key in ["zeta", "alpha", "mid", "beta", "omega", "delta"] {
            node.attr.insert(key.into(), AttrValue::default());
        }
        let g = GraphDef { node: vec![node], ..Default::default() };
        let text = print(&g).unwrap();
        let keys: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("key: ")).collect();
        assert_eq!(keys, ["\"alpha\"", "\"beta\"", "\"delta\"", "\"mid\"", "\"omega\"", "\"zeta\""]);
        assert_eq!(parse::<GraphDef>(&text).unwrap(), g);
        assert_eq!(print(&g).unwrap(), text);
    }
}
