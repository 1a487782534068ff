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
use prost_reflect::text_format::FormatOptions;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage};

use crate::proto::FILE_DESCRIPTOR_SET_BYTES;

static ORDERED_POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    let mut set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET_BYTES).map_err(|e| e.to_string())?;
    for file in &mut set.file {
        file.message_type.iter_mut().for_each(unmark_map_entries);
    }
    DescriptorPool::from_file_descriptor_set(set).map_err(|e| e.to_string())
});

fn unmark_map_entries(message: &mut DescriptorProto) {
    if let Some(options) = message.options.as_mut() {
        options.map_entry = None;
    }
    message.nested_type.iter_mut().for_each(unmark_map_entries);
}

fn ordered_descriptor<M: ReflectMessage + Default>() -> Result<MessageDescriptor, String> {
    let name = M::default().descriptor().full_name().to_string();
    let pool = ORDERED_POOL.as_ref().map_err(Clone::clone)?;
    pool.get_message_by_name(&name)
        .ok_or_else(|| format!("{name} is missing from the descriptor pool"))
}

pub fn parse<M: Message + ReflectMessage + Default>(text: &str) -> Result<M, String> {
    let dynamic = DynamicMessage::parse_text_format(ordered_descriptor::<M>()?, text).map_err(|e| e.to_string())?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| e.to_string())
}

pub fn print<M: Message + ReflectMessage + Default>(message: &M) -> Result<String, String> {
    let dynamic = DynamicMessage::decode(ordered_descriptor::<M>()?, message.encode_to_vec().as_slice())
        .map_err(|e| e.to_string())?;
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
