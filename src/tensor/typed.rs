//! Tensors from and to typed values, so that no pass writes the
//! little-endian encoding by hand.

use bytes::Bytes;

use super::{Tensor, TensorData, TensorError};
use crate::proto::tensorflow::DataType;

/// A fixed-size element type and the dtype that holds it.
pub trait Element: Copy {
    const DTYPE: DataType;
    const SIZE: usize;
    fn extend_le(self, out: &mut Vec<u8>);
    /// `bytes` is exactly `SIZE` long.
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($($ty:ty => $dtype:ident),* $(,)?) => {$(
        impl Element for $ty {
            const DTYPE: DataType = DataType::$dtype;
            const SIZE: usize = std::mem::size_of::<$ty>();
            fn extend_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$ty>()];
                a.copy_from_slice(bytes);
                <$ty>::from_le_bytes(a)
            }
        }
    )*};
}

element!(
    f32 => DtFloat,
    f64 => DtDouble,
    half::f16 => DtHalf,
    half::bf16 => DtBfloat16,
    i8 => DtInt8,
    u8 => DtUint8,
    i32 => DtInt32,
    i64 => DtInt64,
);

impl Tensor {
    /// A tensor of `shape` holding `values` row-major; their count is the
    /// caller's to match with the shape.
    pub fn from_values<T: Element>(shape: &[u64], values: &[T]) -> Tensor {
        let mut bytes = Vec::with_capacity(values.len() * T::SIZE);
        for &v in values {
            v.extend_le(&mut bytes);
        }
        Tensor { dtype: T::DTYPE, shape: shape.to_vec(), data: TensorData::Pod(Bytes::from(bytes)) }
    }

    pub fn from_f32s(shape: &[u64], values: &[f32]) -> Tensor {
        Tensor::from_values(shape, values)
    }

    pub fn from_i32s(shape: &[u64], values: &[i32]) -> Tensor {
        Tensor::from_values(shape, values)
    }

    pub fn from_i64s(shape: &[u64], values: &[i64]) -> Tensor {
        Tensor::from_values(shape, values)
    }

    /// The elements as `T`, which must be the tensor's own dtype.
    pub fn values<T: Element>(&self) -> Result<Vec<T>, TensorError> {
        if self.dtype != T::DTYPE {
            return Err(TensorError::WrongDtype { wanted: T::DTYPE.name(), actual: self.dtype });
        }
        Ok(self.pod(T::SIZE)?.chunks_exact(T::SIZE).map(T::from_le).collect())
    }

    pub fn f32s(&self) -> Result<Vec<f32>, TensorError> {
        self.values()
    }

    /// The elements of an int32 or int64 tensor (axes, shapes, sizes), widened.
    pub fn ints(&self) -> Result<Vec<i64>, TensorError> {
        match self.dtype {
            DataType::DtInt32 => Ok(self.values::<i32>()?.into_iter().map(i64::from).collect()),
            DataType::DtInt64 => self.values(),
            actual => Err(TensorError::WrongDtype { wanted: "int32 or int64", actual }),
        }
    }

    /// The one value of an int32 or int64 tensor of one element.
    pub fn scalar_int(&self) -> Result<i64, TensorError> {
        match self.ints()?.as_slice() {
            [v] => Ok(*v),
            values => Err(TensorError::NotScalar(values.len())),
        }
    }

    /// The raw bytes, checked to be whole elements of `size` bytes.
    /// The raw little-endian bytes of a numeric tensor.
    pub fn pod_bytes(&self) -> Result<&Bytes, TensorError> {
        self.pod(1)
    }

    fn pod(&self, size: usize) -> Result<&Bytes, TensorError> {
        match &self.data {
            TensorData::Pod(b) if b.len() % size == 0 => Ok(b),
            TensorData::Pod(b) => Err(TensorError::PartialElement { len: b.len(), size }),
            TensorData::Strings(_) => Err(TensorError::NotPod(self.dtype)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn f32s_round_trip_with_their_shape() {
        let t = Tensor::from_f32s(&[2, 2], &[1.0, -0.0, f32::INFINITY, 3.5]);
        assert_eq!((t.dtype, t.shape.as_slice()), (DataType::DtFloat, &[2u64, 2][..]));
        assert_eq!(t.byte_len(), 16);
        let back = t.f32s().unwrap();
        assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), [1.0f32, -0.0, f32::INFINITY, 3.5].map(f32::to_bits));
    }

    #[test]
    fn ints_widen_int32_and_read_int64() {
        assert_eq!(Tensor::from_i32s(&[3], &[-1, 0, i32::MAX]).ints().unwrap(), [-1, 0, i32::MAX as i64]);
        assert_eq!(Tensor::from_i64s(&[2], &[i64::MIN, 7]).ints().unwrap(), [i64::MIN, 7]);
    }

    #[test]
    fn scalar_int_wants_exactly_one_element() {
        assert_eq!(Tensor::from_i32s(&[], &[4]).scalar_int().unwrap(), 4);
        assert_eq!(Tensor::from_i64s(&[1], &[-2]).scalar_int().unwrap(), -2);
        assert!(matches!(Tensor::from_i32s(&[2], &[1, 2]).scalar_int(), Err(TensorError::NotScalar(2))));
    }

    #[test]
    fn a_view_of_another_dtype_is_a_dtype_error() {
        let floats = Tensor::from_f32s(&[1], &[1.0]);
        assert!(matches!(floats.ints(), Err(TensorError::WrongDtype { actual: DataType::DtFloat, .. })));
        let ints = Tensor::from_i32s(&[1], &[1]);
        assert!(matches!(ints.f32s(), Err(TensorError::WrongDtype { wanted: "float32", actual: DataType::DtInt32 })));
        let strings = Tensor { dtype: DataType::DtString, shape: vec![1], data: TensorData::Strings(vec![Bytes::new()]) };
        assert!(matches!(strings.f32s(), Err(TensorError::WrongDtype { actual: DataType::DtString, .. })));
        assert_eq!(
            floats.ints().unwrap_err().to_string(),
            "wanted int32 or int64 elements, the tensor holds float32"
        );
    }

    #[test]
    fn bytes_that_are_not_whole_elements_are_an_error() {
        let odd = Tensor { dtype: DataType::DtFloat, shape: vec![1], data: TensorData::Pod(Bytes::from_static(&[0; 6])) };
        assert!(matches!(odd.f32s(), Err(TensorError::PartialElement { len: 6, size: 4 })));
        let odd = Tensor { dtype: DataType::DtInt64, shape: vec![1], data: TensorData::Pod(Bytes::from_static(&[0; 4])) };
        assert!(matches!(odd.ints(), Err(TensorError::PartialElement { len: 4, size: 8 })));
    }

    proptest! {
        #[test]
        fn typed_values_survive_a_trip_through_bytes_and_proto(
            floats in proptest::collection::vec(any::<f32>(), 0..40),
            ints in proptest::collection::vec(any::<i64>(), 0..40),
        ) {
            let t = Tensor::from_f32s(&[floats.len() as u64], &floats);
            let back = super::super::from_proto(&super::super::to_proto(&t)).unwrap().f32s().unwrap();
            prop_assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), floats.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(Tensor::from_i64s(&[ints.len() as u64], &ints).ints().unwrap(), ints.clone());
            let narrow: Vec<i32> = ints.iter().map(|&v| v as i32).collect();
            let widened: Vec<i64> = narrow.iter().map(|&v| v as i64).collect();
            prop_assert_eq!(Tensor::from_i32s(&[narrow.len() as u64], &narrow).ints().unwrap(), widened);
        }
    }
}
