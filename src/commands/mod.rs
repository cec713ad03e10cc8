//! The subcommands, each wiring the library's stages for one use.

mod doctor;
mod image;
mod live;
mod media_flags;
mod metrics;
mod video;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};

use std::path::Path;

use crate::cli::{
    BudgetArgs, Command, EngineArgs, EngineKind, FrameInit, OptimArgs, OptimizerChoice,
    PrecisionChoice, StyleArgs, TOLERANCE_WINDOW,
};
use crate::model::{Backend, Device, Features, LossWeights, Model, SessionConfig};
use crate::optim::{AdamConfig, LbfgsConfig, OptimizerKind};
use crate::stylize::{self, Budget, EngineChoice, FrameStart, Schedule, Solver, Stop, Tolerance};

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// All the work was done.
    Done,
    /// The user interrupted it; what was done is kept (exit code 130).
    Interrupted,
}

/// Runs one parsed command line.
pub fn run(command: Command) -> Result<Finished> {
    match command {
        Command::Image(args) => image::run(&args).map(|()| Finished::Done),
        Command::Video(args) => video::run(&args),
        Command::Metrics(args) => metrics::run(&args).map(|()| Finished::Done),
        Command::Live(args) => live::run(&args),
        Command::Doctor => doctor::run().map(|()| Finished::Done),
    }
}

/// The `--style` images, read and decoded.
fn load_styles(paths: &[std::path::PathBuf]) -> Result<Vec<::image::RgbImage>> {
    paths
        .iter()
        .map(|p| crate::picture::load(p, "style image"))
        .collect()
}

/// The longest side of the style images: `size` × `--style-scale`, at least 16 px.
fn style_size(size: u32, scale: f32) -> u32 {
    ((size as f32) * scale).round().max(16.0) as u32
}

/// The features of each style image, resized to [`style_size`].
fn style_features(
    model: &mut Model,
    styles: &[::image::RgbImage],
    size: u32,
    scale: f32,
) -> Result<Vec<Features>> {
    let side = style_size(size, scale);
    styles
        .iter()
        .map(|s| {
            let tensor = crate::picture::to_tensor(&crate::picture::resize_longest(s, side))?;
            model.features(tensor.view())
        })
        .collect()
}

/// The loss weights that the style options ask for, with `temporal` for the temporal loss.
fn loss_weights(style: &StyleArgs, temporal: f32) -> LossWeights {
    LossWeights {
        content: style.content_weight,
        style: style.style_weight,
        tv: style.tv_weight,
        temporal,
    }
}

/// One weight per style: `--style-blend` as given, else equal weights.
fn blend_weights(given: &[f32], styles: usize) -> Result<Vec<f32>> {
    if given.is_empty() {
        return Ok(vec![1.0; styles]);
    }
    if given.len() != styles {
        bail!(
            "--style-blend has {} weights but there are {styles} --style images: give one weight per style",
            given.len()
        );
    }
    Ok(given.to_vec())
}

/// The session settings that `--device` and `--threads` ask for.
fn session_config(engine: &EngineArgs, quiet: bool) -> Result<SessionConfig> {
    let threads = engine.threads.map(|t| t as usize).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let tf32 = match (engine.precision, engine.device) {
        (Some(PrecisionChoice::Tf32), Device::Cpu) => {
            bail!("--precision tf32 needs CUDA: use --device cuda, or leave --precision out on the CPU")
        }
        (Some(choice), _) => choice == PrecisionChoice::Tf32,
        (None, _) => true,
    };
    Ok(SessionConfig {
        device: engine.device,
        threads,
        quiet,
        tf32,
    })
}

/// Loads the model that `--model` names on the device `config` asks for, checking that an
/// explicit `--precision tf32` did not end up on the CPU.
fn load_model(dir: &Path, engine: &EngineArgs, config: &SessionConfig) -> Result<Model> {
    let model = Model::load(dir, config)?;
    if engine.precision == Some(PrecisionChoice::Tf32) && model.backend() == Backend::Cpu {
        bail!("--precision tf32 needs CUDA, which is not usable here: leave --precision out to run on the CPU");
    }
    Ok(model)
}

/// The optimizer that `--optimizer`, `--learning-rate` and `--lbfgs-history` ask for, on the
/// engine `--engine` asks for.
fn solver(optim: &OptimArgs, engine: &EngineArgs, model: &Model) -> Result<Solver> {
    let choice = match engine.engine {
        None => EngineChoice::Auto,
        Some(EngineKind::Host) => EngineChoice::Host,
        Some(EngineKind::Device) => EngineChoice::Device,
    };
    Solver::new(&optimizer_kind(optim), choice, model)
}

/// The optimizer that `--optimizer`, `--learning-rate` and `--lbfgs-history` ask for.
fn optimizer_kind(optim: &OptimArgs) -> OptimizerKind {
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

/// The sizes (height, width) of the coarse-to-fine levels ending at `height`×`width`, coarse to
/// fine: `--levels`, or as many of `default` as fit the model's minimum side.
fn level_sizes(
    budget: &BudgetArgs,
    height: usize,
    width: usize,
    model: &Model,
    default: usize,
) -> Result<Vec<(usize, usize)>> {
    let min_side = model.manifest().input.min_side;
    let levels = match budget.levels {
        Some(n) => n as usize,
        None => default.min(stylize::max_levels(height, width, min_side)),
    };
    stylize::level_sizes(height, width, levels, min_side).map_err(|e| {
        anyhow::anyhow!("--levels {levels} does not fit a {width}×{height} image: {e}")
    })
}

/// The blended style Gram matrices of `styles` at each level of `sizes` (their longest side
/// × `--style-scale`), coarse to fine.
fn level_grams(
    model: &mut Model,
    styles: &[::image::RgbImage],
    sizes: &[(usize, usize)],
    style: &StyleArgs,
    blend: &[f32],
) -> Result<Vec<Vec<ndarray::Array2<f32>>>> {
    sizes
        .iter()
        .map(|&(h, w)| {
            let features = style_features(model, styles, h.max(w) as u32, style.style_scale)?;
            Ok(crate::model::blend_grams(&features, blend))
        })
        .collect()
}

/// A video's schedule: the first frame's `first` iterations shared among the levels of `sizes`,
/// `rest` for every later frame, each with the stopping rule `--tolerance` asks for (`defaults`
/// for the first frame and the later ones when it is not given).
fn schedule(
    budget: &BudgetArgs,
    sizes: Vec<(usize, usize)>,
    (first, rest): (u32, u32),
    defaults: (f32, f32),
) -> Schedule {
    let cold = tolerance(budget, defaults.0);
    let first = stylize::split(first as usize, sizes.len())
        .into_iter()
        .map(|iterations| Budget {
            iterations,
            tolerance: cold,
        })
        .collect();
    Schedule {
        levels: sizes,
        first,
        rest: Budget {
            iterations: rest as usize,
            tolerance: tolerance(budget, defaults.1),
        },
    }
}

/// Where the frames start, as `--init` asks.
fn frame_start(init: FrameInit) -> FrameStart {
    match init {
        FrameInit::PrevWarped => FrameStart::PrevWarped,
        FrameInit::Prev => FrameStart::Prev,
        FrameInit::Content => FrameStart::Content,
        FrameInit::Noise => FrameStart::Noise,
    }
}

/// Why a frame's optimization stopped: its last level's reason.
fn stop_of(outcomes: &[stylize::Outcome]) -> Stop {
    outcomes.last().map_or(Stop::Iterations, |o| o.stop)
}

/// The stopping rule `--tolerance` asks for, `default` when it is not given; none at 0.
fn tolerance(budget: &BudgetArgs, default: f32) -> Option<Tolerance> {
    let relative = budget.tolerance.unwrap_or(default);
    (relative > 0.0).then_some(Tolerance {
        relative,
        window: TOLERANCE_WINDOW,
    })
}

/// The processing size: `size` on the longer side, the aspect ratio kept.
fn processing_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let scale = f64::from(size) / f64::from(width.max(height));
    let w = ((f64::from(width) * scale).round() as u32).max(1);
    let h = ((f64::from(height) * scale).round() as u32).max(1);
    (w, h)
}

/// The coarse-to-fine levels of a video's first frame, for frames of `frame` (the input's size)
/// stylized at `--size` `size`; frames that it makes smaller than the model takes are refused
/// with the `--size` that works.
fn frame_levels(
    budget: &BudgetArgs,
    frame: (u32, u32),
    size: u32,
    model: &Model,
) -> Result<Vec<(usize, usize)>> {
    let min = model.manifest().input.min_side as u32;
    let (fw, fh) = frame;
    let (w, h) = processing_size(fw, fh, size);
    if w.min(h) < min {
        let enough = (f64::from(min) * f64::from(fw.max(fh)) / f64::from(fw.min(fh))).ceil();
        bail!(
            "the frames are {fw}x{fh}: at --size {size} they would be stylized at {w}x{h}, under the model's {min} pixels a side; use --size {enough} or more"
        );
    }
    level_sizes(
        budget,
        h as usize,
        w as usize,
        model,
        crate::cli::VIDEO_LEVELS,
    )
}

/// Ctrl-C or SIGTERM: the first sets `flag`, on which a command stops soon (`video` cuts the frame
/// in hand short, writes it and finishes the output, which plays); the second aborts at once.
fn install_interrupt_handler(flag: Arc<AtomicBool>, quiet: bool) -> Result<()> {
    let count = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            flag.store(true, Ordering::SeqCst);
            if !quiet {
                eprintln!("stopping; what is done is kept (Ctrl-C again to abort)");
            }
        } else {
            eprintln!("aborted");
            std::process::exit(130);
        }
    });
    match installed {
        Ok(()) | Err(ctrlc::Error::MultipleHandlers) => Ok(()),
        Err(e) => bail!("cannot install the Ctrl-C handler: {e}"),
    }
}
