//! A preconditioner for images: the image is optimized as x = P z, where P weights the bands
//! between block means of 2, 4, 8 … pixels by growing factors. L-BFGS on z is L-BFGS on x started
//! from the inverse Hessian γ·P² rather than γ·I: large shapes are cheap to move and single pixels
//! dear, as a coarse-to-fine pyramid makes them, without leaving the full size
//! (docs/COARSE_TO_FINE.md, "The band preconditioner: the default").

/// The most bands the device's graph (`optim_bands.onnx`) holds: blocks up to 256 pixels.
pub const BANDS: usize = 8;

/// How much each band's weight grows over the one below (measured: docs/COARSE_TO_FINE.md).
const RATIO: f32 = 1.5;

/// P and P⁻¹ for one image size, each as the weights of a sum of the image
/// and its block means: y = w₀·x + Σₖ wₖ·Bₖx, Bₖ the mean over each 2ᵏ-pixel block.
#[derive(Clone, Debug, PartialEq)]
pub struct Bands {
    /// Weights of P: w₀ = 1, wₖ = cₖ − cₖ₋₁ with cₖ = RATIOᵏ.
    forward: Vec<f32>,
    /// Weights of P⁻¹: w₀ = 1, wₖ = 1/cₖ − 1/cₖ₋₁ (the bands are nested orthogonal projections).
    inverse: Vec<f32>,
}

impl Bands {
    /// The bands for an image of `height` × `width`: blocks up to a quarter of its longest side
    /// (at most 2^[`BANDS`]); `None` when it is too small for one (under 8 pixels).
    pub fn for_size(height: usize, width: usize) -> Option<Bands> {
        let quarter = height.max(width) / 4;
        let count = (quarter.max(1).ilog2() as usize).min(BANDS);
        if count == 0 {
            return None;
        }
        let c: Vec<f32> = (0..=count).map(|k| RATIO.powi(k as i32)).collect();
        let weights = |f: fn(f32) -> f32| -> Vec<f32> {
            std::iter::once(1.0)
                .chain(c.windows(2).map(|p| f(p[1]) - f(p[0])))
                .collect()
        };
        Some(Bands {
            forward: weights(|c| c),
            inverse: weights(|c| 1.0 / c),
        })
    }

    /// How many bands (block sizes 2 to 2^count).
    pub fn count(&self) -> usize {
        self.forward.len() - 1
    }

    /// The weights of P (`inverse` false) or P⁻¹, for [`crate::optim::Graphs::bands`].
    pub fn weights(&self, inverse: bool) -> &[f32] {
        if inverse {
            &self.inverse
        } else {
            &self.forward
        }
    }

    /// y = P x (`inverse` false) or P⁻¹ x, for images of `shape` (N×C×H×W) in host memory. The
    /// same arithmetic as the device's graph: block sums in f64, each mean rounded to f32,
    /// weighted and added band after band.
    pub fn apply(&self, inverse: bool, shape: [usize; 4], x: &[f32], y: &mut [f32]) {
        let weights = self.weights(inverse);
        let (h, w) = (shape[2], shape[3]);
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * weights[0];
        }
        let mut sums = Vec::new();
        for (k, &weight) in weights.iter().enumerate().skip(1) {
            let (hb, wb) = (h.div_ceil(1 << k), w.div_ceil(1 << k));
            for (x, y) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(h * w)) {
                sums.clear();
                sums.resize(hb * wb, 0f64);
                for (row, line) in x.chunks_exact(w).enumerate() {
                    let block_row = &mut sums[(row >> k) * wb..][..wb];
                    for (col, &v) in line.iter().enumerate() {
                        block_row[col >> k] += f64::from(v);
                    }
                }
                let side = |i: usize, n: usize| ((i + 1) << k).min(n) - (i << k);
                let means: Vec<f32> = sums
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| {
                        let count = side(i / wb, h) * side(i % wb, w);
                        (s / count as f64) as f32 * weight
                    })
                    .collect();
                for (row, line) in y.chunks_exact_mut(w).enumerate() {
                    let block_row = &means[(row >> k) * wb..][..wb];
                    for (col, v) in line.iter_mut().enumerate() {
                        *v += block_row[col >> k];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mean of x over the 2ᵏ-block of (row, col), summed directly.
    fn block_mean(x: &[f32], (h, w): (usize, usize), k: usize, row: usize, col: usize) -> f32 {
        let b = 1 << k;
        let (r0, c0) = (row / b * b, col / b * b);
        let (r1, c1) = ((r0 + b).min(h), (c0 + b).min(w));
        let mut sum = 0f64;
        for r in r0..r1 {
            for c in c0..c1 {
                sum += f64::from(x[r * w + c]);
            }
        }
        (sum / ((r1 - r0) * (c1 - c0)) as f64) as f32
    }

    fn image(h: usize, w: usize) -> Vec<f32> {
        (0..2 * h * w)
            .map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.3)
            .collect()
    }

    #[test]
    fn bands_reach_a_quarter_of_the_longest_side() {
        assert_eq!(Bands::for_size(320, 512).unwrap().count(), 7);
        assert_eq!(Bands::for_size(160, 256).unwrap().count(), 6);
        assert_eq!(
            Bands::for_size(2000, 3000).unwrap().forward.len(),
            BANDS + 1
        );
        assert_eq!(Bands::for_size(6, 7), None);
    }

    #[test]
    fn the_bands_are_weighted_block_means_with_partial_edge_blocks() {
        let (h, w) = (13, 22);
        let x = image(h, w);
        let bands = Bands::for_size(h, w).unwrap();
        let mut y = vec![0.0; x.len()];
        bands.apply(false, [1, 2, h, w], &x, &mut y);
        let weights = bands.weights(false);
        for plane in 0..2 {
            let x = &x[plane * h * w..][..h * w];
            for (row, col) in [(0, 0), (5, 17), (12, 21), (12, 0), (8, 9)] {
                let mut expected = x[row * w + col] * weights[0];
                for (k, &wk) in weights.iter().enumerate().skip(1) {
                    expected += block_mean(x, (h, w), k, row, col) * wk;
                }
                let got = y[plane * h * w + row * w + col];
                assert!(
                    (got - expected).abs() < 1e-6,
                    "({row}, {col}): {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn the_inverse_undoes_the_bands() {
        let (h, w) = (37, 50);
        let x = image(h, w);
        let bands = Bands::for_size(h, w).unwrap();
        let (mut y, mut back) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        bands.apply(false, [1, 2, h, w], &x, &mut y);
        assert!(x.iter().zip(&y).any(|(a, b)| (a - b).abs() > 0.01));
        bands.apply(true, [1, 2, h, w], &y, &mut back);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
