//! One image's optimization (Gatys et al.): the loss-and-gradient calls, the optimizer steps, the stopping rule.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::{Array1, Array4};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::cli::FrameInit;
use crate::model::{LossTerms, LossWeights, Model, Targets, TemporalTarget};
use crate::optim::{AnyOptimizer, Objective, Optimizer};
use crate::temporal::{self, Motion};

/// What one optimizer iteration did.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Iteration {
    /// 1-based iteration number.
    pub iteration: usize,
    /// Loss terms at the image the iteration ended on.
    pub loss: LossTerms,
    /// Loss-and-gradient evaluations it used.
    pub evaluations: usize,
    /// Wall-clock seconds of the whole iteration.
    pub seconds: f64,
    /// Of those, seconds inside ONNX Runtime.
    pub model_seconds: f64,
}

/// The outcome of [`optimize`].
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Loss terms at the starting image.
    pub initial: LossTerms,
    /// One entry per iteration run.
    pub iterations: Vec<Iteration>,
    /// Whether the optimizer stopped early because it could make no more progress.
    pub converged: bool,
}

/// The loss as the optimizer sees it: a flat vector in, loss and gradient out.
struct LossObjective<'a> {
    model: &'a mut Model,
    targets: &'a Targets,
    weights: &'a LossWeights,
    shape: (usize, usize, usize, usize),
    /// Terms of each evaluation since the last drain, to find those of the accepted point.
    evaluated: Vec<LossTerms>,
    model_seconds: f64,
}

impl Objective<Array1<f32>> for LossObjective<'_> {
    type Error = anyhow::Error;

    fn evaluate(&mut self, x: &Array1<f32>, grad: &mut Array1<f32>) -> Result<f32> {
        let image = x
            .view()
            .into_shape_with_order(self.shape)
            .context("internal: image vector has the wrong length")?;
        let grad = grad
            .as_slice_mut()
            .context("internal: gradient is not contiguous")?;
        let start = Instant::now();
        let terms = self
            .model
            .loss_and_gradient(image, self.targets, self.weights, grad)?;
        self.model_seconds += start.elapsed().as_secs_f64();
        self.evaluated.push(terms);
        Ok(terms.total)
    }
}

/// Minimizes the loss over `image` (1×3×H×W, RGB in [0, 1], changed in place) for at most `iterations`
/// optimizer steps, calling `on_iteration` after each (which may end the optimization early with
/// `ControlFlow::Break`, e.g. on Ctrl-C). The optimizer's state is kept, so a caller that continues
/// from where it stopped may pass it again; it is the caller's to [`Optimizer::reset`].
pub fn optimize(
    model: &mut Model,
    targets: &Targets,
    weights: &LossWeights,
    image: &mut Array4<f32>,
    optimizer: &mut AnyOptimizer,
    iterations: usize,
    mut on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
) -> Result<Outcome> {
    let shape = image.dim();
    let mut x = Array1::from_iter(image.iter().copied());
    let mut objective = LossObjective {
        model,
        targets,
        weights,
        shape,
        evaluated: Vec::new(),
        model_seconds: 0.0,
    };
    let mut outcome = Outcome {
        initial: LossTerms::default(),
        iterations: Vec::with_capacity(iterations),
        converged: false,
    };
    for iteration in 1..=iterations {
        let start = Instant::now();
        objective.model_seconds = 0.0;
        let step = optimizer.step(&mut x, &mut objective)?;
        if iteration == 1 {
            if let Some(first) = objective.evaluated.first() {
                outcome.initial = *first;
            }
        }
        let loss = objective
            .evaluated
            .iter()
            .rev()
            .find(|t| t.total == step.loss)
            .copied()
            .unwrap_or(LossTerms {
                total: step.loss,
                ..outcome
                    .iterations
                    .last()
                    .map(|i| i.loss)
                    .unwrap_or_default()
            });
        objective.evaluated.clear();
        let report = Iteration {
            iteration,
            loss,
            evaluations: step.evaluations,
            seconds: start.elapsed().as_secs_f64(),
            model_seconds: objective.model_seconds,
        };
        let flow = on_iteration(&report);
        outcome.iterations.push(report);
        if step.converged {
            outcome.converged = true;
            break;
        }
        if flow.is_break() {
            break;
        }
    }
    for (dst, &src) in image.iter_mut().zip(x.iter()) {
        *dst = src;
    }
    Ok(outcome)
}

/// Seeded white noise in [0, 1] of `shape` (Gatys et al.'s random start).
pub fn noise(shape: (usize, usize, usize, usize), rng: &mut StdRng) -> Array4<f32> {
    Array4::from_shape_simple_fn(shape, || rng.random::<f32>())
}

/// Stylizes the frames of a video one after the other, each warm-started from the last: the style
/// targets are computed once, the content targets per frame. Given the motion between consecutive
/// content frames, the previous stylized frame is carried along the optical flow (`--init
/// prev-warped`) and the temporal loss pulls the reliable pixels towards it (Ruder et al. 2016).
pub struct FrameStylizer {
    model: Model,
    targets: Targets,
    weights: LossWeights,
    optimizer: AnyOptimizer,
    init: FrameInit,
    first_iterations: usize,
    rest_iterations: usize,
    previous: Option<Array4<f32>>,
    rng: StdRng,
}

impl FrameStylizer {
    /// A stylizer pulling towards `style_grams` (one blended Gram matrix per style layer).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: Model,
        style_grams: Vec<ndarray::Array2<f32>>,
        weights: LossWeights,
        optimizer: AnyOptimizer,
        init: FrameInit,
        iterations: (usize, usize),
        seed: u64,
    ) -> FrameStylizer {
        FrameStylizer {
            model,
            targets: Targets {
                grams: style_grams,
                contents: Vec::new(),
                temporal: None,
            },
            weights,
            optimizer,
            init,
            first_iterations: iterations.0,
            rest_iterations: iterations.1,
            previous: None,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The model, for its device and figures.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Whether [`stylize`](Self::stylize) makes use of the motion between frames, so that a
    /// pipeline computes it only when it helps.
    pub fn wants_motion(&self) -> bool {
        self.init == FrameInit::PrevWarped || self.weights.temporal > 0.0
    }

    /// Pulls towards other style targets from the next frame on (a live switch of style).
    pub fn set_style(&mut self, style_grams: Vec<ndarray::Array2<f32>>) {
        self.targets.grams = style_grams;
    }

    /// Sets the style weight from the next frame on.
    pub fn set_style_weight(&mut self, weight: f32) {
        self.weights.style = weight;
    }

    /// Sets the iterations of every later warm-started frame.
    pub fn set_iterations(&mut self, rest: usize) {
        self.rest_iterations = rest;
    }

    /// How many iterations the next frame gets: FIRST for the first frame (and after a change of
    /// size), REST for the others.
    pub fn next_iterations(&self, content: &Array4<f32>) -> usize {
        match &self.previous {
            Some(previous) if previous.dim() == content.dim() => self.rest_iterations,
            _ => self.first_iterations,
        }
    }

    /// Stylizes one frame (1×3×H×W, RGB in [0, 1]) and remembers the result for the next.
    /// `motion` is the motion from the previous content frame to this one, if known;
    /// `on_iteration` is called after each iteration, as by [`optimize`].
    pub fn stylize(
        &mut self,
        content: &Array4<f32>,
        motion: Option<&Motion>,
        on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
    ) -> Result<(Array4<f32>, Outcome)> {
        self.targets.contents = self.model.features(content.view())?.contents;
        let iterations = self.next_iterations(content);
        let previous = self.previous.take().filter(|p| p.dim() == content.dim());
        // The previous stylized frame carried into this one, and where it can be trusted.
        let (target, warped_start) = match (&previous, motion) {
            (Some(previous), Some(motion)) => {
                let (target, start) = carry(previous, content, motion)?;
                (Some(target), Some(start))
            }
            _ => (None, None),
        };
        let mut image = match (self.init, previous, warped_start) {
            (FrameInit::PrevWarped, _, Some(start)) => start,
            (FrameInit::Prev | FrameInit::PrevWarped, Some(previous), _) => previous,
            (FrameInit::Noise, _, _) => noise(content.dim(), &mut self.rng),
            _ => content.clone(),
        };
        self.targets.temporal = target.filter(|_| self.weights.temporal > 0.0);
        self.optimizer.reset();
        let outcome = optimize(
            &mut self.model,
            &self.targets,
            &self.weights,
            &mut image,
            &mut self.optimizer,
            iterations,
            on_iteration,
        )?;
        self.previous = Some(image.clone());
        Ok((image, outcome))
    }
}

/// The previous stylized frame warped along `motion` into the current frame, as the temporal
/// loss's target (with the reliability weights as its mask), and the warm start made from it: the
/// warped frame where it is reliable, the current content where it is not (areas the motion
/// uncovers have no stylized past; their content is the right picture to start painting from).
fn carry(
    previous: &Array4<f32>,
    content: &Array4<f32>,
    motion: &Motion,
) -> Result<(TemporalTarget, Array4<f32>)> {
    let warped = temporal::warp(previous.view(), &motion.backward)?.image;
    let (h, w) = motion.weights.dim();
    let mask = motion
        .weights
        .view()
        .into_shape_with_order((1, 1, h, w))
        .context("internal: reliability weights of the wrong size")?
        .to_owned();
    let start = &warped * &mask + content * &(1.0 - &mask);
    Ok((
        TemporalTarget {
            image: warped,
            mask,
        },
        start,
    ))
}
