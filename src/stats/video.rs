//! `stylize video --stats`: the run's figures and each frame's.

use serde::Serialize;

use super::LevelStats;
use crate::model::{LossTerms, LossWeights, Model};
use crate::pipeline::Report;
use crate::stylize::{FrameStylizer, Iteration, Outcome, Solver, Stop};

/// One frame's figures.
#[derive(Serialize)]
pub struct FrameStats {
    pub frame: u64,
    pub pts: Option<i64>,
    /// Iterations and evaluations of all its levels.
    pub iterations: usize,
    pub evaluations: usize,
    /// Why it stopped: converged, tolerance, iterations or interrupted.
    pub stop: Stop,
    /// Loss terms at its start (its coarsest level's) and at its end.
    pub initial: LossTerms,
    pub loss: LossTerms,
    /// A cold start's coarse-to-fine levels (absent for a warm frame).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<LevelStats>,
    pub seconds: f64,
    /// Inside ONNX Runtime's loss evaluations.
    pub model_seconds: f64,
    /// Inside ONNX Runtime's runs of the optimizer's graphs.
    pub algebra_seconds: f64,
    /// Host↔device bytes, the frame's uploads included.
    pub transfer_bytes: u64,
}

impl FrameStats {
    /// The figures of frame `frame` (timestamp `pts`), optimized over `levels` (sizes, coarse to
    /// fine) with `outcomes` in `seconds`.
    pub fn new(
        frame: u64,
        pts: Option<i64>,
        levels: &[(usize, usize)],
        outcomes: &[Outcome],
        seconds: f64,
    ) -> FrameStats {
        let its: Vec<&Iteration> = outcomes.iter().flat_map(|o| &o.iterations).collect();
        let levels = match outcomes {
            [_, _, ..] => levels
                .iter()
                .zip(outcomes)
                .map(|(&size, o)| LevelStats::new(size, o))
                .collect(),
            _ => Vec::new(),
        };
        FrameStats {
            frame,
            pts,
            iterations: its.len(),
            evaluations: its.iter().map(|i| i.evaluations).sum(),
            stop: outcomes.last().map_or(Stop::Iterations, |o| o.stop),
            initial: outcomes.first().map(|o| o.initial).unwrap_or_default(),
            loss: its.last().map(|i| i.loss).unwrap_or_default(),
            levels,
            seconds,
            model_seconds: its.iter().map(|i| i.model_seconds).sum(),
            algebra_seconds: its.iter().map(|i| i.algebra_seconds).sum(),
            transfer_bytes: outcomes.iter().map(|o| o.transfer_bytes).sum(),
        }
    }
}

/// The frames' figures of a run, kept only when asked for (so that memory does not grow with a
/// video's length), and their total time.
#[derive(Default)]
pub struct FrameLog {
    keep: bool,
    pub frames: Vec<FrameStats>,
    pub stylize_seconds: f64,
}

impl FrameLog {
    /// A log that keeps the frames' figures when `keep`.
    pub fn new(keep: bool) -> FrameLog {
        FrameLog {
            keep,
            ..FrameLog::default()
        }
    }

    /// Adds a frame's figures.
    pub fn add(&mut self, frame: FrameStats) {
        self.stylize_seconds += frame.seconds;
        if self.keep {
            self.frames.push(frame);
        }
    }
}

/// The figures of a run.
#[derive(Serialize)]
pub struct VideoStats<'a> {
    pub command: &'static str,
    pub input: &'a str,
    pub output: &'a str,
    pub processing_width: u32,
    pub processing_height: u32,
    pub output_width: u32,
    pub output_height: u32,
    #[serde(flatten)]
    pub engine: EngineFigures,
    pub weights: LossWeights,
    pub frames: &'a [FrameStats],
    pub frames_written: u64,
    pub interrupted: bool,
    /// Wall time of the whole run, set-up included.
    pub seconds: f64,
    #[serde(flatten)]
    pub pipeline: PipelineFigures,
    /// The process's peak resident memory (Linux), in bytes.
    pub peak_rss_bytes: Option<u64>,
}

/// Where the stylizer ran.
#[derive(Serialize)]
pub struct EngineFigures {
    pub device: String,
    pub threads: usize,
    /// `device` (the optimizer's graphs on the model's device) or `host`.
    pub engine: &'static str,
    /// `tf32` or `fp32`.
    pub precision: &'static str,
}

impl EngineFigures {
    /// The figures of `model` and `solver`, running on `threads` threads.
    pub fn new(model: &Model, solver: &Solver, threads: usize) -> EngineFigures {
        EngineFigures {
            device: model.backend().to_string(),
            threads,
            engine: solver.name(),
            precision: model.precision(),
        }
    }

    /// The figures of `stylizer`, running on `threads` threads.
    pub fn of(stylizer: &FrameStylizer, threads: usize) -> EngineFigures {
        EngineFigures::new(stylizer.model(), stylizer.solver(), threads)
    }
}

/// Where the pipeline's time went.
#[derive(Serialize)]
pub struct PipelineFigures {
    /// Wall time from the first decoded frame being asked for to the trailer written.
    pub pipeline_seconds: f64,
    /// Time inside the stylizer (content targets and optimization), all frames.
    pub stylize_seconds: f64,
    /// Time the prepare stage spent converting frames and computing optical flow (its own thread).
    pub prepare_seconds: f64,
    pub waiting_for_input_seconds: f64,
    pub waiting_for_output_seconds: f64,
}

impl PipelineFigures {
    /// The figures of a run that took `seconds` and spent `stylize_seconds` in the stylizer.
    pub fn of(report: &Report, seconds: f64, stylize_seconds: f64) -> PipelineFigures {
        PipelineFigures {
            pipeline_seconds: seconds,
            stylize_seconds,
            prepare_seconds: report.prepare_seconds,
            waiting_for_input_seconds: report.waiting_for_input,
            waiting_for_output_seconds: report.waiting_for_output,
        }
    }
}
