//! Between `Tensor` and `TensorProto`, with TensorFlow's rules: values live
//! either in `tensor_content` or in the typed `*_val` fields, and a typed field
//! shorter than the tensor repeats its last value (empty means all zeros).

use bytes::Bytes;

use super::{Tensor, TensorData, TensorError};
use crate::proto::tensorflow::{DataType, TensorProto, TensorShapeProto};

pub fn from_proto(proto: &TensorProto) -> Result<Tensor, TensorError> {
    let dtype = DataType::try_from(proto.dtype)
        .map_err(|_| TensorError::UnknownDtype(proto.dtype))?
        .base();
    let shape = proto
        .tensor_shape
        .as_ref()
        .map_or(Some(Vec::new()), TensorShapeProto::dims)
        .ok_or(TensorError::UndefinedShape)?;
    let n: u64 = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or(TensorError::UndefinedShape)?;

    if dtype == DataType::DtString {
        let strings = broadcast(&proto.string_val, n, Bytes::new())?;
        return Ok(Tensor { dtype, shape, data: TensorData::Strings(strings) });
    }
    let size = dtype.byte_size().ok_or(TensorError::Unsupported(dtype))?;
    let expected = n.checked_mul(size as u64).ok_or(TensorError::TooLarge(n))?;
    if !proto.tensor_content.is_empty() {
        if proto.tensor_content.len() as u64 != expected {
            return Err(TensorError::ContentSize { actual: proto.tensor_content.len(), expected });
        }
        return Ok(Tensor { dtype, shape, data: TensorData::Pod(proto.tensor_content.clone()) });
    }
    let bytes = typed_values_to_bytes(proto, dtype, n)?;
    Ok(Tensor { dtype, shape, data: TensorData::Pod(Bytes::from(bytes)) })
}

fn broadcast<T: Clone>(values: &[T], n: u64, zero: T) -> Result<Vec<T>, TensorError> {
    // A few bytes of typed values can claim terabytes: a broadcast past what
    // a GraphDef could hold once written out is refused before it is allocated.
    let bytes = n.saturating_mul(std::mem::size_of::<T>() as u64);
    if bytes > crate::proto::PROTOBUF_LIMIT {
        return Err(TensorError::TooLarge(n));
    }
    let count = usize::try_from(n).map_err(|_| TensorError::TooLarge(n))?;
    if values.len() > count {
        return Err(TensorError::TooManyValues { values: values.len(), elements: n });
    }
    let mut out = Vec::with_capacity(count);
    out.extend_from_slice(values);
    let fill = values.last().cloned().unwrap_or(zero);
    out.resize(count, fill);
    Ok(out)
}

fn le_bytes<T: Copy, const N: usize>(
    values: &[T],
    n: u64,
    zero: T,
    to_bytes: impl Fn(T) -> [u8; N],
) -> Result<Vec<u8>, TensorError> {
    Ok(broadcast(values, n, zero)?.into_iter().flat_map(to_bytes).collect())
}

fn typed_values_to_bytes(p: &TensorProto, dtype: DataType, n: u64) -> Result<Vec<u8>, TensorError> {
    use DataType::*;
    match dtype {
        DtFloat => le_bytes(&p.float_val, n, 0.0, f32::to_le_bytes),
        DtDouble => le_bytes(&p.double_val, n, 0.0, f64::to_le_bytes),
        DtInt32 | DtQint32 => le_bytes(&p.int_val, n, 0, i32::to_le_bytes),
        DtInt16 | DtQint16 => le_bytes(&p.int_val, n, 0, |v| (v as i16).to_le_bytes()),
        DtUint16 | DtQuint16 => le_bytes(&p.int_val, n, 0, |v| (v as u16).to_le_bytes()),
        DtInt8 | DtQint8 => le_bytes(&p.int_val, n, 0, |v| (v as i8).to_le_bytes()),
        DtUint8 | DtQuint8 => le_bytes(&p.int_val, n, 0, |v| (v as u8).to_le_bytes()),
        DtInt64 => le_bytes(&p.int64_val, n, 0, i64::to_le_bytes),
        DtUint32 => le_bytes(&p.uint32_val, n, 0, u32::to_le_bytes),
        DtUint64 => le_bytes(&p.uint64_val, n, 0, u64::to_le_bytes),
        DtBool => le_bytes(&p.bool_val, n, false, |v| [v as u8]),
        DtHalf | DtBfloat16 => le_bytes(&p.half_val, n, 0, |v| (v as u16).to_le_bytes()),
        DtComplex64 => {
            let pairs: Vec<[f32; 2]> = p.scomplex_val.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
            le_bytes(&pairs, n, [0.0; 2], |[re, im]| {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&re.to_le_bytes());
                b[4..].copy_from_slice(&im.to_le_bytes());
                b
            })
        }
        DtComplex128 => {
            let pairs: Vec<[f64; 2]> = p.dcomplex_val.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
            le_bytes(&pairs, n, [0.0; 2], |[re, im]| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&re.to_le_bytes());
                b[8..].copy_from_slice(&im.to_le_bytes());
                b
            })
        }
        DtFloat8E5m2 | DtFloat8E4m3fn | DtFloat8E4m3fnuz | DtFloat8E4m3b11fnuz | DtFloat8E5m2fnuz => {
            le_bytes(&p.float8_val, n, 0, |v| [v])
        }
        other => Err(TensorError::Unsupported(other)),
    }
}

/// As `tf.make_tensor_proto` builds it from a numpy array: `tensor_content`
/// for more than one element, the typed field for a single value.
pub fn to_proto(tensor: &Tensor) -> TensorProto {
    let mut proto = TensorProto {
        dtype: tensor.dtype as i32,
        tensor_shape: Some(TensorShapeProto::from_dims(&tensor.shape)),
        ..Default::default()
    };
    match &tensor.data {
        TensorData::Strings(s) => proto.string_val = s.clone(),
        TensorData::Pod(b) if tensor.num_elements() > 1 => proto.tensor_content = b.clone(),
        TensorData::Pod(b) => set_typed_values(&mut proto, tensor.dtype, b),
    }
    proto
}

fn set_typed_values(p: &mut TensorProto, dtype: DataType, b: &[u8]) {
    use DataType::*;
    fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        b.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    match dtype {
        DtFloat => p.float_val = chunks::<4>(b).map(f32::from_le_bytes).collect(),
        DtDouble => p.double_val = chunks::<8>(b).map(f64::from_le_bytes).collect(),
        DtInt32 | DtQint32 => p.int_val = chunks::<4>(b).map(i32::from_le_bytes).collect(),
        DtInt16 | DtQint16 => p.int_val = chunks::<2>(b).map(|c| i16::from_le_bytes(c) as i32).collect(),
        DtUint16 | DtQuint16 => p.int_val = chunks::<2>(b).map(|c| u16::from_le_bytes(c) as i32).collect(),
        DtInt8 | DtQint8 => p.int_val = b.iter().map(|&v| v as i8 as i32).collect(),
        DtUint8 | DtQuint8 => p.int_val = b.iter().map(|&v| v as i32).collect(),
        DtInt64 => p.int64_val = chunks::<8>(b).map(i64::from_le_bytes).collect(),
        DtUint32 => p.uint32_val = chunks::<4>(b).map(u32::from_le_bytes).collect(),
        DtUint64 => p.uint64_val = chunks::<8>(b).map(u64::from_le_bytes).collect(),
        DtBool => p.bool_val = b.iter().map(|&v| v != 0).collect(),
        DtHalf | DtBfloat16 => p.half_val = chunks::<2>(b).map(|c| u16::from_le_bytes(c) as i32).collect(),
        DtComplex64 => p.scomplex_val = chunks::<4>(b).map(f32::from_le_bytes).collect(),
        DtComplex128 => p.dcomplex_val = chunks::<8>(b).map(f64::from_le_bytes).collect(),
        _ => p.tensor_content = Bytes::copy_from_slice(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_larger_than_a_graph_can_hold_are_refused_unallocated() {
        let p = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto::from_dims(&[1 << 20, 1 << 20])),
            float_val: vec![1.0],
            ..Default::default()
        };
        assert!(matches!(from_proto(&p), Err(TensorError::TooLarge(n)) if n == 1 << 40));
        let strings = TensorProto { dtype: DataType::DtString as i32, float_val: Vec::new(), ..p };
        assert!(matches!(from_proto(&strings), Err(TensorError::TooLarge(_))));
    }

    #[test]
    fn typed_values_repeat_the_last() {
        let p = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto::from_dims(&[3])),
            float_val: vec![1.0, 2.0],
            ..Default::default()
        };
        let t = from_proto(&p).unwrap();
        assert_eq!(t.f32s().unwrap(), [1.0, 2.0, 2.0]);
    }

    #[test]
    fn round_trip_every_pod_dtype() {
        use DataType::*;
        for dtype in [DtFloat, DtDouble, DtInt32, DtInt16, DtUint16, DtInt8, DtUint8, DtInt64, DtUint32, DtUint64, DtBool, DtHalf, DtBfloat16, DtComplex64, DtComplex128] {
            let size = dtype.byte_size().unwrap();
            for shape in [vec![], vec![3]] {
                let n: u64 = shape.iter().product();
                let bytes: Vec<u8> = (0..n as usize * size).map(|i| if dtype == DtBool { (i % 2) as u8 } else { (i * 7 + 1) as u8 }).collect();
                let t = Tensor { dtype, shape: shape.clone(), data: TensorData::Pod(Bytes::from(bytes)) };
                assert_eq!(from_proto(&to_proto(&t)).unwrap(), t, "{dtype:?} {shape:?}");
            }
        }
    }

    #[test]
    fn content_size_is_checked() {
        let p = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto::from_dims(&[3])),
            tensor_content: Bytes::from_static(&[0; 8]),
            ..Default::default()
        };
        assert!(matches!(from_proto(&p), Err(TensorError::ContentSize { .. })));
    }
}
