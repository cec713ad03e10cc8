//! One optimization on either engine: the optimizer's vectors on the host or on the model's
//! device, the loss graph as the objective, and the per-iteration figures.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::{Array1, Array4};
use serde::Serialize;

use super::{Budget, Stop};
use crate::model::{runtime, Backend, LossTerms, LossWeights, Model, Targets};
use crate::optim::{
    Algebra, AnyOptimizer, Bands, DeviceVector, Graphs, Host, Objective, Optimizer, OptimizerKind,
    Traffic,
};

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
    /// The preconditioner's bands (0: none).
    pub bands: usize,
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
    /// Vectors in the device's memory, algebra as ONNX graphs on it; the second set of graphs runs
    /// the preconditioner inside the loss, opened by the first optimization that uses it.
    Device(Box<AnyOptimizer<Graphs>>, Option<Box<Graphs>>),
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
            Solver::Device(Box::new(kind.build_with(model.optimizer_graphs()?)?), None)
        } else {
            Solver::Host(Box::new(kind.build()?))
        })
    }

    /// `host` or `device`, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Solver::Host(_) => "host",
            Solver::Device(..) => "device",
        }
    }

    /// Forgets the optimizer's state (a new frame).
    pub fn reset(&mut self) {
        match self {
            Solver::Host(opt) => opt.reset(),
            Solver::Device(opt, _) => opt.reset(),
        }
    }

    /// Forgets the optimizer's evaluation but keeps its curvature (a new frame much like the last:
    /// see [`Optimizer::retarget`]).
    pub fn retarget(&mut self) {
        match self {
            Solver::Host(opt) => opt.retarget(),
            Solver::Device(opt, _) => opt.retarget(),
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
    /// Seconds so far in ONNX Runtime's runs of the optimizer's graphs on the objective's behalf
    /// (the device's bands).
    fn algebra_seconds(&self) -> f64 {
        0.0
    }
}

/// The loss as the host optimizer sees it: a flat vector in, loss and gradient out. With bands,
/// the vector is z and the image x₀ + P z; the gradient is then P ∇f (P is symmetric).
struct HostLoss<'a> {
    model: &'a mut Model,
    targets: &'a Targets,
    weights: &'a LossWeights,
    shape: (usize, usize, usize, usize),
    bands: Option<HostBands>,
    record: Record,
}

/// The preconditioner on the host: its weights, the starting image x₀, the image x₀ + P z and its
/// gradient.
struct HostBands {
    bands: Bands,
    origin: Vec<f32>,
    image: Vec<f32>,
    grad: Vec<f32>,
}

impl Objective<Array1<f32>> for HostLoss<'_> {
    type Error = anyhow::Error;

    fn evaluate(&mut self, x: &Array1<f32>, grad: &mut Array1<f32>) -> Result<f32> {
        let shape = [self.shape.0, self.shape.1, self.shape.2, self.shape.3];
        let x = x.as_slice().context("internal: image is not contiguous")?;
        let grad = grad
            .as_slice_mut()
            .context("internal: gradient is not contiguous")?;
        let (image, image_grad) = match &mut self.bands {
            Some(b) => {
                b.bands.apply(shape, Some(&b.origin), x, &mut b.image);
                (&b.image[..], &mut b.grad[..])
            }
            None => (x, &mut grad[..]),
        };
        let image = ndarray::ArrayView4::from_shape(self.shape, image)
            .context("internal: image vector has the wrong length")?;
        let start = Instant::now();
        let terms = self
            .model
            .loss_and_gradient(image, self.targets, self.weights, image_grad)?;
        let total = self.record.add(terms, start);
        if let Some(b) = &self.bands {
            b.bands.apply(shape, None, &b.grad, grad);
        }
        Ok(total)
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

/// The loss on device vectors, against the targets bound to the model; with bands, of the image
/// x₀ + P z, as [`HostLoss`].
struct DeviceLoss<'a> {
    model: &'a mut Model,
    bands: Option<DeviceBands<'a>>,
    record: Record,
}

/// The preconditioner on the device: its weights, its graph, the starting image x₀, zeros, the
/// image x₀ + P z and its gradient.
struct DeviceBands<'a> {
    bands: Bands,
    graphs: &'a mut Graphs,
    origin: DeviceVector,
    zeros: DeviceVector,
    image: DeviceVector,
    grad: DeviceVector,
}

impl Objective<DeviceVector> for DeviceLoss<'_> {
    type Error = anyhow::Error;

    fn evaluate(&mut self, x: &DeviceVector, grad: &mut DeviceVector) -> Result<f32> {
        let (image, image_grad) = match &mut self.bands {
            Some(b) => {
                b.graphs
                    .bands(b.bands.weights(), &b.origin, x, &mut b.image)?;
                (&b.image, &mut b.grad)
            }
            None => (x, &mut *grad),
        };
        let start = Instant::now();
        let terms = self.model.loss_and_gradient_bound(image, image_grad)?;
        let total = self.record.add(terms, start);
        if let Some(b) = &mut self.bands {
            b.graphs.bands(b.bands.weights(), &b.zeros, &b.grad, grad)?;
        }
        Ok(total)
    }
}

impl Recorded for DeviceLoss<'_> {
    fn record(&mut self) -> &mut Record {
        &mut self.record
    }

    fn traffic(&self) -> Traffic {
        let bands = self.bands.as_ref().map(|b| b.graphs.traffic());
        let (model, bands) = (self.model.bound_traffic(), bands.unwrap_or_default());
        Traffic {
            to_device: model.to_device + bands.to_device,
            to_host: model.to_host + bands.to_host,
            run_seconds: model.run_seconds + bands.run_seconds,
        }
    }

    fn algebra_seconds(&self) -> f64 {
        self.bands
            .as_ref()
            .map_or(0.0, |b| b.graphs.traffic().run_seconds)
    }
}

/// Minimizes the loss over `image` (1×3×H×W, RGB in [0, 1], changed in place) for at most the
/// budget's iterations (its tolerance is [`super::optimize_within`]'s), preconditioned if it says
/// so, calling `on_iteration` after each (which may end the optimization early with
/// `ControlFlow::Break`, e.g. on Ctrl-C). The optimizer's state is kept, so a caller that continues
/// from where it stopped may pass it again; it is the caller's to [`Solver::reset`].
pub fn optimize(
    model: &mut Model,
    targets: &Targets,
    weights: &LossWeights,
    image: &mut Array4<f32>,
    solver: &mut Solver,
    budget: Budget,
    on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
) -> Result<Outcome> {
    let shape = image.dim();
    let iterations = budget.iterations;
    let bands = budget
        .precondition
        .then(|| Bands::for_size(shape.2, shape.3))
        .flatten();
    let count = bands.as_ref().map_or(0, Bands::count);
    tracing::debug!(
        width = shape.3,
        height = shape.2,
        iterations,
        preconditioned = bands.is_some(),
        "optimizing"
    );
    match solver {
        Solver::Host(optimizer) => {
            let dims = [shape.0, shape.1, shape.2, shape.3];
            let image_slice = image
                .as_slice()
                .context("internal: image is not contiguous")?;
            // With bands the optimizer starts from z = 0, the image from x₀.
            let mut x = match bands {
                Some(_) => Array1::zeros(image_slice.len()),
                None => Array1::from_iter(image_slice.iter().copied()),
            };
            let mut objective = HostLoss {
                model,
                targets,
                weights,
                shape,
                bands: bands.map(|bands| HostBands {
                    bands,
                    origin: image_slice.to_vec(),
                    image: vec![0.0; image_slice.len()],
                    grad: vec![0.0; image_slice.len()],
                }),
                record: Record::default(),
            };
            let mut outcome = steps(optimizer, &mut x, &mut objective, iterations, on_iteration)?;
            outcome.bands = count;
            let x = x.as_slice().context("internal: image is not contiguous")?;
            let image = image
                .as_slice_mut()
                .context("internal: image is not contiguous")?;
            match &objective.bands {
                Some(b) => b.bands.apply(dims, Some(&b.origin), x, image),
                None => image.copy_from_slice(x),
            }
            Ok(outcome)
        }
        Solver::Device(optimizer, band_graphs) => {
            // The band graphs' traffic counts while they run in the objective, as `after` has it.
            let band_traffic = match (&bands, &band_graphs) {
                (Some(_), Some(graphs)) => graphs.traffic().bytes(),
                _ => 0,
            };
            let before = model.bound_traffic().bytes()
                + optimizer.algebra().traffic().bytes()
                + band_traffic;
            model.bind_targets(targets, weights)?;
            let mut x = optimizer.algebra().upload(image.view())?;
            let bands = match bands {
                Some(bands) => {
                    let graphs = match band_graphs {
                        Some(graphs) => graphs,
                        None => band_graphs.insert(Box::new(model.optimizer_graphs()?)),
                    };
                    let (image, grad) = (graphs.alloc_like(&x)?, graphs.alloc_like(&x)?);
                    let mut zeros = graphs.alloc_like(&x)?;
                    graphs.combine(0.0, &x, 0.0, &x, &mut zeros)?;
                    let mut z = graphs.alloc_like(&x)?;
                    graphs.assign(&mut z, &zeros)?;
                    let origin = std::mem::replace(&mut x, z);
                    Some(DeviceBands {
                        bands,
                        graphs,
                        origin,
                        zeros,
                        image,
                        grad,
                    })
                }
                None => None,
            };
            let mut objective = DeviceLoss {
                model,
                bands,
                record: Record::default(),
            };
            let mut outcome = steps(optimizer, &mut x, &mut objective, iterations, on_iteration)?;
            if let Some(b) = &mut objective.bands {
                b.graphs
                    .bands(b.bands.weights(), &b.origin, &x, &mut b.image)?;
                std::mem::swap(&mut x, &mut b.image);
            }
            optimizer.algebra().download(&x, image.view_mut())?;
            let after = objective.traffic().bytes() + optimizer.algebra().traffic().bytes();
            outcome.transfer_bytes = after - before;
            outcome.bands = count;
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
        bands: 0,
    };
    let meter = |optimizer: &mut AnyOptimizer<A>, objective: &O| {
        let (a, o) = (optimizer.algebra().traffic(), objective.traffic());
        (
            a.run_seconds + objective.algebra_seconds(),
            a.bytes() + o.bytes(),
        )
    };
    for iteration in 1..=iterations {
        let start = Instant::now();
        objective.record().model_seconds = 0.0;
        let (algebra_before, bytes_before) = meter(optimizer, objective);
        // An interrupt ends the evaluation in progress; `x` is still the last accepted point.
        let step = match optimizer.step(x, objective) {
            Ok(step) => step,
            Err(e) if runtime::is_interrupt(&e) => {
                outcome.stop = Stop::Interrupted;
                break;
            }
            Err(e) => return Err(e),
        };
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

#[cfg(test)]
mod tests;
