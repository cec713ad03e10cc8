//! The subcommands, each wiring settings, a source, the stylizer and sinks for one use.

mod doctor;
mod fingerprint;
mod image;
mod join;
mod live;
mod media_flags;
mod metrics;
mod model_errors;
mod plan;
mod segment;
mod video;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use ndarray::Array2;

use crate::cli::Command;
use crate::config::{Engine, Frames, Style};
use crate::files::{self, OutputError, OutputLock, Overwrite};
use crate::model::{Backend, Features, Model};
use crate::stylize::{self, Budget, FrameStylizer, Schedule, Solver};

/// One style's Gram matrices at each coarse-to-fine level, coarse to fine.
type LevelGrams = Vec<Vec<Array2<f32>>>;

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
        Command::Plan(args) => plan::run(&args).map(|()| Finished::Done),
        Command::Join(args) => join::run(&args).map(|()| Finished::Done),
        Command::Metrics(args) => metrics::run(&args).map(|()| Finished::Done),
        Command::Live(args) => live::run(&args),
        Command::Doctor => doctor::run().map(|()| Finished::Done),
    }
    .map_err(model_errors::explain)
}

/// The `--style` images, read and decoded.
fn load_styles(paths: &[std::path::PathBuf]) -> Result<Vec<::image::RgbImage>> {
    paths
        .iter()
        .map(|p| load_picture(p, "style image"))
        .collect()
}

/// The picture in `path` (`what` names it), with a warning line when its file was cut short.
fn load_picture(path: &Path, what: &str) -> Result<::image::RgbImage> {
    let loaded = crate::picture::load(path, what)?;
    if loaded.truncated {
        eprintln!(
            "warning: {what} '{}' is truncated (no JPEG end marker); its missing part is grey",
            path.display()
        );
    }
    Ok(loaded.image)
}

/// The features of each style image, resized to [`stylize::style_size`].
fn style_features(
    model: &mut Model,
    styles: &[::image::RgbImage],
    size: u32,
    scale: f32,
) -> Result<Vec<Features>> {
    let side = stylize::style_size(size, scale);
    styles
        .iter()
        .map(|s| {
            let tensor = crate::picture::to_tensor(&crate::picture::resize_longest(s, side))?;
            model.features(tensor.view())
        })
        .collect()
}

/// Loads the model of `engine` on its device, saying why when `auto` fell back to the CPU (unless
/// quiet) and checking that an explicit `--precision tf32` did not end up on the CPU.
fn load_model(engine: &Engine) -> Result<Model> {
    let model = Model::load(&engine.model_dir, &engine.session)?;
    if let (Some(reason), false) = (model.fallback(), engine.quiet) {
        eprintln!("{}", model_errors::fallback_notice(reason));
    }
    if engine.tf32_asked && model.backend() == Backend::Cpu {
        bail!("--precision tf32 needs CUDA, which is not usable here: leave --precision out to run on the CPU");
    }
    Ok(model)
}

/// Refuses before any work an optimization at the finest of `sizes` with `styles` at `scale`
/// that cannot fit in the memory available (`MemAvailable` in /proc/meminfo), by the model's
/// lower-bound estimate ([`Manifest::memory_estimate`](crate::model::Manifest::memory_estimate)).
/// On CUDA the activations live in the GPU's memory, which is not checked here.
fn check_memory(
    model: &Model,
    engine: &Engine,
    sizes: &[(usize, usize)],
    styles: &[::image::RgbImage],
    scale: f32,
) -> Result<()> {
    let (Some(&(h, w)), Backend::Cpu) = (sizes.last(), model.backend()) else {
        return Ok(());
    };
    let Some(available) = available_memory() else {
        return Ok(());
    };
    let side = stylize::style_size(h.max(w) as u32, scale);
    let style_pixels: u64 = styles
        .iter()
        .map(|s| {
            let (a, b) = (
                u64::from(s.width().max(s.height())),
                u64::from(s.width().min(s.height())),
            );
            u64::from(side) * (u64::from(side) * b).div_ceil(a.max(1))
        })
        .sum();
    let vectors = match &engine.optimizer {
        crate::optim::OptimizerKind::Lbfgs(c) => 2 * c.history as u64 + 6,
        crate::optim::OptimizerKind::Adam(_) => 6,
    };
    let needed = model
        .manifest()
        .memory_estimate((h * w) as u64, vectors, style_pixels);
    if needed > available {
        let gb = |b: u64| b as f64 / 1e9;
        bail!(
            "stylizing at {w}x{h} with style images at {side} pixels needs at least {:.1} GB of memory, and {:.1} GB are available: use a smaller --size or --style-scale",
            gb(needed),
            gb(available)
        );
    }
    Ok(())
}

/// The memory available to a new process (`MemAvailable` in /proc/meminfo), in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The optimizer of `engine` for `model`.
fn solver(engine: &Engine, model: &Model) -> Result<Solver> {
    Solver::new(&engine.optimizer, engine.engine, model)
}

/// The sizes (height, width) of the coarse-to-fine levels ending at `height`×`width`, coarse to
/// fine: `levels`, or as many of `default` as fit the model's minimum side.
fn level_sizes(
    levels: Option<usize>,
    height: usize,
    width: usize,
    model: &Model,
    default: usize,
) -> Result<Vec<(usize, usize)>> {
    let min_side = model.manifest().input.min_side;
    let levels =
        levels.unwrap_or_else(|| default.min(stylize::max_levels(height, width, min_side)));
    stylize::level_sizes(height, width, levels, min_side)
        .map_err(|e| anyhow!("--levels {levels} does not fit a {width}×{height} image: {e}"))
}

/// The blended style Gram matrices of `styles` at each level of `sizes` (their longest side
/// × `scale`), coarse to fine.
fn level_grams(
    model: &mut Model,
    styles: &[::image::RgbImage],
    sizes: &[(usize, usize)],
    scale: f32,
    blend: &[f32],
) -> Result<LevelGrams> {
    sizes
        .iter()
        .map(|&(h, w)| {
            let features = style_features(model, styles, h.max(w) as u32, scale)?;
            Ok(crate::model::blend_grams(&features, blend))
        })
        .collect()
}

/// A video's stylizer on `model` for frames of `frame` (the input's size), and the style targets it can
/// switch between: one blended set, or with `separate` one per style (live's keys 1–9).
fn frame_stylizer(
    mut model: Model,
    engine: &Engine,
    style: &Style,
    frames: &Frames,
    frame: (u32, u32),
    separate: bool,
) -> Result<(FrameStylizer, Vec<LevelGrams>)> {
    let styles = load_styles(&style.paths)?;
    let sizes = frame_levels(frames, frame, &model)?;
    check_memory(&model, engine, &sizes, &styles, style.scale)?;
    let grams = if separate {
        styles
            .iter()
            .map(|s| {
                level_grams(
                    &mut model,
                    std::slice::from_ref(s),
                    &sizes,
                    style.scale,
                    &[1.0],
                )
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![level_grams(
            &mut model,
            &styles,
            &sizes,
            style.scale,
            &style.blend,
        )?]
    };
    let cold = frames.tolerance.0;
    let schedule = Schedule {
        first: stylize::split(frames.iterations.first as usize, sizes.len())
            .into_iter()
            .map(|iterations| Budget {
                iterations,
                tolerance: cold,
            })
            .collect(),
        levels: sizes,
        rest: Budget {
            iterations: frames.iterations.rest as usize,
            tolerance: frames.tolerance.1,
        },
    };
    let solver = solver(engine, &model)?;
    let mut stylizer = FrameStylizer::new(
        model,
        grams[0].clone(),
        style.weights,
        solver,
        frames.start,
        schedule,
        engine.seed,
    );
    stylizer.carry_curvature(frames.carry_curvature);
    Ok((stylizer, grams))
}

/// Checks before any work that `output` and the `--stats` file overwrite none of `inputs` nor a
/// style image, and that the statistics can be written; then claims the outputs (see
/// [`claim_outputs`]).
fn check_files(
    output: &Path,
    stats: Option<&Path>,
    inputs: &[(&str, &Path)],
    styles: &[PathBuf],
    overwrite: Overwrite,
) -> Result<Vec<OutputLock>> {
    if let Some(path) = stats {
        crate::stats::check(path)?;
    }
    let mut outputs = vec![("output", output)];
    outputs.extend(stats.map(|p| ("--stats file", p)));
    let mut inputs = inputs.to_vec();
    inputs.extend(styles.iter().map(|p| ("style image", p.as_path())));
    claim_outputs(&outputs, &inputs, overwrite)
}

/// Refuses outputs that are inputs, locks each output for this run (a second `stylize` writing
/// one fails at once), and settles those that exist as `-y`/`-n` say: without either, asks on a
/// terminal and refuses otherwise. The locks are held until dropped.
fn claim_outputs(
    outputs: &[files::Named],
    inputs: &[files::Named],
    overwrite: Overwrite,
) -> Result<Vec<OutputLock>> {
    files::check_outputs(outputs, inputs)?;
    let locks = outputs
        .iter()
        .map(|(_, path)| OutputLock::acquire(path))
        .collect::<Result<Vec<_>, _>>()?;
    for (what, path) in files::existing(outputs) {
        let refused = || OutputError::Exists {
            what: what.to_string(),
            path: path.to_path_buf(),
        };
        match overwrite {
            Overwrite::Yes => {}
            Overwrite::No => return Err(refused().into()),
            Overwrite::Ask if std::io::stdin().is_terminal() => {
                eprint!(
                    "File '{}' already exists. Overwrite? [y/N] ",
                    path.display()
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
                    return Err(OutputError::Declined(path.to_path_buf()).into());
                }
            }
            Overwrite::Ask => return Err(refused().into()),
        }
    }
    Ok(locks)
}

/// The stylized first frame in `path`, which must be `size` (the frames' processing size).
fn first_frame(path: &Path, size: (u32, u32), size_flag: u32) -> Result<ndarray::Array4<f32>> {
    let image = load_picture(path, "first frame")?;
    if image.dimensions() != size {
        let ((w, h), (width, height)) = (image.dimensions(), size);
        bail!(
            "first frame '{}' is {w}x{h}, but the frames are stylized at {width}x{height} (--size {size_flag})",
            path.display()
        );
    }
    crate::picture::to_tensor(&image)
}

/// The coarse-to-fine levels of a video's first frame, for frames of `frame` (the input's size)
/// stylized at `frames.size`; frames that it makes smaller than the model takes are refused with
/// the `--size` that works.
fn frame_levels(frames: &Frames, frame: (u32, u32), model: &Model) -> Result<Vec<(usize, usize)>> {
    let min = model.manifest().input.min_side as u32;
    let (fw, fh) = frame;
    let size = frames.size;
    let (w, h) = crate::picture::longest_side(fw, fh, size);
    if w.min(h) < min {
        let enough = (f64::from(min) * f64::from(fw.max(fh)) / f64::from(fw.min(fh))).ceil();
        bail!(
            "the frames are {fw}x{fh}: at --size {size} they would be stylized at {w}x{h}, under the model's {min} pixels a side; use --size {enough} or more"
        );
    }
    level_sizes(
        frames.levels,
        h as usize,
        w as usize,
        model,
        frames.default_levels,
    )
}

/// Ctrl-C or SIGTERM: the first sets `flag`, on which a command stops soon, and ends ONNX
/// Runtime's evaluation in progress (`video` writes the frame in hand as it stands and finishes
/// the output, which plays); the second aborts at once, removing the unfinished outputs, so that
/// what was at each destination before stays as it was.
fn install_interrupt_handler(flag: Arc<AtomicBool>, quiet: bool) -> Result<()> {
    let count = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            flag.store(true, Ordering::SeqCst);
            crate::model::runtime::interrupt_runs();
            if !quiet {
                eprintln!("stopping; what is done is kept (Ctrl-C again to abort)");
            }
        } else {
            files::abort_cleanup();
            eprintln!("aborted");
            std::process::exit(130);
        }
    });
    match installed {
        Ok(()) | Err(ctrlc::Error::MultipleHandlers) => Ok(()),
        Err(e) => bail!("cannot install the Ctrl-C handler: {e}"),
    }
}
