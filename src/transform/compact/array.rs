//! Float constants as row-major arrays: what compacting does to weights is
//! dropping slices along one axis and adding per-channel vectors.

use crate::proto::tensorflow::DataType;
use crate::tensor::{Tensor, TensorData};

#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    pub fn of(tensor: &Tensor) -> Option<Array> {
        let shape = tensor.shape.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<_>>>()?;
        Some(Array { shape, data: tensor.f32s().ok()? })
    }

    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_f32s(&self.shape.iter().map(|&d| d as u64).collect::<Vec<_>>(), &self.data)
    }

    /// (elements before `axis`, its length, elements after): every element is
    /// `data[(outer * len + i) * inner + j]`.
    fn split_at(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.shape[..axis].iter().product();
        let inner = self.shape[axis + 1..].iter().product();
        (outer, self.shape[axis], inner)
    }

    /// The slices along `axis` whose `keep` is true.
    pub fn select(&self, axis: usize, keep: &[bool]) -> Array {
        let (outer, len, inner) = self.split_at(axis);
        debug_assert_eq!(len, keep.len());
        let mut data = Vec::with_capacity(self.data.len() / len.max(1) * keep.iter().filter(|&&k| k).count());
        for o in 0..outer {
            for (i, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
                let start = (o * len + i) * inner;
                data.extend_from_slice(&self.data[start..start + inner]);
            }
        }
        let mut shape = self.shape.clone();
        shape[axis] = keep.iter().filter(|&&k| k).count();
        Array { shape, data }
    }

    /// Sums over every axis but `axis`.
    pub fn sum_along(&self, axis: usize) -> Vec<f64> {
        let (outer, len, inner) = self.split_at(axis);
        let mut out = vec![0.0; len];
        for o in 0..outer {
            for (i, sum) in out.iter_mut().enumerate() {
                *sum += self.data[(o * len + i) * inner..][..inner].iter().map(|&v| v as f64).sum::<f64>();
            }
        }
        out
    }

    /// For a matrix-like view `[.., k, .., j]` summed over every axis but
    /// `row` and `col`: `out[k][j]`, what a uniform input channel `k`
    /// contributes to output `j` of a convolution or matmul.
    pub fn sum_to(&self, row: usize, col: usize) -> Vec<Vec<f64>> {
        let (rows, cols) = (self.shape[row], self.shape[col]);
        let mut out = vec![vec![0.0; cols]; rows];
        let mut index = vec![0usize; self.shape.len()];
        for &v in &self.data {
            out[index[row]][index[col]] += v as f64;
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                if index[axis] < self.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        out
    }
}

/// A float constant's shape and its bytes as the graph holds them (no copy):
/// enough to find zero channels of filters hundreds of MB large.
#[derive(Debug, Clone)]
pub struct View {
    pub shape: Vec<usize>,
    bytes: bytes::Bytes,
}

impl View {
    pub fn of(tensor: &Tensor) -> Option<View> {
        let TensorData::Pod(bytes) = &tensor.data else { return None };
        let shape = tensor.shape.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<_>>>()?;
        (tensor.dtype == DataType::DtFloat).then(|| View { shape, bytes: bytes.clone() })
    }

    /// The same elements in another shape of as many.
    pub fn reshaped(self, shape: Vec<usize>) -> View {
        debug_assert_eq!(shape.iter().product::<usize>(), self.shape.iter().product::<usize>());
        View { shape, ..self }
    }

    /// Which slices along `axis` are all zeros (`-0.0` included), in one
    /// pass over the bytes.
    pub fn zero_slices(&self, axis: usize) -> Vec<bool> {
        let len = self.shape[axis];
        let inner: usize = self.shape[axis + 1..].iter().product();
        let mut zero = vec![true; len];
        if len == 0 || inner == 0 {
            return zero;
        }
        for (row, chunk) in self.bytes.chunks(4 * inner).enumerate() {
            let z = &mut zero[row % len];
            if *z {
                // The sign bit aside, a float is zero when all its bits are.
                *z = chunk.chunks_exact(4).all(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff == 0);
            }
        }
        zero
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[usize]) -> Array {
        let n = shape.iter().product::<usize>();
        Array { shape: shape.to_vec(), data: (0..n).map(|v| v as f32).collect() }
    }

    #[test]
    fn select_keeps_slices_along_an_axis() {
        let a = array(&[2, 3]);
        assert_eq!(a.select(1, &[true, false, true]).data, [0.0, 2.0, 3.0, 5.0]);
        assert_eq!(a.select(0, &[false, true]), Array { shape: vec![1, 3], data: vec![3.0, 4.0, 5.0] });
    }

    #[test]
    fn sums_over_the_other_axes() {
        // [h=2, k=1, j=2]: out[k][j] = sum over h.
        let a = array(&[2, 1, 2]);
        assert_eq!(a.sum_to(1, 2), vec![vec![0.0 + 2.0, 1.0 + 3.0]]);
        assert_eq!(a.sum_along(2), [0.0 + 2.0, 1.0 + 3.0]);
    }

    #[test]
    fn zero_slices_count_negative_zero() {
        let v = View::of(&Array { shape: vec![2, 2], data: vec![0.0, 1.0, -0.0, 2.0] }.to_tensor()).unwrap();
        assert_eq!(v.zero_slices(1), [true, false]);
        assert_eq!(v.zero_slices(0), [false, false]);
        let v = View::of(&Array { shape: vec![2, 2, 1], data: vec![0.0, 1.0, -0.0, 0.0] }.to_tensor()).unwrap();
        assert_eq!(v.zero_slices(1), [true, false]);
    }
}
