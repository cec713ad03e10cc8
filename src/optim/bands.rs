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
        let mut scratch = Scratch::default();
        for (k, &weight) in self.weights.iter().enumerate().skip(1) {
            let r = 1usize << (k - 1);
            for (x, y) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(h * w)) {
                add_tent(x, y, w, r, weight, &mut scratch);
            }
        }
    }
}

/// The buffers of [`add_tent`], kept from band to band.
#[derive(Default)]
struct Scratch {
    row: Vec<f64>,
    out: Vec<f64>,
    prefix: [Vec<f64>; 2],
    first: Ring,
    second: Ring,
}

/// y += weight · the tent of radius r of the plane x (rows `w` wide): the box blur of radius r
/// twice along the rows, then twice down the columns. It streams down the plane, so that what it
/// works on stays in cache: each row of x is blurred along its length and pushed into the first
/// column pass, whose rows feed the second, whose rows go to y.
fn add_tent(x: &[f32], y: &mut [f32], w: usize, r: usize, weight: f32, s: &mut Scratch) {
    let h = x.len() / w;
    let norm = 1.0 / (2 * r + 1) as f64;
    s.row.resize(w, 0.0);
    s.out.resize(w, 0.0);
    s.first.reset(w, r);
    s.second.reset(w, r);
    // Row i of a column pass is ready once row min(i + r, h − 1) of its input is in.
    let ready = |i: usize, ring: &Ring| i < h && (i + r).min(h - 1) < ring.count;
    let (mut next_first, mut next_second) = (0, 0);
    for x in x.chunks_exact(w) {
        for (p, &v) in s.row.iter_mut().zip(x) {
            *p = f64::from(v);
        }
        blur_row_twice(&mut s.row, r, &mut s.prefix);
        s.first.push(&s.row);
        while ready(next_first, &s.first) {
            s.first.blur(next_first, r, h, norm, &mut s.row);
            s.second.push(&s.row);
            next_first += 1;
            // Drained at each push: the ring keeps only the rows the next blur needs.
            while ready(next_second, &s.second) {
                s.second.blur(next_second, r, h, norm, &mut s.out);
                for (v, &t) in y[next_second * w..][..w].iter_mut().zip(&s.out) {
                    *v += t as f32 * weight;
                }
                next_second += 1;
            }
        }
    }
}

/// A box blur of radius r down the columns of a stream of rows: the inclusive prefix sums S of the
/// rows (with r + 1 zero rows before and r after, as along a row), of which S[i + 2r + 1] − S[i]
/// gives row i. Only the last 2r + 2 sums are kept.
#[derive(Default)]
struct Ring {
    sums: Vec<f64>,
    /// Rows pushed so far.
    count: usize,
    /// Sums kept (2r + 2).
    len: usize,
    w: usize,
}

impl Ring {
    fn reset(&mut self, w: usize, r: usize) {
        (self.len, self.w, self.count) = (2 * r + 2, w, 0);
        self.sums.clear();
        self.sums.resize(self.len * w, 0.0);
    }

    /// The sum of rows 0 to `t` (one of the last `len` pushed).
    fn sum(&self, t: usize) -> &[f64] {
        &self.sums[t % self.len * self.w..][..self.w]
    }

    /// Adds the next row: its sum is the last one (zero for the first) plus it.
    fn push(&mut self, row: &[f64]) {
        let (w, slot) = (self.w, self.count % self.len);
        match self.count {
            0 => self.sums[..w].fill(0.0),
            n => {
                let last = (n - 1) % self.len * w;
                self.sums.copy_within(last..last + w, slot * w);
            }
        }
        for (s, &v) in self.sums[slot * w..][..w].iter_mut().zip(row) {
            *s += v;
        }
        self.count += 1;
    }

    /// `out` = row `i` of the blur of the `h` rows (once row min(i + r, h − 1) is in).
    fn blur(&self, i: usize, r: usize, h: usize, norm: f64, out: &mut [f64]) {
        let high = self.sum((i + r).min(h - 1));
        if i > r {
            for ((o, &a), &b) in out.iter_mut().zip(self.sum(i - r - 1)).zip(high) {
                *o = (b - a) * norm;
            }
        } else {
            for (o, &b) in out.iter_mut().zip(high) {
                *o = b * norm;
            }
        }
    }
}

/// `row` = itself blurred twice along its length by the box of radius `r` (zero beyond its ends),
/// each pass from the inclusive prefix sums S of its input with r + 1 zeros before and r after:
/// S[i + 2r + 1] − S[i], ÷ (2r + 1). The first pass's values go straight into the second's sums.
fn blur_row_twice(row: &mut [f64], r: usize, prefix: &mut [Vec<f64>; 2]) {
    let (n, span) = (row.len(), 2 * r + 1);
    let norm = 1.0 / span as f64;
    let [first, second] = prefix;
    for p in [&mut *first, &mut *second] {
        p.clear();
        p.resize(n + span, 0.0);
    }
    let mut sum = 0f64;
    for (p, &v) in first[r + 1..][..n].iter_mut().zip(row.iter()) {
        sum += v;
        *p = sum;
    }
    first[r + 1 + n..].fill(sum);
    let mut sum = 0f64;
    for (p, (&a, &b)) in second[r + 1..][..n]
        .iter_mut()
        .zip(first.iter().zip(&first[span..]))
    {
        sum += (b - a) * norm;
        *p = sum;
    }
    second[r + 1 + n..].fill(sum);
    for (o, (&a, &b)) in row.iter_mut().zip(second.iter().zip(&second[span..])) {
        *o = (b - a) * norm;
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
        // 70 rows: more than the column passes' rings keep, so they wrap; 10 rows of 150: tents
        // taller than the image.
        for (h, w) in [(13, 22), (70, 40), (10, 150)] {
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
