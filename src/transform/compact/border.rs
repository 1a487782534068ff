//! What removed constant input channels add to each output position of a
//! padded convolution. Inside the image every window sees the constant at
//! every tap; at the border some taps fall on the padding's zeros. Output
//! rows (and columns) with the same taps inside the image get the same
//! contribution, so it is computed once per pattern.

use std::collections::HashMap;

use super::array::Array;
use super::flow::Border;

/// The window's geometry along the two spatial axes.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// Padding before the first row and column.
    pub before: [usize; 2],
}

impl Window {
    /// SAME padding as TensorFlow places it: the odd row or column after.
    pub fn same(border: &Border, kernel: [usize; 2], strides: [usize; 2], dilations: [usize; 2]) -> Window {
        let before = [0, 1].map(|a| {
            let effective = (kernel[a] - 1) * dilations[a] + 1;
            let total = ((border.output[a].saturating_sub(1)) * strides[a] + effective).saturating_sub(border.input[a]);
            total / 2
        });
        Window { strides, dilations, before }
    }
}

/// Which taps of a window at output index `o` lie inside an input of `size`.
fn taps_inside(o: usize, size: usize, kernel: usize, stride: usize, dilation: usize, before: usize) -> Vec<bool> {
    (0..kernel)
        .map(|t| {
            let i = (o * stride + t * dilation) as i64 - before as i64;
            i >= 0 && (i as usize) < size
        })
        .collect()
}

/// `[H_out, W_out, C_out]` (channel-last) of what the constant input
/// channels `(k, v)` add through `filter` `[kh, kw, C_in, C_out]`.
pub fn contribution(filter: &Array, constants: &[(usize, f64)], border: &Border, window: &Window) -> Array {
    let [kh, kw, _, cout] = [0, 1, 2, 3].map(|a| filter.shape[a]);
    let rows: Vec<Vec<bool>> = (0..border.output[0])
        .map(|o| taps_inside(o, border.input[0], kh, window.strides[0], window.dilations[0], window.before[0]))
        .collect();
    let cols: Vec<Vec<bool>> = (0..border.output[1])
        .map(|o| taps_inside(o, border.input[1], kw, window.strides[1], window.dilations[1], window.before[1]))
        .collect();
    let at = |h: usize, w: usize, k: usize, j: usize| filter.data[((h * kw + w) * filter.shape[2] + k) * cout + j];
    let mut cache: HashMap<(&[bool], &[bool]), Vec<f32>> = HashMap::new();
    let mut data = Vec::with_capacity(border.output[0] * border.output[1] * cout);
    for r in &rows {
        for c in &cols {
            let sums = cache.entry((r, c)).or_insert_with(|| {
                let mut sums = vec![0.0f64; cout];
                for h in (0..kh).filter(|&h| r[h]) {
                    for w in (0..kw).filter(|&w| c[w]) {
                        for &(k, v) in constants {
                            for (j, s) in sums.iter_mut().enumerate() {
                                *s += v * at(h, w, k, j) as f64;
                            }
                        }
                    }
                }
                sums.into_iter().map(|s| s as f32).collect()
            });
            data.extend_from_slice(sums);
        }
    }
    Array { shape: vec![border.output[0], border.output[1], cout], data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_edges_and_interior_see_their_taps() {
        // 3x3 filter of ones, one input channel of value 2, 4x4 SAME stride 1.
        let filter = Array { shape: vec![3, 3, 1, 1], data: vec![1.0; 9] };
        let border = Border { input: [4, 4], output: [4, 4], after: 0 };
        let window = Window::same(&border, [3, 3], [1, 1], [1, 1]);
        assert_eq!(window.before, [1, 1]);
        let c = contribution(&filter, &[(0, 2.0)], &border, &window);
        assert_eq!(c.data[0], 2.0 * 4.0, "corner: 2x2 taps inside");
        assert_eq!(c.data[1], 2.0 * 6.0, "edge: 2x3 taps inside");
        assert_eq!(c.data[5], 2.0 * 9.0, "interior: every tap");
    }

    #[test]
    fn strided_same_padding_puts_the_odd_row_after() {
        // 4 inputs, kernel 3, stride 2: 2 outputs, 1 row of padding in total, after.
        let border = Border { input: [4, 4], output: [2, 2], after: 0 };
        assert_eq!(Window::same(&border, [3, 3], [2, 2], [1, 1]).before, [0, 0]);
    }
}
