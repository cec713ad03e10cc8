//! One image's optimization (Gatys et al.): the loss-and-gradient calls, the optimizer steps, the stopping rule.

mod pyramid;
mod stopping;

pub use pyramid::{coarse_to_fine, level_sizes, max_levels, resize, split, Level, TooSmall};
pub use stopping::{optimize_within, Budget, Stop, Tolerance};

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::{Array1, Array4};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::model::{Backend, LossTerms, LossWeights, Model, Targets, TemporalTarget};
use crate::optim::{
    Algebra, AnyOptimizer, DeviceVector, Graphs, Host, Objective, Optimizer, OptimizerKind, Traffic,
};
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
    /// Of those, seconds inside ONNX Runtime's loss evaluations.
    pub model_seconds: f64,
    /// Of those, seconds inside ONNX Runtime's runs of the optimizer's graphs (device engine).
    pub algebra_seconds: f64,
    /// Bytes copied between host and device.
    pub transfer_bytes: u64,
}

/// The outcome of [`optimize`].
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Loss terms at the starting image.
    pub initial: LossTerms,
    /// One entry per iteration run.
    pub iterations: Vec<Iteration>,
    /// Why it stopped: the optimizer could make no more progress (`converged`), `on_iteration`
    /// ended it (`interrupted`), or it ran all its iterations.
    pub stop: Stop,
    /// Bytes copied between host and device in all, uploads of the image and targets included.
    pub transfer_bytes: u64,
}

/// Which engine runs the optimization.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// On the device's graphs with CUDA, on the host with the CPU.
    #[default]
    Auto,
    /// The optimizer's algebra in Rust on the host; the image and gradient cross every evaluation.
    Host,
    /// The optimizer's algebra as graphs on the model's device; only scalars cross.
    Device,
}

/// The optimizer and where its vectors live.
#[derive(Debug)]
pub enum Solver {
    /// Vectors in host memory, algebra in Rust.
    Host(Box<AnyOptimizer<Host>>),
    /// Vectors in the device's memory, algebra as ONNX graphs on it.
    Device(Box<AnyOptimizer<Graphs>>),
}

impl Solver {
    /// The optimizer `kind` on the engine `choice` for `model`'s device.
    pub fn new(kind: &OptimizerKind, choice: EngineChoice, model: &Model) -> Result<Solver> {
        let on_device = match choice {
            EngineChoice::Auto => model.backend() != Backend::Cpu,
            EngineChoice::Host => false,
            EngineChoice::Device => true,
        };
        Ok(if on_device {
            Solver::Device(Box::new(kind.build_with(model.optimizer_graphs()?)?))
        } else {
            Solver::Host(Box::new(kind.build()?))
        })
    }

    /// `host` or `device`, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Solver::Host(_) => "host",
            Solver::Device(_) => "device",
        }
    }

    /// Forgets the optimizer's state (a new frame).
    pub fn reset(&mut self) {
        match self {
            Solver::Host(opt) => opt.reset(),
            Solver::Device(opt) => opt.reset(),
        }
    }
}

/// The loss terms of each evaluation since the last drain (to find those of the accepted point)
/// and the seconds spent in them.
#[derive(Default)]
struct Record {
    evaluated: Vec<LossTerms>,
    model_seconds: f64,
    /// Evaluations in all.
    count: u64,
}

impl Record {
    fn add(&mut self, terms: LossTerms, start: Instant) -> f32 {
        self.model_seconds += start.elapsed().as_secs_f64();
        self.count += 1;
        self.evaluated.push(terms);
        terms.total
    }
}

/// An objective over the loss graph that keeps a [`Record`].
trait Recorded {
    fn record(&mut self) -> &mut Record;
    /// Host↔device traffic of the loss graph so far.
    fn traffic(&self) -> Traffic;
}

/// The loss as the host optimizer sees it: a flat vector in, loss and gradient out.
struct HostLoss<'a> {
    model: &'a mut Model,
    targets: &'a Targets,
    weights: &'a LossWeights,
    shape: (usize, usize, usize, usize),
    record: Record,
}

impl Objective<Array1<f32>> for HostLoss<'_> {
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
        Ok(self.record.add(terms, start))
    }
}

impl Recorded for HostLoss<'_> {
    fn record(&mut self) -> &mut Record {
        &mut self.record
    }

    fn traffic(&self) -> Traffic {
        // On a GPU the image and the targets go up, the gradient and the terms come down at every
        // evaluation.
        if self.model.backend() == Backend::Cpu {
            return Traffic::default();
        }
        let t = self.targets;
        let temporal = t
            .temporal
            .as_ref()
            .map_or(0, |t| t.image.len() + t.mask.len());
        let targets: usize = t.grams.iter().map(|g| g.len()).sum::<usize>()
            + t.contents.iter().map(|c| c.len()).sum::<usize>()
            + temporal;
        let (n, evaluations) = (
            self.shape.1 * self.shape.2 * self.shape.3,
            self.record.count,
        );
        Traffic {
            to_device: evaluations * 4 * (n + targets) as u64,
            to_host: evaluations * 4 * (n + 5) as u64,
            run_seconds: 0.0,
        }
    }
}

/// The loss on device vectors, against the targets bound to the model.
struct DeviceLoss<'a> {
    model: &'a mut Model,
    record: Record,
}

impl Objective<DeviceVector> for DeviceLoss<'_> {
    type Error = anyhow::Error;

    fn evaluate(&mut self, x: &DeviceVector, grad: &mut DeviceVector) -> Result<f32> {
        let start = Instant::now();
        let terms = self.model.loss_and_gradient_bound(x, grad)?;
        Ok(self.record.add(terms, start))
    }
}

impl Recorded for DeviceLoss<'_> {
    fn record(&mut self) -> &mut Record {
        &mut self.record
    }

    fn traffic(&self) -> Traffic {
        self.model.bound_traffic()
    }
}

/// Minimizes the loss over `image` (1×3×H×W, RGB in [0, 1], changed in place) for at most `iterations`
/// optimizer steps, calling `on_iteration` after each (which may end the optimization early with
/// `ControlFlow::Break`, e.g. on Ctrl-C). The optimizer's state is kept, so a caller that continues
/// from where it stopped may pass it again; it is the caller's to [`Solver::reset`].
pub fn optimize(
    model: &mut Model,
    targets: &Targets,
    weights: &LossWeights,
    image: &mut Array4<f32>,
    solver: &mut Solver,
    iterations: usize,
    on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
) -> Result<Outcome> {
    let shape = image.dim();
    match solver {
        Solver::Host(optimizer) => {
            let mut x = Array1::from_iter(image.iter().copied());
            let mut objective = HostLoss {
                model,
                targets,
                weights,
                shape,
                record: Record::default(),
            };
            let outcome = steps(optimizer, &mut x, &mut objective, iterations, on_iteration)?;
            for (dst, &src) in image.iter_mut().zip(x.iter()) {
                *dst = src;
            }
            Ok(outcome)
        }
        Solver::Device(optimizer) => {
            let before = model.bound_traffic().bytes() + optimizer.algebra().traffic().bytes();
            model.bind_targets(targets, weights)?;
            let mut x = optimizer.algebra().upload(image.view())?;
            let mut objective = DeviceLoss {
                model,
                record: Record::default(),
            };
            let mut outcome = steps(optimizer, &mut x, &mut objective, iterations, on_iteration)?;
            optimizer.algebra().download(&x, image.view_mut())?;
            let after =
                objective.model.bound_traffic().bytes() + optimizer.algebra().traffic().bytes();
            outcome.transfer_bytes = after - before;
            Ok(outcome)
        }
    }
}

/// The iterations of [`optimize`] on either engine.
fn steps<A, O>(
    optimizer: &mut AnyOptimizer<A>,
    x: &mut A::Vector,
    objective: &mut O,
    iterations: usize,
    mut on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
) -> Result<Outcome>
where
    A: Algebra,
    O: Objective<A::Vector, Error = anyhow::Error> + Recorded,
    anyhow::Error: From<A::Error>,
{
    let mut outcome = Outcome {
        initial: LossTerms::default(),
        iterations: Vec::with_capacity(iterations),
        stop: Stop::Iterations,
        transfer_bytes: 0,
    };
    let meter = |optimizer: &mut AnyOptimizer<A>, objective: &O| {
        let (a, o) = (optimizer.algebra().traffic(), objective.traffic());
        (a.run_seconds, a.bytes() + o.bytes())
    };
    for iteration in 1..=iterations {
        let start = Instant::now();
        objective.record().model_seconds = 0.0;
        let (algebra_before, bytes_before) = meter(optimizer, objective);
        let step = optimizer.step(x, objective)?;
        let (algebra_after, bytes_after) = meter(optimizer, objective);
        let record = objective.record();
        if iteration == 1 {
            if let Some(first) = record.evaluated.first() {
                outcome.initial = *first;
            }
        }
        let loss = record
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
        record.evaluated.clear();
        let report = Iteration {
            iteration,
            loss,
            evaluations: step.evaluations,
            seconds: start.elapsed().as_secs_f64(),
            model_seconds: record.model_seconds,
            algebra_seconds: algebra_after - algebra_before,
            transfer_bytes: bytes_after - bytes_before,
        };
        outcome.transfer_bytes += report.transfer_bytes;
        let flow = on_iteration(&report);
        outcome.iterations.push(report);
        if step.converged {
            outcome.stop = Stop::Converged;
            break;
        }
        if flow.is_break() {
            outcome.stop = Stop::Interrupted;
            break;
        }
    }
    Ok(outcome)
}

/// Seeded white noise in [0, 1] of `shape` (Gatys et al.'s random start).
pub fn noise(shape: (usize, usize, usize, usize), rng: &mut StdRng) -> Array4<f32> {
    Array4::from_shape_simple_fn(shape, || rng.random::<f32>())
}

/// Where each video frame's optimization starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameStart {
    /// The previous stylized frame carried along the optical flow, the content where the flow
    /// cannot be trusted.
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
    init: FrameStart,
    schedule: Schedule,
    previous: Option<Array4<f32>>,
    /// A stylized first frame to use instead of optimizing one.
    first: Option<Array4<f32>>,
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
            init,
            schedule,
            previous: None,
            first: None,
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
    }

    /// Sets the style weight from the next frame on.
    pub fn set_style_weight(&mut self, weight: f32) {
        self.weights.style = weight;
    }

    /// Takes `image` (1×3×H×W, RGB in [0, 1]) as the stylized first frame instead of optimizing
    /// it; used if the first frame has its size.
    pub fn start_from(&mut self, image: Array4<f32>) {
        self.first = Some(image);
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
        self.targets.contents = self.model.features(content.view())?.contents;
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
            (FrameStart::PrevWarped, _, Some(start)) => start,
            (FrameStart::Prev | FrameStart::PrevWarped, Some(previous), _) => previous,
            (FrameStart::Noise, _, _) => noise(content.dim(), &mut self.rng),
            _ => content.clone(),
        };
        self.targets.temporal = target.filter(|_| self.weights.temporal > 0.0);
        self.solver.reset();
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
        if planned {
            for ((&size, budget), grams) in self
                .schedule
                .levels
                .iter()
                .zip(&self.schedule.first)
                .zip(&self.coarse_grams)
            {
                let scaled = resize(content.view(), size);
                levels.push(Level {
                    size,
                    targets: Targets {
                        grams: grams.clone(),
                        contents: self.model.features(scaled.view())?.contents,
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
            },
        };
        levels.push(Level {
            size,
            targets: Targets {
                grams: self.targets.grams.clone(),
                contents: self.model.features(content.view())?.contents,
                temporal: None,
            },
            budget,
        });
        let coarsest = levels[0].size;
        let start = match self.init {
            FrameStart::Noise => noise((1, 3, coarsest.0, coarsest.1), &mut self.rng),
            _ => resize(content.view(), coarsest),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::{Device, SessionConfig};
    use crate::optim::{LbfgsConfig, OptimizerKind};

    /// The tiny model's 20-iteration stylization of a small gradient image on one engine.
    fn stylize_on(choice: EngineChoice) -> (Array4<f32>, Outcome) {
        let dir = crate::project::find(Path::new("models/tiny")).expect("run scripts/setup.sh");
        let config = SessionConfig {
            device: Device::Cpu,
            threads: 1,
            quiet: true,
            tf32: false,
        };
        let mut model = Model::load(&dir, &config).expect("model");
        let content = Array4::from_shape_fn((1, 3, 40, 56), |(_, c, y, x)| {
            ((x as f32 * 0.11 + c as f32).sin() * 0.4 + 0.5) * (y as f32 / 40.0)
        });
        let style = Array4::from_shape_fn((1, 3, 48, 48), |(_, c, y, x)| {
            (((x + 2 * y) % 7) as f32 / 7.0 + 0.1 * c as f32).min(1.0)
        });
        let targets = Targets {
            grams: model.features(style.view()).expect("style").grams,
            contents: model.features(content.view()).expect("content").contents,
            temporal: None,
        };
        let weights = LossWeights {
            content: 5.0,
            style: 100.0,
            tv: 0.001,
            temporal: 0.0,
        };
        let kind = OptimizerKind::Lbfgs(LbfgsConfig::default());
        let mut solver = Solver::new(&kind, choice, &model).expect("solver");
        let mut image = content.clone();
        let outcome = optimize(
            &mut model,
            &targets,
            &weights,
            &mut image,
            &mut solver,
            20,
            |_| ControlFlow::Continue(()),
        )
        .expect("optimize");
        (image, outcome)
    }

    #[test]
    fn device_engine_follows_the_host_engine_on_a_real_stylization() {
        let (host, on_host) = stylize_on(EngineChoice::Host);
        let (device, on_device) = stylize_on(EngineChoice::Device);
        assert_eq!(on_host.iterations.len(), 20);
        let first = on_host.initial.total;
        let last = on_host.iterations[19].loss.total;
        assert!(
            last < 0.9 * first,
            "the loss fell from {first} to {last} only"
        );
        let scale = host.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let error = (&device - &host).iter().fold(0.0f32, |m, e| m.max(e.abs())) / scale;
        eprintln!("tiny model, 20 L-BFGS iterations: relative difference {error:e}");
        assert!(error <= 1e-5, "images differ by {error:e} (relative)");
        for (a, b) in on_host.iterations.iter().zip(&on_device.iterations) {
            assert_eq!(a.evaluations, b.evaluations, "iteration {}", a.iteration);
            let rel = (a.loss.total - b.loss.total).abs() / a.loss.total.abs();
            assert!(
                rel <= 1e-5,
                "iteration {}: {} vs {}",
                a.iteration,
                a.loss.total,
                b.loss.total
            );
        }
        // The device engine moves only scalars per iteration: the image is 6,720 floats.
        let per_iteration = on_device.iterations.iter().map(|i| i.transfer_bytes).max();
        assert!(
            per_iteration.is_some_and(|b| b < 4 * 6720),
            "{per_iteration:?}"
        );
        assert!(on_device.iterations.iter().all(|i| i.algebra_seconds > 0.0));
    }
}
