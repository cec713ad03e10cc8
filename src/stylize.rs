//! Stylizing (Gatys et al.): one optimization on either engine ([`optimize`], [`Solver`]), coarse
//! to fine ([`coarse_to_fine`]), the stopping rule ([`optimize_within`]), and a video's frames, each
//! warm-started from the last ([`FrameStylizer`]).

mod handover;
mod pyramid;
mod solver;
mod still;
mod stopping;

pub use handover::Handover;
pub use pyramid::{
    coarse_to_fine, level_sizes, max_levels, resize, split, split_first_frame, Level, TooSmall,
};
pub use solver::{optimize, EngineChoice, Iteration, Outcome, Solver};
pub use still::{plan, style_size, StillStart, StillStyle};
pub use stopping::{optimize_within, Budget, Stop, Tolerance};

use std::ops::ControlFlow;

use anyhow::{Context, Result};
use ndarray::Array4;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{runtime, LossWeights, Model, Targets, TemporalTarget};
use crate::temporal::{self, Motion};

/// Seeded white noise in [0, 1] of `shape` (Gatys et al.'s random start).
pub fn noise(shape: (usize, usize, usize, usize), rng: &mut StdRng) -> Array4<f32> {
    Array4::from_shape_simple_fn(shape, || rng.random::<f32>())
}

/// Where each video frame's optimization starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameStart {
    /// The previous stylized frame carried along the optical flow, everywhere (Ruder et al.'s
    /// start; the temporal loss holds only the pixels where the flow can be trusted).
    PrevWarped,
    /// The previous stylized frame as it was.
    Prev,
    /// The frame's own content.
    Content,
    /// Seeded white noise.
    Noise,
}

/// How long a video's frames are optimized.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The sizes (height, width) of the first frame's coarse-to-fine levels, coarse to fine; the
    /// last is the frames' size.
    pub levels: Vec<(usize, usize)>,
    /// The first frame's budget for each level (the same length as `levels`).
    pub first: Vec<Budget>,
    /// The budget of every later, warm-started frame.
    pub rest: Budget,
}

/// Stylizes the frames of a video one after the other, each warm-started from the last: the style
/// targets are computed once, the content targets per frame. Given the motion between consecutive
/// content frames, the previous stylized frame is carried along the optical flow (`--init
/// prev-warped`) and the temporal loss pulls the reliable pixels towards it (Ruder et al. 2016).
/// A cold start (the first frame) runs coarse to fine over the schedule's levels.
pub struct FrameStylizer {
    model: Model,
    targets: Targets,
    /// The style Gram matrices of the levels below the frames' size, coarse to fine.
    coarse_grams: Vec<Vec<ndarray::Array2<f32>>>,
    weights: LossWeights,
    solver: Solver,
    /// Whether warm frames keep the optimizer's curvature ([`Solver::retarget`]).
    carry_curvature: bool,
    init: FrameStart,
    schedule: Schedule,
    previous: Option<Array4<f32>>,
    /// A stylized first frame to use instead of optimizing one.
    first: Option<Array4<f32>>,
    /// Frames stylized so far; with `seed`, it seeds each frame's noise, so that a render resumed
    /// at any frame draws what an uninterrupted one would.
    frames: u64,
    seed: u64,
    rng: StdRng,
}

impl FrameStylizer {
    /// A stylizer pulling towards `style_grams`: for each of the schedule's levels, coarse to
    /// fine, one blended Gram matrix per style layer.
    pub fn new(
        model: Model,
        style_grams: Vec<Vec<ndarray::Array2<f32>>>,
        weights: LossWeights,
        solver: Solver,
        init: FrameStart,
        schedule: Schedule,
        seed: u64,
    ) -> FrameStylizer {
        let mut stylizer = FrameStylizer {
            model,
            targets: Targets {
                grams: Vec::new(),
                contents: Vec::new(),
                temporal: None,
            },
            coarse_grams: Vec::new(),
            weights,
            solver,
            carry_curvature: false,
            init,
            schedule,
            previous: None,
            first: None,
            frames: 0,
            seed,
            rng: StdRng::seed_from_u64(seed),
        };
        stylizer.set_style(style_grams);
        stylizer
    }

    /// The model, for its device and figures.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The engine, for reports.
    pub fn solver(&self) -> &Solver {
        &self.solver
    }

    /// The sizes (height, width) of a cold start's levels, coarse to fine.
    pub fn levels(&self) -> &[(usize, usize)] {
        &self.schedule.levels
    }

    /// Whether [`stylize`](Self::stylize) makes use of the motion between frames, so that a
    /// pipeline computes it only when it helps.
    pub fn wants_motion(&self) -> bool {
        self.init == FrameStart::PrevWarped || self.weights.temporal > 0.0
    }

    /// Pulls towards other style targets (one set per level, coarse to fine) from the next frame on
    /// (a live switch of style).
    pub fn set_style(&mut self, mut style_grams: Vec<Vec<ndarray::Array2<f32>>>) {
        self.targets.grams = style_grams.pop().unwrap_or_default();
        self.coarse_grams = style_grams;
        self.solver.reset();
    }

    /// Sets the style weight from the next frame on.
    pub fn set_style_weight(&mut self, weight: f32) {
        if weight != self.weights.style {
            self.weights.style = weight;
            self.solver.reset();
        }
    }

    /// Lets each warm frame's optimizer go on with the curvature it learnt on the frames before
    /// (a quasi-Newton first step instead of a short one down the gradient), as a live view's
    /// frames of a few iterations want; otherwise each frame starts afresh. The curvature is
    /// forgotten when the style or its weight changes.
    pub fn carry_curvature(&mut self, carry: bool) {
        self.carry_curvature = carry;
    }

    /// Takes `image` (1×3×H×W, RGB in [0, 1]) as the stylized first frame instead of optimizing
    /// it; used if the first frame has its size.
    pub fn start_from(&mut self, image: Array4<f32>) {
        self.first = Some(image);
    }

    /// Goes on from a saved state, as if `frames` frames had been stylized, the last into
    /// `previous` (1×3×H×W, the full-precision image [`stylize`](Self::stylize) returned): the
    /// next frame is warm-started from it, exactly as in an uninterrupted run.
    pub fn resume(&mut self, previous: Array4<f32>, frames: u64) {
        self.previous = Some(previous);
        self.first = None;
        self.frames = frames;
    }

    /// Forgets the frames stylized: the next starts cold, as a render's first does (the second
    /// warm chain a cluster segment runs over its end).
    pub fn restart(&mut self) {
        self.previous = None;
        self.first = None;
        self.frames = 0;
    }

    /// Sets the iterations of every later warm-started frame.
    pub fn set_iterations(&mut self, rest: usize) {
        self.schedule.rest.iterations = rest;
    }

    /// Whether the next frame of `content`'s size starts cold (the first frame, or after a change
    /// of size).
    fn is_cold(&self, content: &Array4<f32>) -> bool {
        !matches!(&self.previous, Some(previous) if previous.dim() == content.dim())
    }

    /// Whether the next frame is the first and [`start_from`](Self::start_from) gave it.
    fn is_given(&self, content: &Array4<f32>) -> bool {
        self.previous.is_none()
            && self
                .first
                .as_ref()
                .is_some_and(|f| f.dim() == content.dim())
    }

    /// How many iterations the next frame gets at most: none for a first frame given by
    /// [`start_from`](Self::start_from), the first frame's over all its levels, or a warm frame's.
    pub fn next_iterations(&self, content: &Array4<f32>) -> usize {
        if self.is_given(content) {
            0
        } else if self.is_cold(content) {
            self.schedule.first.iter().map(|b| b.iterations).sum()
        } else {
            self.schedule.rest.iterations
        }
    }

    /// Stylizes one frame (1×3×H×W, RGB in [0, 1]) and remembers the result for the next.
    /// `motion` is the motion from the previous content frame to this one, if known;
    /// `on_iteration` is called after each iteration, as by [`optimize`]. Returns the stylized
    /// frame and the outcome of each level (one for a warm frame).
    pub fn stylize(
        &mut self,
        content: &Array4<f32>,
        motion: Option<&Motion>,
        mut on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
    ) -> Result<(Array4<f32>, Vec<Outcome>)> {
        self.rng = StdRng::seed_from_u64(self.seed.wrapping_add(self.frames));
        tracing::debug!(frame = self.frames, "stylizing");
        self.frames += 1;
        if self.is_given(content) {
            if let Some(first) = self.first.take() {
                self.previous = Some(first.clone());
                return Ok((first, Vec::new()));
            }
        }
        if self.is_cold(content) {
            let (image, outcomes) = self.cold(content, |_, it| on_iteration(it))?;
            self.previous = Some(image.clone());
            return Ok((image, outcomes));
        }
        let previous = self.previous.take().filter(|p| p.dim() == content.dim());
        // The previous stylized frame carried into this one, and where it can be trusted.
        let (target, warped_start) = match (&previous, motion) {
            (Some(previous), Some(motion)) => {
                let (target, start) = carry(previous, motion)?;
                (Some(target), Some(start))
            }
            _ => (None, None),
        };
        let mut image = match (self.init, previous, warped_start) {
            (FrameStart::PrevWarped, _, Some(start)) => start,
            (FrameStart::Prev | FrameStart::PrevWarped, Some(previous), _) => previous,
            (FrameStart::Noise, _, _) => noise(content.dim(), &mut self.rng),
            _ => content.clone(),
        };
        let Some(contents) = content_features(&mut self.model, content)? else {
            self.previous = Some(image.clone());
            return Ok((image, Vec::new()));
        };
        self.targets.contents = contents;
        self.targets.temporal = target.filter(|_| self.weights.temporal > 0.0);
        if self.carry_curvature {
            self.solver.retarget();
        } else {
            self.solver.reset();
        }
        let outcome = optimize_within(
            &mut self.model,
            &self.targets,
            &self.weights,
            &mut image,
            &mut self.solver,
            self.schedule.rest,
            on_iteration,
        )?;
        self.previous = Some(image.clone());
        Ok((image, vec![outcome]))
    }

    /// A cold start: coarse to fine over the schedule's levels (a single level when the frame is
    /// not the size they were planned for), from the content or noise.
    fn cold(
        &mut self,
        content: &Array4<f32>,
        on_iteration: impl FnMut(usize, &Iteration) -> ControlFlow<()>,
    ) -> Result<(Array4<f32>, Vec<Outcome>)> {
        let size = (content.dim().2, content.dim().3);
        let planned = self.schedule.levels.last() == Some(&size)
            && self.schedule.levels.len() == self.coarse_grams.len() + 1;
        let mut levels = Vec::with_capacity(self.schedule.levels.len());
        // An interrupted frame before its first iteration: its content, as a pyramid interrupted
        // then would give.
        let interrupted = || Ok((content.clone(), Vec::new()));
        if planned {
            for ((&size, budget), grams) in self
                .schedule
                .levels
                .iter()
                .zip(&self.schedule.first)
                .zip(&self.coarse_grams)
            {
                let resized = resize(content.view(), size);
                let Some(contents) = content_features(&mut self.model, &resized)? else {
                    return interrupted();
                };
                levels.push(Level {
                    size,
                    content: resized,
                    targets: Targets {
                        grams: grams.clone(),
                        contents,
                        temporal: None,
                    },
                    budget: *budget,
                });
            }
        }
        let budget = match self.schedule.first.last() {
            Some(&finest) if planned => finest,
            _ => Budget {
                iterations: self.next_iterations(content),
                tolerance: self.schedule.rest.tolerance,
                precondition: self.schedule.first.iter().any(|b| b.precondition),
            },
        };
        let Some(contents) = content_features(&mut self.model, content)? else {
            return interrupted();
        };
        levels.push(Level {
            size,
            content: content.clone(),
            targets: Targets {
                grams: self.targets.grams.clone(),
                contents,
                temporal: None,
            },
            budget,
        });
        let coarsest = levels[0].size;
        let start = match self.init {
            FrameStart::Noise => noise((1, 3, coarsest.0, coarsest.1), &mut self.rng),
            _ => levels[0].content.clone(),
        };
        coarse_to_fine(
            &mut self.model,
            &levels,
            &self.weights,
            start,
            &mut self.solver,
            on_iteration,
        )
    }
}

/// The content activations of `image`; `None` when an interrupt ended the run (the frame then
/// stays as it starts, as when the optimizer's runs are ended).
fn content_features(model: &mut Model, image: &Array4<f32>) -> Result<Option<Vec<Array4<f32>>>> {
    match model.features(image.view()) {
        Ok(features) => Ok(Some(features.contents)),
        Err(e) if runtime::is_interrupt(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The previous stylized frame warped along `motion` into the current frame, as the temporal
/// loss's target (with the reliability weights as its mask), and the warm start: the warped frame
/// everywhere, as Ruder et al. start, unreliable pixels included (where the flow points outside the
/// frame the warp takes the nearest edge pixel). Starting those pixels from the content instead
/// left patches of unpainted content that 40 iterations could not repaint, which the next frames
/// then carried along and held: on a near-still clip 3.2× the flicker, by an independent flow
/// (docs/TEMPORAL.md).
fn carry(previous: &Array4<f32>, motion: &Motion) -> Result<(TemporalTarget, Array4<f32>)> {
    let warped = temporal::warp(previous.view(), &motion.backward)?.image;
    let (h, w) = motion.weights.dim();
    let mask = motion
        .weights
        .view()
        .into_shape_with_order((1, 1, h, w))
        .context("internal: reliability weights of the wrong size")?
        .to_owned();
    let start = warped.clone();
    Ok((
        TemporalTarget {
            image: warped,
            mask,
        },
        start,
    ))
}
