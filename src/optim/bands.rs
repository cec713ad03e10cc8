//! A preconditioner for images: the image is optimized as x = x₀ + P z from z = 0, where P adds
//! to the pixels their blurs by tents 5, 9, 17 … pixels wide, weighted by growing factors. L-BFGS
//! on z is L-BFGS on x started from the inverse Hessian γ·P² rather than γ·I: large shapes are
//! cheap to move and single pixels dear, as a coarse-to-fine pyramid makes them, without leaving
//! the full size (docs/COARSE_TO_FINE.md, "The band preconditioner: the default").

/// The most bands the device's graph (`optim_bands.onnx`) holds: tents up to 513 pixels wide.
pub const BANDS: usize = 8;

/// How much each band's weight grows over the one below (measured: docs/COARSE_TO_FINE.md).
const RATIO: f32 = 1.5;

/// P for one image size: y = w₀·x + Σₖ wₖ·Tₖx, Tₖ a zero-padded box blur of radius 2ᵏ⁻¹ applied
/// twice along rows and twice along columns (a tent 2ᵏ⁺¹ + 1 pixels wide). Each Tₖ is symmetric
/// and positive semi-definite, so P is symmetric positive definite.
#[derive(Clone, Debug, PartialEq)]
pub struct Bands {
    /// w₀ = 1, wₖ = cₖ − cₖ₋₁ with cₖ = RATIOᵏ.
    weights: Vec<f32>,
}

impl Bands {
    /// The bands for an image of `height` × `width`: tents up to half its longest side wide (at
    /// most 2^([`BANDS`] + 1)); `None` when it is too small for one (under 8 pixels).
    pub fn for_size(height: usize, width: usize) -> Option<Bands> {
        let quarter = height.max(width) / 4;
        let count = (quarter.max(1).ilog2() as usize).min(BANDS);
        if count == 0 {
            return None;
        }
        let c: Vec<f32> = (0..=count).map(|k| RATIO.powi(k as i32)).collect();
        let weights = std::iter::once(1.0)
            .chain(c.windows(2).map(|p| p[1] - p[0]))
            .collect();
        Some(Bands { weights })
    }

    /// How many bands.
    pub fn count(&self) -> usize {
        self.weights.len() - 1
    }

    /// The weights of P, for [`crate::optim::Graphs::bands`].
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// y = base + P x for images of `shape` (N×C×H×W) in host memory (base 0 when `None`). The
    /// same arithmetic as the device's graph: each blur in f64 by differences of prefix sums, each
    /// band rounded to f32, weighted and added band after band.
    pub fn apply(&self, shape: [usize; 4], base: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
        let (h, w) = (shape[2], shape[3]);
        let w0 = self.weights[0];
        match base {
            Some(base) => {
                for ((y, &x), &b) in y.iter_mut().zip(x).zip(base) {
                    *y = b + x * w0;
                }
            }
            None => {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = x * w0;
                }
            }
        }
        // On the calling thread: a thread pool's workers, idling after the blurs, would take the
        // cores from ONNX Runtime's threads at the next evaluation (docs/COARSE_TO_FINE.md).
        let (mut rows, mut strips) = (vec![0f64; h * w], vec![0f64; h * w]);
        let mut prefix = Vec::new();
        for (k, &weight) in self.weights.iter().enumerate().skip(1) {
            let r = 1usize << (k - 1);
            for (x, y) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(h * w)) {
                for (row, x) in rows.chunks_exact_mut(w).zip(x.chunks_exact(w)) {
                    for (p, &v) in row.iter_mut().zip(x) {
                        *p = f64::from(v);
                    }
                    box_blur_row(row, r, &mut prefix);
                    box_blur_row(row, r, &mut prefix);
                }
                for (s, strip) in strips.chunks_mut(h * STRIP).enumerate() {
                    let (c0, sw) = (s * STRIP, strip.len() / h);
                    let columns = rows.chunks_exact(w).map(|row| &row[c0..][..sw]);
                    column_sums(&mut prefix, columns, sw, r);
                    column_blur(&prefix, strip, sw, r);
                    column_sums(&mut prefix, strip.chunks_exact(sw), sw, r);
                    column_blur(&prefix, strip, sw, r);
                }
                for (i, y) in y.chunks_exact_mut(w).enumerate() {
                    for (s, y) in y.chunks_mut(STRIP).enumerate() {
                        let t = &strips[s * h * STRIP + i * y.len()..][..y.len()];
                        for (v, &t) in y.iter_mut().zip(t) {
                            *v += t as f32 * weight;
                        }
                    }
                }
            }
        }
    }
}

/// Columns per strip of the column passes: a strip, its prefix sums and its rows stay in cache.
const STRIP: usize = 64;

/// `row` = its sums over windows of radius `r` (zero beyond its ends) ÷ (2r + 1): the inclusive
/// prefix sums S of the row with r + 1 zeros before and r after, S[i + 2r + 1] − S[i].
fn box_blur_row(row: &mut [f64], r: usize, prefix: &mut Vec<f64>) {
    let norm = 1.0 / (2 * r + 1) as f64;
    prefix.clear();
    prefix.resize(r + 1, 0.0);
    let mut sum = 0f64;
    for &v in row.iter() {
        sum += v;
        prefix.push(sum);
    }
    prefix.resize(row.len() + 2 * r + 1, sum);
    for (i, o) in row.iter_mut().enumerate() {
        *o = (prefix[i + 2 * r + 1] - prefix[i]) * norm;
    }
}

/// The inclusive prefix sums down the columns of `rows` (each `w` wide) with r + 1 zero rows
/// before and r after, as [`box_blur_row`]'s along a row: row by row, each the one above plus the
/// next, so memory is read in order.
fn column_sums<'a>(
    prefix: &mut Vec<f64>,
    rows: impl ExactSizeIterator<Item = &'a [f64]>,
    w: usize,
    r: usize,
) {
    let h = rows.len();
    prefix.clear();
    prefix.resize((h + 2 * r + 1) * w, 0.0);
    for (i, row) in rows.enumerate() {
        let (above, below) = prefix.split_at_mut((r + 1 + i) * w);
        let last = &above[above.len() - w..];
        for ((s, &l), &v) in below[..w].iter_mut().zip(last).zip(row) {
            *s = l + v;
        }
    }
    let (sums, tail) = prefix.split_at_mut((h + r + 1) * w);
    for padded in tail.chunks_exact_mut(w) {
        padded.copy_from_slice(&sums[sums.len() - w..]);
    }
}

/// `out` (rows `w` wide) = the box blur of radius `r` down its columns, from their prefix sums
/// S: S[i + 2r + 1] − S[i], ÷ (2r + 1).
fn column_blur(prefix: &[f64], out: &mut [f64], w: usize, r: usize) {
    let norm = 1.0 / (2 * r + 1) as f64;
    for (i, row) in out.chunks_exact_mut(w).enumerate() {
        let (low, high) = (&prefix[i * w..][..w], &prefix[(i + 2 * r + 1) * w..][..w]);
        for ((o, &a), &b) in row.iter_mut().zip(low).zip(high) {
            *o = (b - a) * norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(h: usize, w: usize, seed: usize) -> Vec<f32> {
        (0..2 * h * w)
            .map(|i| (((i + seed) * 7919) % 1009) as f32 / 1009.0 - 0.3)
            .collect()
    }

    /// Row `i` of B², B the n×n box of radius r cut at the ends (Bᵢⱼ = 1/(2r+1) for |i − j| ≤ r).
    fn tent_row(n: usize, r: usize, i: usize) -> Vec<f64> {
        let b = |i: usize, j: usize| f64::from(u8::from(i.abs_diff(j) <= r)) / (2 * r + 1) as f64;
        (0..n)
            .map(|j| (0..n).map(|m| b(i, m) * b(m, j)).sum())
            .collect()
    }

    /// P x at (row, col) by a direct sum: each band's tent is B² along each axis.
    fn direct(bands: &Bands, (h, w): (usize, usize), x: &[f32], row: usize, col: usize) -> f32 {
        let weights = bands.weights();
        let mut y = x[row * w + col] * weights[0];
        for (k, &wk) in weights.iter().enumerate().skip(1) {
            let r = 1 << (k - 1);
            let (down, across) = (tent_row(h, r, row), tent_row(w, r, col));
            let mut sum = 0f64;
            for (yy, &a) in down.iter().enumerate() {
                for (xx, &b) in across.iter().enumerate() {
                    sum += a * b * f64::from(x[yy * w + xx]);
                }
            }
            y += sum as f32 * wk;
        }
        y
    }

    #[test]
    fn bands_reach_a_quarter_of_the_longest_side() {
        assert_eq!(Bands::for_size(320, 512).unwrap().count(), 7);
        assert_eq!(Bands::for_size(160, 256).unwrap().count(), 6);
        assert_eq!(Bands::for_size(2000, 3000).unwrap().count(), BANDS);
        assert_eq!(Bands::for_size(6, 7), None);
    }

    #[test]
    fn the_bands_are_weighted_tents_cut_at_the_edges() {
        // 150 columns: three strips of the column passes, the last one partial.
        for (h, w) in [(13, 22), (10, 150)] {
            let x = image(h, w, 0);
            let bands = Bands::for_size(h, w).unwrap();
            let mut y = vec![0.0; x.len()];
            bands.apply([1, 2, h, w], None, &x, &mut y);
            for plane in 0..2 {
                let x = &x[plane * h * w..][..h * w];
                let (last_row, last_col) = (h - 1, w - 1);
                for (row, col) in [(0, 0), (5, 17), (last_row, last_col), (last_row, 0), (8, 9)]
                    .into_iter()
                    .chain(
                        [(3, 63), (4, 64), (9, 128), (2, 140)]
                            .into_iter()
                            .filter(|_| w > 128),
                    )
                {
                    let expected = direct(&bands, (h, w), x, row, col);
                    let got = y[plane * h * w + row * w + col];
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "{h}×{w} ({row}, {col}): {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn p_is_symmetric_and_adds_the_base() {
        let (h, w) = (37, 50);
        let (a, b, base) = (image(h, w, 0), image(h, w, 3), image(h, w, 11));
        let bands = Bands::for_size(h, w).unwrap();
        let (mut pa, mut pb, mut shifted) =
            (vec![0.0; a.len()], vec![0.0; a.len()], vec![0.0; a.len()]);
        bands.apply([1, 2, h, w], None, &a, &mut pa);
        bands.apply([1, 2, h, w], None, &b, &mut pb);
        let dot =
            |u: &[f32], v: &[f32]| u.iter().zip(v).map(|(p, q)| f64::from(p * q)).sum::<f64>();
        let (apb, pab) = (dot(&a, &pb), dot(&pa, &b));
        assert!((apb - pab).abs() < 1e-4 * apb.abs(), "{apb} vs {pab}");
        bands.apply([1, 2, h, w], Some(&base), &a, &mut shifted);
        for ((s, p), q) in shifted.iter().zip(&pa).zip(&base) {
            assert!((s - (p + q)).abs() < 1e-5);
        }
    }
}
