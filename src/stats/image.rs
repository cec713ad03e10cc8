//! `stylize image --stats`: the run's figures, level by level.

use std::path::PathBuf;

use serde::Serialize;

use super::{full_size_evaluations, EngineFigures, LevelStats};
use crate::model::{LossTerms, LossWeights};
use crate::stylize::{Iteration, Outcome, Stop};

/// What a still image's run was.
pub struct ImageRun<'a> {
    pub content: &'a PathBuf,
    pub styles: &'a [PathBuf],
    pub output: &'a PathBuf,
    /// The finest level's size.
    pub width: usize,
    pub height: usize,
    pub model: String,
    pub optimizer: String,
    pub weights: LossWeights,
    /// Before the first iteration: model load, targets.
    pub setup_seconds: f64,
    /// The whole run.
    pub seconds: f64,
}

/// The figures of a run.
#[derive(Serialize)]
pub struct ImageStats<'a> {
    command: &'static str,
    content: &'a PathBuf,
    styles: &'a [PathBuf],
    output: &'a PathBuf,
    width: usize,
    height: usize,
    #[serde(flatten)]
    engine: EngineFigures,
    model: String,
    optimizer: String,
    weights: LossWeights,
    /// The coarse-to-fine levels, coarse to fine.
    levels: &'a [LevelStats],
    /// Why the run ended: converged, tolerance, iterations or interrupted (the finest level's).
    stop: Stop,
    /// The finest level's loss terms at its start and after each of its iterations.
    initial: LossTerms,
    iterations: &'a [Iteration],
    /// Loss-and-gradient evaluations of all levels.
    evaluations: usize,
    /// The same in units of one at the full size (an evaluation's cost grows with the pixels).
    full_size_evaluations: f64,
    seconds: f64,
    /// Inside ONNX Runtime's loss evaluations.
    model_seconds: f64,
    /// Inside ONNX Runtime's runs of the optimizer's graphs.
    algebra_seconds: f64,
    /// Share of the optimization's wall time inside ONNX Runtime (loss and optimizer graphs).
    ort_share: f64,
    /// Host↔device bytes per iteration (uploads of the image and targets not included).
    transfer_bytes_per_iteration: f64,
    /// Host↔device bytes in all.
    transfer_bytes: u64,
    setup_seconds: f64,
}

impl<'a> ImageStats<'a> {
    /// The figures of `run` on `engine`, whose levels ended with `outcomes` (`levels` their
    /// summaries; `finest` the last).
    pub fn new(
        run: ImageRun<'a>,
        engine: EngineFigures,
        levels: &'a [LevelStats],
        outcomes: &'a [Outcome],
        finest: &'a Outcome,
    ) -> ImageStats<'a> {
        let its: Vec<&Iteration> = outcomes.iter().flat_map(|o| &o.iterations).collect();
        let model_seconds: f64 = its.iter().map(|i| i.model_seconds).sum();
        let algebra_seconds: f64 = its.iter().map(|i| i.algebra_seconds).sum();
        let optimize_seconds: f64 = its.iter().map(|i| i.seconds).sum();
        let iteration_bytes: u64 = its.iter().map(|i| i.transfer_bytes).sum();
        ImageStats {
            command: "image",
            content: run.content,
            styles: run.styles,
            output: run.output,
            width: run.width,
            height: run.height,
            engine,
            model: run.model,
            optimizer: run.optimizer,
            weights: run.weights,
            levels,
            stop: finest.stop,
            initial: finest.initial,
            iterations: &finest.iterations,
            evaluations: its.iter().map(|i| i.evaluations).sum(),
            full_size_evaluations: full_size_evaluations(levels, run.width * run.height),
            seconds: run.seconds,
            model_seconds,
            algebra_seconds,
            ort_share: (model_seconds + algebra_seconds) / optimize_seconds.max(f64::MIN_POSITIVE),
            transfer_bytes_per_iteration: iteration_bytes as f64 / its.len().max(1) as f64,
            transfer_bytes: outcomes.iter().map(|o| o.transfer_bytes).sum(),
            setup_seconds: run.setup_seconds,
        }
    }
}
