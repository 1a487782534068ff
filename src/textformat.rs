//! Protobuf text format (`.pbtxt`, `as_text=True`, the `checkpoint` state
//! file), through prost-reflect's dynamic messages over our own descriptors.

use prost_reflect::text_format::FormatOptions;
use prost_reflect::{DynamicMessage, ReflectMessage};

pub fn parse<M: ReflectMessage + Default>(text: &str) -> Result<M, String> {
    let descriptor = M::default().descriptor();
    let dynamic = DynamicMessage::parse_text_format(descriptor, text).map_err(|e| e.to_string())?;
    dynamic.transcode_to::<M>().map_err(|e| e.to_string())
}

pub fn print<M: ReflectMessage>(message: &M) -> String {
    let options = FormatOptions::new().pretty(true).expand_any(true);
    let mut text = message.transcode_to_dynamic().to_text_format_with_options(&options);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
