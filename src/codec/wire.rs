//! A protobuf wire-level walk of a serialized `GraphDef` that finds the byte
//! range of every `TensorProto.tensor_content` held in a node attribute
//! (graph nodes and library function bodies). Working on the bytes, not on a
//! decoded message, is what makes decoding byte-identical by construction:
//! the container stores the file with those ranges cut out, and splices the
//! decoded tensor bytes back at the same offsets.

/// One `tensor_content` field found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Name of the node holding it (empty if the node has no name field).
    pub node: String,
    /// The `TensorProto.dtype` value (0 when absent).
    pub dtype: i32,
    /// Dimension sizes, when the shape is fully known.
    pub shape: Option<Vec<i64>>,
    /// Byte offset of the content (after its length prefix) in the file.
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the protobuf wire format is malformed")]
pub struct WireError;

type R<T> = Result<T, WireError>;

struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the file.
    base: usize,
}

enum Val<'a> {
    Varint(u64),
    /// Length-delimited: the bytes and their absolute offset.
    Len(&'a [u8], usize),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> R<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(WireError)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError)
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Fields { buf, pos: 0, base }
    }

    fn next_field(&mut self) -> R<Option<(u64, Val<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = varint(self.buf, &mut self.pos)?;
        let (field, wire) = (key >> 3, key & 7);
        let val = match wire {
            0 => Val::Varint(varint(self.buf, &mut self.pos)?),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if self.buf.len() - self.pos < n {
                    return Err(WireError);
                }
                self.pos += n;
                Val::Fixed
            }
            2 => {
                let len = usize::try_from(varint(self.buf, &mut self.pos)?).map_err(|_| WireError)?;
                if self.buf.len() - self.pos < len {
                    return Err(WireError);
                }
                let start = self.pos;
                self.pos += len;
                Val::Len(&self.buf[start..start + len], self.base + start)
            }
            _ => return Err(WireError),
        };
        Ok(Some((field, val)))
    }
}

/// Every `tensor_content` of at least `min_len` bytes, in file order.
/// An error means the bytes are not a binary GraphDef this walk understands.
pub fn find_contents(pb: &[u8], min_len: usize) -> R<Vec<Content>> {
    let mut out = Vec::new();
    let mut graph = Fields::new(pb, 0);
    while let Some((field, val)) = graph.next_field()? {
        match (field, val) {
            (1, Val::Len(node, at)) => node_def(node, at, min_len, &mut out)?,
            (2, Val::Len(library, at)) => {
                let mut lib = Fields::new(library, at);
                while let Some((field, val)) = lib.next_field()? {
                    if let (1, Val::Len(function, at)) = (field, val) {
                        let mut f = Fields::new(function, at);
                        while let Some((field, val)) = f.next_field()? {
                            if let (3, Val::Len(node, at)) = (field, val) {
                                node_def(node, at, min_len, &mut out)?;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn node_def(buf: &[u8], base: usize, min_len: usize, out: &mut Vec<Content>) -> R<()> {
    let mut name = String::new();
    let first = out.len();
    let mut fields = Fields::new(buf, base);
    while let Some((field, val)) = fields.next_field()? {
        match (field, val) {
            (1, Val::Len(n, _)) => name = String::from_utf8_lossy(n).into_owned(),
            (5, Val::Len(entry, at)) => {
                let mut e = Fields::new(entry, at);
                while let Some((field, val)) = e.next_field()? {
                    if let (2, Val::Len(attr, at)) = (field, val) {
                        let mut a = Fields::new(attr, at);
                        while let Some((field, val)) = a.next_field()? {
                            if let (8, Val::Len(tensor, at)) = (field, val) {
                                tensor_proto(tensor, at, min_len, out)?;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for c in &mut out[first..] {
        c.node.clone_from(&name);
    }
    Ok(())
}

fn tensor_proto(buf: &[u8], base: usize, min_len: usize, out: &mut Vec<Content>) -> R<()> {
    let mut dtype = 0i32;
    let mut shape = None;
    let mut contents = Vec::new();
    let mut fields = Fields::new(buf, base);
    while let Some((field, val)) = fields.next_field()? {
        match (field, val) {
            (1, Val::Varint(v)) => dtype = v as i32,
            (2, Val::Len(s, _)) => shape = shape_proto(s)?,
            (4, Val::Len(c, at)) if c.len() >= min_len => contents.push((at, c.len())),
            _ => {}
        }
    }
    for (offset, len) in contents {
        out.push(Content {
            node: String::new(),
            dtype,
            shape: shape.clone(),
            offset,
            len,
        });
    }
    Ok(())
}

fn shape_proto(buf: &[u8]) -> R<Option<Vec<i64>>> {
    let mut dims = Vec::new();
    let mut known = true;
    let mut fields = Fields::new(buf, 0);
    while let Some((field, val)) = fields.next_field()? {
        match (field, val) {
            (2, Val::Len(dim, _)) => {
                let mut size = 0i64;
                let mut d = Fields::new(dim, 0);
                while let Some((field, val)) = d.next_field()? {
                    if let (1, Val::Varint(v)) = (field, val) {
                        size = v as i64;
                    }
                }
                if size < 0 {
                    known = false;
                }
                dims.push(size);
            }
            (3, Val::Varint(v)) if v != 0 => known = false,
            _ => {}
        }
    }
    Ok(known.then_some(dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::attr_value::Value;
    use crate::proto::tensorflow::{AttrValue, DataType, GraphDef, NodeDef, TensorProto, TensorShapeProto};
    use prost::Message;

    #[test]
    fn finds_tensor_content_ranges() {
        let content: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
        let tensor = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto::from_dims(&[32, 32])),
            tensor_content: content.clone().into(),
            ..Default::default()
        };
        let node = NodeDef {
            name: "w".into(),
            op: "Const".into(),
            attr: [(
                "value".to_string(),
                AttrValue {
                    value: Some(Value::Tensor(tensor)),
                },
            )]
            .into(),
            ..Default::default()
        };
        let pb = GraphDef {
            node: vec![node],
            ..Default::default()
        }
        .encode_to_vec();
        let found = find_contents(&pb, 1024).unwrap();
        assert_eq!(found.len(), 1);
        let c = &found[0];
        assert_eq!(
            (c.node.as_str(), c.dtype, c.shape.clone()),
            ("w", 1, Some(vec![32, 32]))
        );
        assert_eq!(&pb[c.offset..c.offset + c.len], content.as_slice());
        assert!(find_contents(&pb, 8192).unwrap().is_empty());
        assert!(find_contents(&pb[..pb.len() - 1], 1024).is_err());
    }
}
