//! Dense optical flow by DIS (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", 2016):
//! on an image pyramid from coarse to fine, patches on a grid find their displacement by inverse
//! compositional Gauss–Newton search, overlapping patches are blended into a dense field, and a few
//! iterations of variational refinement (brightness and gradient constancy, robust penalties,
//! edge-preserving smoothness) polish it. Every pass runs row- or patch-parallel on rayon.

use anyhow::{bail, Result};
use ndarray::{Array2, ArrayView2, ArrayView4};

mod checker;
mod patch;
mod pyramid;
mod refine;
mod simd;
#[cfg(test)]
mod tests;

use patch::PatchSearch;
use pyramid::{pyramid_into, upsample_into, Plane};
use refine::{refine, RefineWorkspace};

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
    /// Whether a patch may start from its already searched neighbour's displacement where that
    /// matches it better (DIS's spatial propagation).
    pub spatial_propagation: bool,
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
            spatial_propagation: false,
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

    /// The preset's name, as the command line takes it.
    pub fn name(self) -> &'static str {
        match self {
            FlowPreset::Ultrafast => "ultrafast",
            FlowPreset::Fast => "fast",
            FlowPreset::Medium => "medium",
            FlowPreset::Quality => "quality",
        }
    }

    /// The settings it stands for. The coarse presets propagate displacements between
    /// neighbouring patches, as OpenCV's do; `quality` does not: its end-point error on the
    /// known-motion benchmark is lower without (translation at 512×288: 0.040 px against 0.076).
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
            spatial_propagation: self != FlowPreset::Quality,
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

/// The buffers of [`flow_with`], kept from one call to the next (as OpenCV's DIS object keeps
/// its own) so that a stream of frames does not allocate them again: one per flow running at a
/// time.
#[derive(Default)]
pub struct FlowWorkspace {
    /// The pyramids of the two frames (in `flows_both_ways`, each workspace's first holds one).
    pyramids: [Vec<Plane>; 2],
    levels: Vec<LevelPlanes>,
    refine: RefineWorkspace,
    /// The full-size field of the last flow, written over by the next.
    field: Flow,
}

impl FlowWorkspace {
    /// The field of the last flow computed in this workspace (empty before the first).
    pub fn field(&self) -> &Flow {
        &self.field
    }
}

impl Default for Flow {
    /// An empty field.
    fn default() -> Flow {
        Flow::zeros(0, 0)
    }
}

/// A pyramid level's planes, finest first, of the same size from one frame to the next.
#[derive(Default)]
struct LevelPlanes {
    /// The field (u, v) as it is refined at the level.
    u: Plane,
    v: Plane,
    /// The gradient of the first frame.
    gx: Plane,
    gy: Plane,
}

/// Dense optical flow from grayscale frame `a` to frame `b` (same size; values in [0, 1]): for
/// each pixel x of `a`, the displacement w(x) such that `a(x)` ≈ `b(x + w(x))`.
pub fn flow(a: ArrayView2<f32>, b: ArrayView2<f32>, params: &FlowParams) -> Result<Flow> {
    let mut workspace = FlowWorkspace::default();
    flow_with(a, b, params, &mut workspace)?;
    Ok(workspace.field)
}

/// [`flow`] in the buffers of `workspace`, which holds the field until the next call.
pub fn flow_with<'w>(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    params: &FlowParams,
    workspace: &'w mut FlowWorkspace,
) -> Result<&'w Flow> {
    let FlowWorkspace {
        pyramids: [pa, pb],
        levels,
        refine: buffers,
        field,
    } = workspace;
    in_pool(|| {
        let (at, finest) = pyramids(a, b, params, (pa, pb))?;
        let size = (a.dim(), finest);
        flow_between(&pa[at..], &pb[at..], size, params, (levels, buffers, field));
        anyhow::Ok(())
    })?;
    Ok(&workspace.field)
}

/// The flows from `a` to `b` and from `b` to `a`, in parallel, on one pyramid of each frame, in
/// the buffers of `workspaces` (the first flow's, the second's), which hold the fields until the
/// next call.
pub(super) fn flows_both_ways<'w>(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    params: &FlowParams,
    workspaces: &'w mut [FlowWorkspace; 2],
) -> Result<(&'w Flow, &'w Flow)> {
    let [wa, wb] = workspaces;
    let FlowWorkspace {
        pyramids: [pa, _],
        levels: la,
        refine: ra,
        field: fa,
    } = wa;
    let FlowWorkspace {
        pyramids: [pb, _],
        levels: lb,
        refine: rb,
        field: fb,
    } = wb;
    in_pool(|| {
        let (at, finest) = pyramids(a, b, params, (pa, pb))?;
        let (pa, pb, size) = (&pa[at..], &pb[at..], (a.dim(), finest));
        rayon::join(
            || flow_between(pa, pb, size, params, (la, ra, fa)),
            || flow_between(pb, pa, size, params, (lb, rb, fb)),
        );
        anyhow::Ok(())
    })?;
    Ok((&wa.field, &wb.field))
}

/// Runs `f` on a thread of rayon's pool (where it is, if it is on one already). A parallel pass
/// started from outside the pool is sent to it and waited for, a sleep and a wake-up for every
/// pass however small; from inside, a pass too small to split runs on the spot.
fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// The pyramids of `a` and `b` into `planes`, once the frames and settings are checked; returns
/// the index there of the finest level searched, and that level.
fn pyramids(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    params: &FlowParams,
    (pa, pb): (&mut Vec<Plane>, &mut Vec<Plane>),
) -> Result<(usize, usize)> {
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
    let finest = params.finest_level.min(levels - 1);
    let (at, _) = rayon::join(
        || pyramid_into(a, levels, finest, pa),
        || pyramid_into(b, levels, finest, pb),
    );
    Ok((at, finest))
}

/// The flow from the frame of pyramid `pa` to that of `pb` (their levels from `finest`, of frames
/// `(h, w)`), coarse to fine, in the level planes `levels` and the refinement's `buffers`, written
/// over `field` (in its memory).
fn flow_between(
    pa: &[Plane],
    pb: &[Plane],
    ((h, w), finest): ((usize, usize), usize),
    params: &FlowParams,
    (levels, buffers, field): (&mut Vec<LevelPlanes>, &mut RefineWorkspace, &mut Flow),
) {
    levels.resize_with(pa.len(), LevelPlanes::default);
    for (l, (i0, i1)) in pa.iter().zip(pb).enumerate().rev() {
        let (finer, coarser) = levels.split_at_mut(l + 1);
        let level = &mut finer[l];
        let size = (i0.w, i0.h);
        match coarser.first() {
            Some(c) => {
                upsample_into(&c.u, size, 2, &mut level.u);
                upsample_into(&c.v, size, 2, &mut level.v);
            }
            None => (level.u, level.v) = (Plane::zeros(i0.w, i0.h), Plane::zeros(i0.w, i0.h)),
        }
        let LevelPlanes { u, v, gx, gy } = level;
        i0.gradient_into(gx, gy);
        if i0.w >= params.patch_size && i0.h >= params.patch_size {
            let search = PatchSearch::new(i0, i1, gx, gy, params);
            let patches = search.run(u, v);
            search.densify(&patches, u, v);
        }
        refine(i0, i1, gx, gy, u, v, params, buffers);
    }
    let finest_level = &mut levels[0];
    let [mut u, mut v] = [&mut field.u, &mut field.v].map(Plane::reuse);
    if finest > 0 {
        // Straight to full size in one bilinear pass: the same field as doubling level by level.
        upsample_into(&finest_level.u, (w, h), 1 << finest, &mut u);
        upsample_into(&finest_level.v, (w, h), 1 << finest, &mut v);
    } else {
        // The full-size level's field is the result: its planes and the field's swap memory.
        std::mem::swap(&mut finest_level.u, &mut u);
        std::mem::swap(&mut finest_level.v, &mut v);
    }
    (field.u, field.v) = (u.into_array(), v.into_array());
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
