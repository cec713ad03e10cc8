//! Settings at the edge: the command line's flags turned into the plain settings the library
//! takes, with the presets and defaults of `video` and `live` in one place. Past this module no
//! code sees a flag.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::{
    BudgetArgs, EngineArgs, EngineKind, FrameInit, InputArgs, Iterations, LiveArgs, MediaArgs,
    OptimArgs, OptimizerChoice, OverwriteArgs, PlanArgs, PrecisionChoice, Precondition, RenderArgs,
    SegmentChoice, StyleArgs, TemporalArgs, UsageError, VideoArgs, DEFAULT_TEMPORAL_WEIGHT,
    LIVE_LEVELS, TOLERANCE_WINDOW, VIDEO_LEVELS,
};
use crate::files::Overwrite;
use crate::media::{VideoInfo, VideoSettings};
use crate::model::{self, Backend, Device, LossWeights, SessionConfig};
use crate::optim::{AdamConfig, LbfgsConfig, OptimizerKind};
use crate::render::Cutting;
use crate::source::camera::Camera;
use crate::stylize::{EngineChoice, FrameStart, Tolerance};
use crate::temporal::FlowPreset;

/// The `--live` preset on the CPU (measured on a 2-core CPU: see docs/BENCHMARKS.md). One
/// iteration a warm frame: with the curvature carried from the frames before it takes 2
/// evaluations, where 2 iterations from scratch took 3 to 4, and ends at a lower style loss than
/// those did (12% lower on the test pattern, content loss 6% higher)…
const LIVE_CPU: (u32, Iterations) = (112, Iterations { first: 10, rest: 1 });
/// …and on a GPU, where a frame of the light model at 640 px costs a few milliseconds an
/// iteration (not yet measured on a lent device: scripts/gpu_bench.sh).
const LIVE_GPU: (u32, Iterations) = (640, Iterations { first: 10, rest: 3 });
const LIVE_MODEL: &str = "models/vgg19-live";
/// `live` without `--live`: the full network, slower and finer, on the CPU and on a GPU.
const FULL_CPU: (u32, Iterations) = (
    256,
    Iterations {
        first: 100,
        rest: 10,
    },
);
const FULL_GPU: (u32, Iterations) = (
    512,
    Iterations {
        first: 100,
        rest: 10,
    },
);
/// The `--live` preset's `--temporal-weight`: with 1 or 2 iterations a frame a heavier term holds
/// the picture back, and 10⁴ already costs 12% of style loss on a pan (docs/TEMPORAL.md, measured
/// at 2 iterations a frame).
const LIVE_TEMPORAL_WEIGHT: f32 = 1e3;
/// `--tolerance` when not given, for a video's first frame and its later ones. The first frame
/// runs its whole budget (docs/COARSE_TO_FINE.md). A warm frame stops once the loss falls by less
/// than 0.3% over 10 iterations: on a still shot that is after the frame's new noise is absorbed,
/// so the chain does not go on converging (brighter) frame after frame; moving clips still run
/// their 40 (docs/TEMPORAL.md). Live's 1 to 3 iterations a frame never fill the rule's window.
const TOLERANCE: (f32, f32) = (0.0, 3e-3);

/// The model, where it runs and the optimizer.
#[derive(Clone, Debug)]
pub struct Engine {
    pub model_dir: PathBuf,
    pub session: SessionConfig,
    /// Whether TF32 was asked for by name (then the CPU is an error, not a fallback).
    pub tf32_asked: bool,
    pub engine: EngineChoice,
    pub optimizer: OptimizerKind,
    pub seed: u64,
    /// Whether to keep quiet (no notice of a fallback to the CPU).
    pub quiet: bool,
}

/// The style images and how they count.
#[derive(Clone, Debug)]
pub struct Style {
    pub paths: Vec<PathBuf>,
    /// One weight per style.
    pub blend: Vec<f32>,
    /// The style images' size relative to the frames'.
    pub scale: f32,
    pub weights: LossWeights,
}

/// How each frame of a video is optimized.
#[derive(Clone, Debug)]
pub struct Frames {
    /// Longest side while optimizing.
    pub size: u32,
    /// The first frame's iterations and every later one's.
    pub iterations: Iterations,
    /// The first frame's coarse-to-fine levels, when given.
    pub levels: Option<usize>,
    /// …and how many when not (as many as fit, at most this).
    pub default_levels: usize,
    /// The stopping rule of the first frame and of the later ones.
    pub tolerance: (Option<Tolerance>, Option<Tolerance>),
    /// Whether the first frame is optimized through the band preconditioner.
    pub precondition: bool,
    pub start: FrameStart,
    pub flow: FlowPreset,
    /// Whether a warm frame's optimizer goes on with the curvature learnt on the frames before
    /// (live: a quasi-Newton first step, fewer evaluations and a lower loss a frame) or starts
    /// afresh (a render).
    pub carry_curvature: bool,
}

/// Where the frames come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Anything FFmpeg opens: a path, URL, `-`, a lavfi graph or a device.
    Media {
        url: String,
        format: Option<String>,
        options: Vec<(String, String)>,
    },
    /// A webcam.
    Camera(Camera),
}

/// `stylize live`, its presets applied.
pub struct Live {
    pub source: Source,
    pub engine: Engine,
    pub style: Style,
    /// The frame settings on the CPU (the preset's size and iterations unless given).
    pub frames: Frames,
    /// The size and iterations on a GPU, when not given.
    gpu: (u32, Iterations),
    size_given: bool,
    iterations_given: bool,
    /// Stop after this many displayed frames.
    pub frame_limit: Option<u64>,
    /// Whether the frames are shown in a window (else only timed).
    pub window: bool,
    pub save_dir: PathBuf,
    pub stats: Option<PathBuf>,
    pub quiet: bool,
}

impl Live {
    /// The frame settings on `backend`: on a GPU, the GPU preset's size and iterations where
    /// they were not given.
    pub fn frames_on(&self, backend: Backend) -> Frames {
        let mut frames = self.frames.clone();
        if let Backend::Cuda(_) = backend {
            if !self.size_given {
                frames.size = self.gpu.0;
            }
            if !self.iterations_given {
                frames.iterations = self.gpu.1;
            }
        }
        frames
    }
}

/// The settings of `stylize live`.
pub fn live(args: &LiveArgs) -> Result<Live> {
    if !args.style.style_blend.is_empty() {
        return Err(usage(
            "--style-blend does not apply to live: the keys 1-9 switch between the styles".into(),
        ));
    }
    if args.style.styles.len() > 9 {
        return Err(usage(format!(
            "live takes at most 9 --style images (keys 1-9), not {}",
            args.style.styles.len()
        )));
    }
    if !args.save_dir.is_dir() {
        bail!(
            "--save-dir '{}' is not a directory",
            args.save_dir.display()
        );
    }
    let source = match &args.camera {
        Some(device) => Source::Camera(Camera {
            device: device.clone(),
            size: args.camera_size,
            fps: args.camera_fps,
            format: args.source.input_format.clone(),
            options: args.source.input_option.clone(),
        }),
        None if args.camera_size.is_some() || args.camera_fps.is_some() => {
            return Err(usage(
                "--camera-size and --camera-fps are for a camera: add --camera [DEVICE]".into(),
            ))
        }
        None => media_source(args.input.clone().unwrap_or_default(), &args.source),
    };
    let model_dir = match (&args.engine.model, args.live) {
        (None, true) => live_model_dir()?,
        (given, _) => model::resolve_dir(given.as_deref()),
    };
    // Every core, as for a render: measured on an idle 2-core CPU (docs/BENCHMARKS.md), 2 threads
    // against 1 gave 4.7 against 3.4 displayed frames a second at 192 px, and the same at 112 px
    // (10.9 against 10.7); the source, the flow and the window take little besides.
    let threads = threads(&args.engine);
    let ((size, iterations), gpu) = match args.live {
        true => (LIVE_CPU, LIVE_GPU),
        false => (FULL_CPU, FULL_GPU),
    };
    Ok(Live {
        source,
        engine: engine(
            &args.engine,
            &args.optim,
            model_dir,
            threads,
            args.report.quiet,
        )?,
        style: style(
            &args.style,
            args.temporal.temporal_weight.unwrap_or(match args.live {
                true => LIVE_TEMPORAL_WEIGHT,
                false => DEFAULT_TEMPORAL_WEIGHT,
            }),
            true,
        )?,
        // Live favours speed: the fast flow unless asked otherwise.
        frames: frames(
            &args.budget,
            &args.temporal,
            args.size.unwrap_or(size),
            args.iterations.unwrap_or(iterations),
            LIVE_LEVELS,
            FlowPreset::Fast,
            true,
        ),
        gpu,
        size_given: args.size.is_some(),
        iterations_given: args.iterations.is_some(),
        frame_limit: args.frames,
        window: !args.no_window,
        save_dir: args.save_dir.clone(),
        stats: args.report.stats.clone(),
        quiet: args.report.quiet,
    })
}

/// The engine, style and frame settings of `stylize video`.
pub fn video(args: &VideoArgs) -> Result<(Engine, Style, Frames)> {
    render(&args.render, args.report.quiet)
}

/// The engine, style and frame settings of a render.
pub fn render(args: &RenderArgs, quiet: bool) -> Result<(Engine, Style, Frames)> {
    let model_dir = model::resolve_dir(args.engine.model.as_deref());
    let threads = threads(&args.engine);
    Ok((
        engine(&args.engine, &args.optim, model_dir, threads, quiet)?,
        style(
            &args.style,
            args.temporal
                .temporal_weight
                .unwrap_or(DEFAULT_TEMPORAL_WEIGHT),
            false,
        )?,
        frames(
            &args.budget,
            &args.temporal,
            args.size,
            args.iterations,
            VIDEO_LEVELS,
            FlowPreset::Quality,
            false,
        ),
    ))
}

/// The encoder settings the media flags ask for, for frames like `info`'s at `size`.
pub fn encoder(media: &MediaArgs, info: &VideoInfo, (width, height): (u32, u32)) -> VideoSettings {
    let mut settings = VideoSettings::like(info, width, height);
    settings.codec = media.codec.clone();
    settings.crf = media.crf;
    settings.preset = media.preset.clone();
    settings.codec_options = media.codec_option.clone();
    settings
}

/// What `-y` and `-n` say to do with outputs that exist.
pub fn overwrite(args: &OverwriteArgs) -> Overwrite {
    match (args.overwrite, args.no_overwrite) {
        (true, _) => Overwrite::Yes,
        (_, true) => Overwrite::No,
        _ => Overwrite::Ask,
    }
}

/// An FFmpeg source as `--input-format` and `--input-option` describe it.
pub fn media_source(url: String, args: &InputArgs) -> Source {
    Source::Media {
        url,
        format: args.input_format.clone(),
        options: args.input_option.clone(),
    }
}

/// The engine that `--device`, `--threads`, `--precision`, `--engine` and the optimizer's flags
/// ask for.
pub fn engine(
    args: &EngineArgs,
    optim: &OptimArgs,
    model_dir: PathBuf,
    threads: usize,
    quiet: bool,
) -> Result<Engine> {
    Ok(Engine {
        model_dir,
        session: session(args, threads)?,
        tf32_asked: args.precision == Some(PrecisionChoice::Tf32),
        engine: match args.engine {
            None => EngineChoice::Auto,
            Some(EngineKind::Host) => EngineChoice::Host,
            Some(EngineKind::Device) => EngineChoice::Device,
        },
        optimizer: optimizer(optim),
        seed: optim.seed,
        quiet,
    })
}

/// The session that `--device` and `--precision` ask for, with `threads`.
pub fn session(args: &EngineArgs, threads: usize) -> Result<SessionConfig> {
    let tf32 = match (args.precision, args.device) {
        (Some(PrecisionChoice::Tf32), Device::Cpu) => return Err(usage(
            "--precision tf32 needs CUDA: use --device cuda, or leave --precision out on the CPU"
                .into(),
        )),
        (Some(choice), _) => choice == PrecisionChoice::Tf32,
        (None, _) => true,
    };
    Ok(SessionConfig {
        device: args.device,
        threads,
        tf32,
    })
}

/// `--threads`, or every core.
pub fn threads(args: &EngineArgs) -> usize {
    args.threads.map_or_else(available_threads, |t| t as usize)
}

/// The optimizer that `--optimizer`, `--learning-rate` and `--lbfgs-history` ask for.
pub fn optimizer(optim: &OptimArgs) -> OptimizerKind {
    match optim.optimizer {
        OptimizerChoice::Lbfgs => OptimizerKind::Lbfgs(LbfgsConfig {
            history: optim.lbfgs_history as usize,
            ..LbfgsConfig::default()
        }),
        OptimizerChoice::Adam => OptimizerKind::Adam(AdamConfig {
            learning_rate: optim.learning_rate,
            ..AdamConfig::default()
        }),
    }
}

/// The styles and loss weights the style flags ask for; `separate` styles are switched between
/// (live), not blended.
pub fn style(args: &StyleArgs, temporal_weight: f32, separate: bool) -> Result<Style> {
    let count = args.styles.len();
    let blend = if separate || args.style_blend.is_empty() {
        vec![1.0; count]
    } else if args.style_blend.len() != count {
        return Err(usage(format!(
            "--style-blend has {} weights but there are {count} --style images: give one weight per style",
            args.style_blend.len()
        )));
    } else {
        args.style_blend.clone()
    };
    Ok(Style {
        paths: args.styles.clone(),
        blend,
        scale: args.style_scale,
        weights: LossWeights {
            content: args.content_weight,
            style: args.style_weight,
            tv: args.tv_weight,
            temporal: temporal_weight,
        },
    })
}

/// The stopping rule `--tolerance` asks for, `default` when it is not given; none at 0.
pub fn tolerance(budget: &BudgetArgs, default: f32) -> Option<Tolerance> {
    let relative = budget.tolerance.unwrap_or(default);
    (relative > 0.0).then_some(Tolerance {
        relative,
        window: TOLERANCE_WINDOW,
    })
}

/// Whether `--precondition` asks for the bands, `default` when it is not given.
pub fn precondition(budget: &BudgetArgs, default: bool) -> bool {
    budget
        .precondition
        .map_or(default, |p| p == Precondition::Bands)
}

/// Frame settings from the budget and temporal flags, at `size` with `iterations` and the first
/// frame on `default_levels` unless `--levels` is given.
fn frames(
    budget: &BudgetArgs,
    temporal: &TemporalArgs,
    size: u32,
    iterations: Iterations,
    default_levels: usize,
    default_flow: FlowPreset,
    carry_curvature: bool,
) -> Frames {
    Frames {
        size,
        iterations,
        levels: budget.levels.map(|n| n as usize),
        default_levels,
        tolerance: (
            tolerance(budget, TOLERANCE.0),
            tolerance(budget, TOLERANCE.1),
        ),
        precondition: precondition(budget, false),
        start: match temporal.init {
            FrameInit::PrevWarped => FrameStart::PrevWarped,
            FrameInit::Prev => FrameStart::Prev,
            FrameInit::Content => FrameStart::Content,
            FrameInit::Noise => FrameStart::Noise,
        },
        flow: temporal.flow_preset.unwrap_or(default_flow),
        carry_curvature,
    }
}

/// A combination of flags that cannot go together: bad usage (exit code 2).
fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// The cores there are.
fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// The light model of the `--live` preset, or a message saying how to make it.
fn live_model_dir() -> Result<PathBuf> {
    crate::project::find(&Path::new(LIVE_MODEL).join("manifest.json"))
        .and_then(|manifest| manifest.parent().map(Path::to_path_buf))
        .with_context(|| {
            format!("the --live model {LIVE_MODEL} is missing: run scripts/setup.sh, or give --model DIR")
        })
}

/// How `stylize plan` cuts: `--segments N` or `--segment-seconds S` (60 s by default), with the
/// `--overlap` warm-up. A plan covers the whole input, so the flags that cut it are refused.
pub fn cutting(args: &PlanArgs) -> Result<Cutting> {
    let media = &args.render.media;
    for (given, flag) in [
        (media.start.is_some(), "--start"),
        (media.duration.is_some(), "--duration"),
        (media.frames.is_some(), "--frames"),
    ] {
        if given {
            return Err(usage(format!(
                "a plan covers the whole input: leave {flag} out (cut the input with ffmpeg first)"
            )));
        }
    }
    let seconds = args.segment_seconds.unwrap_or(60.0);
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(usage(format!(
            "--segment-seconds {seconds}: give a positive number of seconds"
        )));
    }
    Ok(Cutting {
        segments: args.segments,
        seconds,
        overlap: args.overlap,
    })
}

/// The segment `--segment` names: its number, or with `auto` the task index the scheduler gives
/// (Slurm's `SLURM_ARRAY_TASK_ID`, Kubernetes' `JOB_COMPLETION_INDEX`). A segment is made whole or
/// not at all, so the flags of a watched or resumed render are refused.
pub fn segment(args: &VideoArgs, choice: SegmentChoice) -> Result<usize> {
    for (given, flag) in [
        (args.preview, "--preview"),
        (args.resume, "--resume"),
        (args.report.stats.is_some(), "--stats"),
    ] {
        if given {
            return Err(usage(format!(
                "{flag} does not go with --plan (a segment is made whole, or again)"
            )));
        }
    }
    match choice {
        SegmentChoice::Index(k) => Ok(k),
        SegmentChoice::Auto => {
            let found = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
                .iter()
                .find_map(|name| std::env::var(name).ok().map(|v| (*name, v)));
            match found {
                Some((name, value)) => value.trim().parse().map_err(|_| {
                    usage(format!("--segment auto: {name} is '{value}', not a task index"))
                }),
                None => Err(usage(
                    "--segment auto takes the index from an array job: SLURM_ARRAY_TASK_ID (Slurm) or JOB_COMPLETION_INDEX (Kubernetes) is not set; give the segment's number instead".into(),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn live_of(args: &[&str]) -> Live {
        let mut line = vec![
            "stylize",
            "live",
            "--input-format",
            "lavfi",
            "testsrc2",
            "-s",
            "x.png",
        ];
        line.extend(args);
        match crate::cli::Cli::parse_from(line).command {
            crate::cli::Command::Live(args) => live(&args).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn live_sizes_itself_to_the_device_unless_told() {
        let preset = live_of(&["--model", "models/tiny"]);
        assert_eq!(preset.frames_on(Backend::Cpu).size, FULL_CPU.0);
        let gpu = preset.frames_on(Backend::Cuda(0));
        assert_eq!((gpu.size, gpu.iterations), FULL_GPU);
        let told = live_of(&[
            "--model",
            "models/tiny",
            "--size",
            "200",
            "--iterations",
            "5,1",
        ]);
        for backend in [Backend::Cpu, Backend::Cuda(0)] {
            let frames = told.frames_on(backend);
            assert_eq!((frames.size, frames.iterations.rest), (200, 1));
        }
    }

    #[test]
    fn a_cold_live_start_keeps_one_level_unless_told() {
        let preset = live_of(&["--model", "models/tiny"]).frames_on(Backend::Cpu);
        assert_eq!((preset.levels, preset.default_levels), (None, LIVE_LEVELS));
        let told = live_of(&["--model", "models/tiny", "--levels", "2"]).frames_on(Backend::Cpu);
        assert_eq!(told.levels, Some(2));
    }
}
