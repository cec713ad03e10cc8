//! Dense optical flow by DIS (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", 2016):
//! on an image pyramid from coarse to fine, patches on a grid find their displacement by inverse
//! compositional Gauss–Newton search, overlapping patches are blended into a dense field, and a few
//! iterations of variational refinement (brightness and gradient constancy, robust penalties,
//! edge-preserving smoothness) polish it. Every pass runs row- or patch-parallel on rayon.

use anyhow::{bail, Result};
use ndarray::{Array2, ArrayView2, ArrayView4};
use rayon::prelude::*;

use super::warp::bilinear;

/// A dense displacement field: pixel (x, y) of the first frame corresponds to
/// (x + u, y + v) in the second.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// Horizontal displacement in pixels (positive: to the right), H×W.
    pub u: Array2<f32>,
    /// Vertical displacement in pixels (positive: down), H×W.
    pub v: Array2<f32>,
}

impl Flow {
    /// A zero field of `height × width`.
    pub fn zeros(height: usize, width: usize) -> Flow {
        Flow {
            u: Array2::zeros((height, width)),
            v: Array2::zeros((height, width)),
        }
    }

    /// `(height, width)`.
    pub fn dim(&self) -> (usize, usize) {
        self.u.dim()
    }
}

/// Settings of [`flow`]; the defaults suit video frames of a few hundred pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowParams {
    /// Most pyramid levels, the full-size image included; fewer are used when the coarsest would
    /// be smaller than two patches.
    pub max_levels: usize,
    /// The finest level searched and refined (0: full size); finer levels get the upsampled flow.
    pub finest_level: usize,
    /// Side of the square patches, in pixels.
    pub patch_size: usize,
    /// Distance between neighbouring patches (less than `patch_size`: they overlap; more is
    /// taken as `patch_size`).
    pub patch_stride: usize,
    /// Gauss–Newton iterations per patch.
    pub patch_iterations: usize,
    /// Fixed-point iterations of the variational refinement per level (0: none).
    pub refine_iterations: usize,
    /// Successive over-relaxation sweeps per fixed-point iteration.
    pub sor_iterations: usize,
    /// Weight of the smoothness term.
    pub alpha: f32,
    /// Weight of brightness constancy.
    pub delta: f32,
    /// Weight of gradient constancy.
    pub gamma: f32,
}

impl Default for FlowParams {
    fn default() -> Self {
        FlowParams {
            max_levels: 5,
            finest_level: 0,
            patch_size: 8,
            patch_stride: 4,
            patch_iterations: 12,
            refine_iterations: 5,
            sor_iterations: 5,
            alpha: 20.0,
            delta: 5.0,
            gamma: 10.0,
        }
    }
}

/// Named flow settings, after OpenCV's `DISOpticalFlow` presets (the same finest level, patch
/// size and stride, search and refinement iterations), and the accurate `quality` one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowPreset {
    /// Coarse: searched down to a quarter of full size, no refinement.
    Ultrafast,
    /// Searched and refined down to a quarter of full size.
    Fast,
    /// Searched and refined down to half size, denser patches, more search iterations.
    Medium,
    /// Searched and refined at full size (the default of `video`).
    #[default]
    Quality,
}

impl FlowPreset {
    /// Every preset, fastest first.
    pub const ALL: [FlowPreset; 4] = [
        FlowPreset::Ultrafast,
        FlowPreset::Fast,
        FlowPreset::Medium,
        FlowPreset::Quality,
    ];

    /// The preset's name, as `--flow-preset` takes it.
    pub fn name(self) -> &'static str {
        match self {
            FlowPreset::Ultrafast => "ultrafast",
            FlowPreset::Fast => "fast",
            FlowPreset::Medium => "medium",
            FlowPreset::Quality => "quality",
        }
    }

    /// The settings it stands for.
    pub fn params(self) -> FlowParams {
        let (finest_level, patch_stride, patch_iterations, refine_iterations) = match self {
            FlowPreset::Ultrafast => (2, 4, 12, 0),
            FlowPreset::Fast => (2, 4, 16, 5),
            FlowPreset::Medium => (1, 3, 25, 5),
            FlowPreset::Quality => (0, 4, 12, 5),
        };
        FlowParams {
            finest_level,
            patch_stride,
            patch_iterations,
            refine_iterations,
            ..FlowParams::default()
        }
    }
}

impl std::str::FromStr for FlowPreset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FlowPreset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("'{s}' is not a flow preset: use ultrafast, fast, medium or quality")
            })
    }
}

/// Luma (BT.601 weights) of a 1×3×H×W RGB tensor, or the single plane of a 1×1×H×W one, as the
/// H×W grayscale image that [`flow`] takes.
pub fn luma(image: ArrayView4<f32>) -> Result<Array2<f32>> {
    let (n, c, h, w) = image.dim();
    match (n, c) {
        (1, 1) => Ok(image.slice(ndarray::s![0, 0, .., ..]).to_owned()),
        (1, 3) => Ok(crate::picture::luminance(image).into_shape_with_order((h, w))?),
        _ => bail!("expected a 1×3×H×W or 1×1×H×W image, got {n}×{c}×{h}×{w}"),
    }
}

/// Dense optical flow from grayscale frame `a` to frame `b` (same size; values in [0, 1]): for
/// each pixel x of `a`, the displacement w(x) such that `a(x)` ≈ `b(x + w(x))`.
pub fn flow(a: ArrayView2<f32>, b: ArrayView2<f32>, params: &FlowParams) -> Result<Flow> {
    if a.dim() != b.dim() {
        bail!(
            "cannot compute optical flow between frames of {}x{} and {}x{} pixels",
            a.dim().1,
            a.dim().0,
            b.dim().1,
            b.dim().0
        );
    }
    let (h, w) = a.dim();
    if h == 0 || w == 0 {
        bail!("cannot compute optical flow on an empty {w}x{h} frame");
    }
    if params.patch_size == 0 || params.patch_stride == 0 {
        bail!("flow parameters: patch size and stride must be at least 1");
    }
    let levels = level_count(w, h, params);
    let pa = pyramid(Plane::from_view(a), levels);
    let pb = pyramid(Plane::from_view(b), levels);
    let finest = params.finest_level.min(levels - 1);

    let mut field: Option<(Plane, Plane)> = None;
    for level in (finest..levels).rev() {
        let (i0, i1) = (&pa[level], &pb[level]);
        let (mut u, mut v) = match field.take() {
            Some((u, v)) => (upsample(&u, i0.w, i0.h), upsample(&v, i0.w, i0.h)),
            None => (Plane::zeros(i0.w, i0.h), Plane::zeros(i0.w, i0.h)),
        };
        let (i0x, i0y) = i0.gradient();
        if i0.w >= params.patch_size && i0.h >= params.patch_size {
            let search = PatchSearch::new(i0, i1, &i0x, &i0y, params);
            let patches = search.run(&u, &v);
            (u, v) = search.densify(&patches);
        }
        refine(i0, i1, &i0x, &i0y, &mut u, &mut v, params);
        field = Some((u, v));
    }
    let (mut u, mut v) = field.expect("at least one level");
    for level in (0..finest).rev() {
        let (lw, lh) = (pa[level].w, pa[level].h);
        (u, v) = (upsample(&u, lw, lh), upsample(&v, lw, lh));
    }
    Ok(Flow {
        u: u.into_array(),
        v: v.into_array(),
    })
}

/// Pyramid levels: halve while the coarser image still holds two patches each way.
fn level_count(w: usize, h: usize, params: &FlowParams) -> usize {
    let mut levels = 1;
    let (mut lw, mut lh) = (w, h);
    while levels < params.max_levels && lw.div_ceil(2).min(lh.div_ceil(2)) >= 2 * params.patch_size
    {
        (lw, lh) = (lw.div_ceil(2), lh.div_ceil(2));
        levels += 1;
    }
    levels
}

/// A row-major w×h image of `f32`.
#[derive(Clone, Debug)]
struct Plane {
    w: usize,
    h: usize,
    data: Vec<f32>,
}

/// The scale of intensities inside the flow code: the 0–255 range that DIS's constants assume.
const INTENSITY_SCALE: f32 = 255.0;

impl Plane {
    fn zeros(w: usize, h: usize) -> Plane {
        Plane {
            w,
            h,
            data: vec![0.0; w * h],
        }
    }

    fn from_view(a: ArrayView2<f32>) -> Plane {
        let (h, w) = a.dim();
        Plane {
            w,
            h,
            data: a.iter().map(|&x| x * INTENSITY_SCALE).collect(),
        }
    }

    fn into_array(self) -> Array2<f32> {
        Array2::from_shape_vec((self.h, self.w), self.data).expect("a plane holds w·h values")
    }

    /// A plane of the same size whose rows are filled in parallel by `f(y, row)`.
    fn map_rows(w: usize, h: usize, f: impl Fn(usize, &mut [f32]) + Sync) -> Plane {
        let mut out = Plane::zeros(w, h);
        out.data
            .par_chunks_mut(w)
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each(|(y, row)| f(y, row));
        out
    }

    #[inline]
    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    #[inline]
    fn sample(&self, x: f32, y: f32) -> f32 {
        bilinear(&self.data, self.w, self.h, x, y)
    }

    /// Blur with [1 2 1]/4 each way, then keep the even pixels: coarse pixel i sits on fine 2i.
    fn downsample(&self) -> Plane {
        let (w, h) = (self.w.div_ceil(2), self.h.div_ceil(2));
        let clamp_x = |x: isize| x.clamp(0, self.w as isize - 1) as usize;
        let clamp_y = |y: isize| y.clamp(0, self.h as isize - 1) as usize;
        Plane::map_rows(w, h, |y, row| {
            let fy = 2 * y as isize;
            let rows = [clamp_y(fy - 1), clamp_y(fy), clamp_y(fy + 1)];
            for (x, out) in row.iter_mut().enumerate() {
                let fx = 2 * x as isize;
                let cols = [clamp_x(fx - 1), clamp_x(fx), clamp_x(fx + 1)];
                let mut sum = 0.0;
                for (ry, wy) in rows.iter().zip([1.0, 2.0, 1.0]) {
                    let r = &self.data[ry * self.w..];
                    sum += wy * (r[cols[0]] + 2.0 * r[cols[1]] + r[cols[2]]);
                }
                *out = sum / 16.0;
            }
        })
    }

    /// Derivatives along x and y by the five-point stencil (1, −8, 0, 8, −1)/12, with the frame's
    /// border repeated.
    fn gradient(&self) -> (Plane, Plane) {
        let (w, h) = (self.w, self.h);
        let d = |m2: f32, m1: f32, p1: f32, p2: f32| (m2 - 8.0 * m1 + 8.0 * p1 - p2) / 12.0;
        let cx = |x: usize, k: isize| (x as isize + k).clamp(0, w as isize - 1) as usize;
        let cy = |y: usize, k: isize| (y as isize + k).clamp(0, h as isize - 1) as usize;
        let gx = Plane::map_rows(w, h, |y, row| {
            for (x, out) in row.iter_mut().enumerate() {
                *out = d(
                    self.at(cx(x, -2), y),
                    self.at(cx(x, -1), y),
                    self.at(cx(x, 1), y),
                    self.at(cx(x, 2), y),
                );
            }
        });
        let gy = Plane::map_rows(w, h, |y, row| {
            let r = [cy(y, -2), cy(y, -1), cy(y, 1), cy(y, 2)].map(|r| &self.data[r * w..]);
            for (x, out) in row.iter_mut().enumerate() {
                *out = d(r[0][x], r[1][x], r[2][x], r[3][x]);
            }
        });
        (gx, gy)
    }

    /// The pixelwise mean of this plane and `other` (of the same size).
    fn mean_with(&self, other: &Plane) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| 0.5 * (a + b))
                .collect(),
        }
    }

    /// This plane sampled at (x + u, y + v) for every pixel.
    fn warped(&self, u: &Plane, v: &Plane) -> Plane {
        Plane::map_rows(u.w, u.h, |y, row| {
            for (x, out) in row.iter_mut().enumerate() {
                let i = y * u.w + x;
                *out = self.sample(x as f32 + u.data[i], y as f32 + v.data[i]);
            }
        })
    }
}

/// Pixels below which splitting a pass between threads costs more than it saves.
const PIXELS_PER_TASK: usize = 8192;
/// Patches searched by one task at the least, for the same reason.
const PATCHES_PER_TASK: usize = 64;

/// Rows of a `w`-wide plane that one task takes at the least.
fn rows_per_task(w: usize) -> usize {
    (PIXELS_PER_TASK / w.max(1)).max(1)
}

fn pyramid(base: Plane, levels: usize) -> Vec<Plane> {
    let mut pyramid = vec![base];
    while pyramid.len() < levels {
        let next = pyramid[pyramid.len() - 1].downsample();
        pyramid.push(next);
    }
    pyramid
}

/// A flow component from the next coarser level, sampled onto a w×h grid and doubled. Fine pixel
/// x sits on coarse x/2: even pixels take a coarse value, odd ones the mean of two (bilinear
/// sampling at half steps, without its general arithmetic).
fn upsample(coarse: &Plane, w: usize, h: usize) -> Plane {
    let cw = coarse.w;
    Plane::map_rows(w, h, |y, row| {
        let r0 = (y / 2).min(coarse.h - 1);
        let r1 = if y % 2 == 1 {
            (r0 + 1).min(coarse.h - 1)
        } else {
            r0
        };
        let (a, b) = (
            &coarse.data[r0 * cw..(r0 + 1) * cw],
            &coarse.data[r1 * cw..(r1 + 1) * cw],
        );
        for (x, out) in row.iter_mut().enumerate() {
            let c0 = (x / 2).min(cw - 1);
            let v = if x % 2 == 1 {
                let c1 = (c0 + 1).min(cw - 1);
                let top = a[c0] + 0.5 * (a[c1] - a[c0]);
                let bottom = b[c0] + 0.5 * (b[c1] - b[c0]);
                if r1 == r0 {
                    top
                } else {
                    top + 0.5 * (bottom - top)
                }
            } else if r1 == r0 {
                a[c0]
            } else {
                a[c0] + 0.5 * (b[c0] - a[c0])
            };
            *out = 2.0 * v;
        }
    })
}

/// Patch positions along one axis: every `stride` pixels, plus a last patch flush with the end.
fn grid(len: usize, size: usize, stride: usize) -> Vec<usize> {
    let mut at: Vec<usize> = (0..=len - size).step_by(stride).collect();
    if at.last() != Some(&(len - size)) {
        at.push(len - size);
    }
    at
}

/// For each pixel along an axis, the range of patch indices that cover it.
fn coverage(len: usize, at: &[usize], size: usize) -> Vec<(usize, usize)> {
    (0..len)
        .map(|p| {
            let first = at.partition_point(|&s| s + size <= p);
            let end = at.partition_point(|&s| s <= p);
            (first, end)
        })
        .collect()
}

/// One patch's template and mean-normalized gradients, reused from patch to patch.
struct Patch {
    gx: Vec<f32>,
    gy: Vec<f32>,
    template: Vec<f32>,
}

/// Inverse search of one pyramid level.
struct PatchSearch<'a> {
    i0: &'a Plane,
    i1: &'a Plane,
    i0x: &'a Plane,
    i0y: &'a Plane,
    xs: Vec<usize>,
    ys: Vec<usize>,
    size: usize,
    iterations: usize,
}

impl<'a> PatchSearch<'a> {
    fn new(
        i0: &'a Plane,
        i1: &'a Plane,
        i0x: &'a Plane,
        i0y: &'a Plane,
        params: &FlowParams,
    ) -> Self {
        let size = params.patch_size;
        // Patches must touch or overlap so that every pixel gets a displacement.
        let stride = params.patch_stride.min(size);
        PatchSearch {
            i0,
            i1,
            i0x,
            i0y,
            xs: grid(i0.w, size, stride),
            ys: grid(i0.h, size, stride),
            size,
            iterations: params.patch_iterations,
        }
    }

    /// The displacement of every patch (row-major over the grid), starting from the dense field
    /// (u, v) at the patch centre.
    fn run(&self, u: &Plane, v: &Plane) -> Vec<[f32; 2]> {
        let nx = self.xs.len();
        let n = self.size * self.size;
        (0..self.ys.len() * nx)
            .into_par_iter()
            .with_min_len(PATCHES_PER_TASK)
            .map_init(
                || Patch {
                    gx: Vec::with_capacity(n),
                    gy: Vec::with_capacity(n),
                    template: Vec::with_capacity(n),
                },
                |patch, k| {
                    let (x0, y0) = (self.xs[k % nx], self.ys[k / nx]);
                    let c = (self.size as f32 - 1.0) / 2.0;
                    let (cx, cy) = (x0 as f32 + c, y0 as f32 + c);
                    let start = [u.sample(cx, cy), v.sample(cx, cy)];
                    self.search(patch, x0, y0, start)
                },
            )
            .collect()
    }

    /// Inverse compositional Gauss–Newton on the mean-normalized patch at (x0, y0).
    fn search(&self, patch: &mut Patch, x0: usize, y0: usize, start: [f32; 2]) -> [f32; 2] {
        let n = self.size * self.size;
        let w = self.i0.w;
        let Patch { gx, gy, template } = patch;
        gx.clear();
        gy.clear();
        template.clear();
        for y in y0..y0 + self.size {
            let r = y * w;
            gx.extend_from_slice(&self.i0x.data[r + x0..r + x0 + self.size]);
            gy.extend_from_slice(&self.i0y.data[r + x0..r + x0 + self.size]);
            template.extend_from_slice(&self.i0.data[r + x0..r + x0 + self.size]);
        }
        // Mean normalization: with gradients centred, the residual's mean drops out of the
        // update, so the patch is matched up to an additive brightness change.
        let (mx, my) = (mean(gx), mean(gy));
        gx.iter_mut().for_each(|g| *g -= mx);
        gy.iter_mut().for_each(|g| *g -= my);
        let (mut hxx, mut hxy, mut hyy) = (0f32, 0f32, 0f32);
        for (a, b) in gx.iter().zip(gy.iter()) {
            hxx += a * a;
            hxy += a * b;
            hyy += b * b;
        }
        let det = hxx * hyy - hxy * hxy;
        let trace = hxx + hyy;
        if det <= 1e-4 * trace * trace || trace < 1e-3 * n as f32 {
            return start; // no texture, or an edge only: keep the coarse estimate
        }
        let (ixx, ixy, iyy) = (hyy / det, -hxy / det, hxx / det);
        let [mut u, mut v] = start;
        for _ in 0..self.iterations {
            let (bx, by) = self.mismatch(x0, y0, u, v, template, gx, gy);
            let du = ixx * bx + ixy * by;
            let dv = ixy * bx + iyy * by;
            u -= du;
            v -= dv;
            if du * du + dv * dv < 1e-4 {
                break;
            }
        }
        let (du, dv) = (u - start[0], v - start[1]);
        if !(u.is_finite() && v.is_finite()) || du * du + dv * dv > (self.size * self.size) as f32 {
            return start; // diverged: moved farther than a patch
        }
        [u, v]
    }

    /// Σ g·r over the patch at (x0, y0) for both gradients g, where r is the residual of the
    /// second frame displaced by (u, v) against the template. The displacement is the same for the
    /// whole patch, so are the bilinear weights: inside the frame every sample is four loads and
    /// three multiply-adds, without clamping.
    #[allow(clippy::too_many_arguments)]
    fn mismatch(
        &self,
        x0: usize,
        y0: usize,
        u: f32,
        v: f32,
        template: &[f32],
        gx: &[f32],
        gy: &[f32],
    ) -> (f32, f32) {
        let size = self.size;
        let (fx, fy) = (x0 as f32 + u, y0 as f32 + v);
        let (bx0, by0) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - bx0, fy - by0);
        let (w, h) = (self.i1.w, self.i1.h);
        let inside =
            bx0 >= 0.0 && by0 >= 0.0 && (bx0 as usize + size) < w && (by0 as usize + size) < h;
        let (mut bx, mut by) = (0f32, 0f32);
        if inside {
            let (x, y) = (bx0 as usize, by0 as usize);
            let data = &self.i1.data;
            for dy in 0..size {
                let top = &data[(y + dy) * w + x..(y + dy) * w + x + size + 1];
                let bottom = &data[(y + dy + 1) * w + x..(y + dy + 1) * w + x + size + 1];
                let k = dy * size;
                let (t, gxr, gyr) = (&template[k..k + size], &gx[k..k + size], &gy[k..k + size]);
                for dx in 0..size {
                    let upper = top[dx] + ax * (top[dx + 1] - top[dx]);
                    let lower = bottom[dx] + ax * (bottom[dx + 1] - bottom[dx]);
                    let r = upper + ay * (lower - upper) - t[dx];
                    bx += gxr[dx] * r;
                    by += gyr[dx] * r;
                }
            }
        } else {
            let mut k = 0;
            for dy in 0..size {
                let y = (y0 + dy) as f32 + v;
                for dx in 0..size {
                    let r = self.i1.sample((x0 + dx) as f32 + u, y) - template[k];
                    bx += gx[k] * r;
                    by += gy[k] * r;
                    k += 1;
                }
            }
        }
        (bx, by)
    }

    /// Blends the overlapping patches' displacements into a dense field, each weighted by the
    /// inverse of its brightness mismatch at the pixel.
    fn densify(&self, patches: &[[f32; 2]]) -> (Plane, Plane) {
        let (w, h) = (self.i0.w, self.i0.h);
        let nx = self.xs.len();
        let cover_x = coverage(w, &self.xs, self.size);
        let cover_y = coverage(h, &self.ys, self.size);
        let mut u = Plane::zeros(w, h);
        let mut v = Plane::zeros(w, h);
        u.data
            .par_chunks_mut(w)
            .zip(v.data.par_chunks_mut(w))
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each(|(y, (ur, vr))| {
                let (ya, yb) = cover_y[y];
                for x in 0..w {
                    let (xa, xb) = cover_x[x];
                    let i0 = self.i0.at(x, y);
                    let (mut su, mut sv, mut sw) = (0f32, 0f32, 0f32);
                    for py in ya..yb {
                        for [pu, pv] in &patches[py * nx + xa..py * nx + xb] {
                            let d = self.i1.sample(x as f32 + pu, y as f32 + pv) - i0;
                            let weight = 1.0 / d.abs().max(1.0);
                            su += weight * pu;
                            sv += weight * pv;
                            sw += weight;
                        }
                    }
                    ur[x] = su / sw;
                    vr[x] = sv / sw;
                }
            });
        (u, v)
    }
}

fn mean(x: &[f32]) -> f32 {
    x.iter().sum::<f32>() / x.len() as f32
}

/// ε of the robust penalty Ψ(s²) = √(s² + ε²).
const EPSILON: f32 = 1e-3;
/// ζ of the data terms' normalization by 1/(|∇I|² + ζ²).
const ZETA: f32 = 0.1;
/// Over-relaxation factor of the SOR sweeps.
const OMEGA: f32 = 1.6;

/// Derivative of the robust penalty, Ψ'(s²) = 1 / (2√(s² + ε²)).
#[inline]
fn psi_prime(s2: f32) -> f32 {
    0.5 / (s2 + EPSILON * EPSILON).sqrt()
}

/// One pixel's data terms, linearized about the current flow, with their normalizations.
#[derive(Clone, Copy)]
struct DataTerms {
    /// Ix, Iy, Iz: brightness constancy.
    ix: f32,
    iy: f32,
    iz: f32,
    /// Ixx, Ixy, Iyy, Ixz, Iyz: gradient constancy.
    ixx: f32,
    ixy: f32,
    iyy: f32,
    ixz: f32,
    iyz: f32,
    /// 1/(|∇I|² + ζ²) of brightness constancy and of the two gradient components.
    nb: f32,
    ngx: f32,
    ngy: f32,
}

/// Variational refinement (as in DIS, after Brox et al. 2004): about the current flow (u, v),
/// solves for an increment that lowers
/// δ·Ψ(brightness) + γ·Ψ(gradient) + α·Ψ(|∇u|² + |∇v|²), by fixed-point iterations on the robust
/// weights and red–black SOR on the linear system.
fn refine(
    i0: &Plane,
    i1: &Plane,
    i0x: &Plane,
    i0y: &Plane,
    u: &mut Plane,
    v: &mut Plane,
    params: &FlowParams,
) {
    if params.refine_iterations == 0 || i0.w < 2 || i0.h < 2 {
        return;
    }
    let (w, h) = (i0.w, i0.h);
    let (i1x, i1y) = i1.gradient();
    let i1w = i1.warped(u, v);
    let i1wx = i1x.warped(u, v);
    let i1wy = i1y.warped(u, v);
    let ix = i1wx.mean_with(i0x);
    let iy = i1wy.mean_with(i0y);
    let (ixx, ixy) = ix.gradient();
    let (_, iyy) = iy.gradient();
    let zeta2 = ZETA * ZETA;
    let terms: Vec<DataTerms> = (0..w * h)
        .into_par_iter()
        .with_min_len(PIXELS_PER_TASK)
        .map(|i| {
            let (gx, gy) = (ix.data[i], iy.data[i]);
            let (gxx, gxy, gyy) = (ixx.data[i], ixy.data[i], iyy.data[i]);
            DataTerms {
                ix: gx,
                iy: gy,
                iz: i1w.data[i] - i0.data[i],
                ixx: gxx,
                ixy: gxy,
                iyy: gyy,
                ixz: i1wx.data[i] - i0x.data[i],
                iyz: i1wy.data[i] - i0y.data[i],
                nb: 1.0 / (gx * gx + gy * gy + zeta2),
                ngx: 1.0 / (gxx * gxx + gxy * gxy + zeta2),
                ngy: 1.0 / (gxy * gxy + gyy * gyy + zeta2),
            }
        })
        .collect();

    let mut du = vec![0f32; w * h];
    let mut dv = vec![0f32; w * h];
    let mut system = vec![Equation::default(); w * h];
    for _ in 0..params.refine_iterations {
        let smooth = smoothness_weights(u, v, &du, &dv);
        system
            .par_chunks_mut(w)
            .with_min_len(rows_per_task(w))
            .enumerate()
            .for_each(|(y, row)| {
                for (x, eq) in row.iter_mut().enumerate() {
                    let i = y * w + x;
                    let s = smooth.data[i];
                    let edge = |present: bool, j: usize| {
                        if present {
                            params.alpha * 0.5 * (s + smooth.data[j])
                        } else {
                            0.0
                        }
                    };
                    let weights = [
                        edge(x > 0, i.wrapping_sub(1)),
                        edge(x + 1 < w, i + 1),
                        edge(y > 0, i.wrapping_sub(w)),
                        edge(y + 1 < h, i + w),
                    ];
                    let neighbours = [
                        i - usize::from(x > 0),
                        i + usize::from(x + 1 < w),
                        i - w * usize::from(y > 0),
                        i + w * usize::from(y + 1 < h),
                    ];
                    let [a11, a12, a22, b1, b2] = data_equation(&terms[i], du[i], dv[i], params);
                    let mut cu = -b1;
                    let mut cv = -b2;
                    for (s, j) in weights.iter().zip(neighbours) {
                        cu += s * (u.data[j] - u.data[i]);
                        cv += s * (v.data[j] - v.data[i]);
                    }
                    let sum: f32 = weights.iter().sum();
                    *eq = Equation {
                        a12,
                        cu,
                        cv,
                        inv_u: 1.0 / (a11 + sum),
                        inv_v: 1.0 / (a22 + sum),
                        weights,
                    };
                }
            });
        for _ in 0..params.sor_iterations {
            for colour in 0..2 {
                sor_half_sweep(colour, w, &system, &mut du, &mut dv);
            }
        }
    }
    u.data.iter_mut().zip(&du).for_each(|(a, d)| *a += d);
    v.data.iter_mut().zip(&dv).for_each(|(a, d)| *a += d);
}

/// The linear equations of one pixel's increment (du, dv) within a fixed-point iteration:
/// `du = inv_u · (cu + Σ wₙ duₙ − a12 dv)` and `dv = inv_v · (cv + Σ wₙ dvₙ − a12 du)`.
#[derive(Clone, Copy, Default)]
struct Equation {
    a12: f32,
    /// The data term's constant and the smoothness pull of the current flow, for u and v.
    cu: f32,
    cv: f32,
    /// 1 / (diagonal of the data term + sum of the smoothness weights), for u and v.
    inv_u: f32,
    inv_v: f32,
    /// α × smoothness weights to the left, right, upper and lower neighbours (0 beyond the frame).
    weights: [f32; 4],
}

/// One half of a red–black SOR sweep: every pixel of one colour of the checkerboard
/// (`(x + y) % 2 == colour`), updated from its four neighbours, which are all of the other colour
/// and so fixed during the half sweep. The pixels of one colour are independent: rows run in
/// parallel and a row's updates do not wait on each other.
fn sor_half_sweep(colour: usize, w: usize, system: &[Equation], du: &mut [f32], dv: &mut [f32]) {
    let h = du.len() / w;
    let (pu, pv) = (Shared(du.as_mut_ptr()), Shared(dv.as_mut_ptr()));
    (0..h)
        .into_par_iter()
        .with_min_len(rows_per_task(w))
        .for_each(|y| {
            let (pu, pv) = (&pu, &pv);
            let at = |p: &Shared, i: usize| {
                // SAFETY: `i` < w·h, the length of both slices; reads are of the other colour, which
                // no task of this half sweep writes.
                unsafe { *p.0.add(i) }
            };
            let row = y * w;
            let up = if y > 0 { row - w } else { row };
            let down = if y + 1 < h { row + w } else { row };
            for x in ((y + colour) % 2..w).step_by(2) {
                let eq = &system[row + x];
                let [wl, wr, wu, wd] = eq.weights;
                let (l, r) = (row + x.saturating_sub(1), row + (x + 1).min(w - 1));
                let (i, iu, id) = (row + x, up + x, down + x);
                let nu = wl * at(pu, l) + wr * at(pu, r) + wu * at(pu, iu) + wd * at(pu, id);
                let nv = wl * at(pv, l) + wr * at(pv, r) + wu * at(pv, iu) + wd * at(pv, id);
                let (old_u, old_v) = (at(pu, i), at(pv, i));
                let new_u = (eq.cu + nu - eq.a12 * old_v) * eq.inv_u;
                let new_u = old_u + OMEGA * (new_u - old_u);
                let new_v = (eq.cv + nv - eq.a12 * new_u) * eq.inv_v;
                // SAFETY: pixel i has this half sweep's colour and row y belongs to this task alone.
                unsafe {
                    *pu.0.add(i) = new_u;
                    *pv.0.add(i) = old_v + OMEGA * (new_v - old_v);
                }
            }
        });
}

/// A pointer that the tasks of one SOR half sweep share: each writes only its own pixels.
struct Shared(*mut f32);

// SAFETY: the tasks write disjoint elements and read only elements nobody writes meanwhile
// (see `sor_half_sweep`).
unsafe impl Sync for Shared {}

/// Ψ'(|∇(u + du)|² + |∇(v + dv)|²) per pixel, by forward differences.
fn smoothness_weights(u: &Plane, v: &Plane, du: &[f32], dv: &[f32]) -> Plane {
    let (w, h) = (u.w, u.h);
    Plane::map_rows(w, h, |y, row| {
        for (x, out) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let uf = |j: usize| u.data[j] + du[j];
            let vf = |j: usize| v.data[j] + dv[j];
            let (ux, vx) = if x + 1 < w {
                (uf(i + 1) - uf(i), vf(i + 1) - vf(i))
            } else {
                (0.0, 0.0)
            };
            let (uy, vy) = if y + 1 < h {
                (uf(i + w) - uf(i), vf(i + w) - vf(i))
            } else {
                (0.0, 0.0)
            };
            *out = psi_prime(ux * ux + uy * uy + vx * vx + vy * vy);
        }
    })
}

/// The data term's 2×2 system at a pixel with the robust weights at the current increment:
/// `[a11, a12, a22, b1, b2]` such that the data gradient is A·(du, dv) + b.
#[inline]
fn data_equation(t: &DataTerms, du: f32, dv: f32, params: &FlowParams) -> [f32; 5] {
    let DataTerms {
        ix,
        iy,
        iz,
        ixx,
        ixy,
        iyy,
        ixz,
        iyz,
        nb,
        ngx,
        ngy,
    } = *t;
    // Brightness constancy, normalized by the local gradient.
    let rb = ix * du + iy * dv + iz;
    let wb = params.delta * nb * psi_prime(nb * rb * rb);
    // Gradient constancy, each component normalized by its own gradient.
    let rgx = ixx * du + ixy * dv + ixz;
    let rgy = ixy * du + iyy * dv + iyz;
    let wg = params.gamma * psi_prime(ngx * rgx * rgx + ngy * rgy * rgy);
    let (gx, gy) = (wg * ngx, wg * ngy);
    [
        wb * ix * ix + gx * ixx * ixx + gy * ixy * ixy,
        wb * ix * iy + gx * ixx * ixy + gy * ixy * iyy,
        wb * iy * iy + gx * ixy * ixy + gy * iyy * iyy,
        wb * ix * iz + gx * ixx * ixz + gy * ixy * iyz,
        wb * iy * iz + gx * ixy * ixz + gy * iyy * iyz,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_equals_bilinear_sampling_at_half_steps() {
        let mut coarse = Plane::zeros(7, 5);
        for (i, v) in coarse.data.iter_mut().enumerate() {
            *v = (i * 37 % 11) as f32 * 0.37 - 2.0;
        }
        for (w, h) in [(14, 10), (13, 9)] {
            let fine = upsample(&coarse, w, h);
            for y in 0..h {
                for x in 0..w {
                    let want = 2.0 * coarse.sample(x as f32 / 2.0, y as f32 / 2.0);
                    assert_eq!(fine.at(x, y), want, "({x}, {y}) of {w}×{h}");
                }
            }
        }
    }
}
