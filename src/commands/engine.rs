//! The engine a command runs: the model on its device, the memory it needs, the optimizer, and a
//! video's frame stylizer with its coarse-to-fine levels and style targets.

use anyhow::{anyhow, bail, Result};

use super::model_errors;
use super::pictures::{level_grams, load_styles, LevelGrams};
use crate::config::{Engine, Frames, Style};
use crate::model::{Backend, Model};
use crate::stylize::{self, Budget, FrameStylizer, Schedule, Solver};

/// Loads the model of `engine` on its device, saying why when `auto` fell back to the CPU (unless
/// quiet) and checking that an explicit `--precision tf32` did not end up on the CPU.
pub(super) fn load_model(engine: &Engine) -> Result<Model> {
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
pub(super) fn check_memory(
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
pub(super) fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The optimizer of `engine` for `model`.
pub(super) fn solver(engine: &Engine, model: &Model) -> Result<Solver> {
    Solver::new(&engine.optimizer, engine.engine, model)
}

/// The sizes (height, width) of the coarse-to-fine levels ending at `height`×`width`, coarse to
/// fine: `levels`, or as many of `default` as fit the model's minimum side.
pub(super) fn level_sizes(
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

/// A video's stylizer on `model` for frames of `frame` (the input's size), and the style targets it can
/// switch between: one blended set, or with `separate` one per style (live's keys 1–9).
pub(super) fn frame_stylizer(
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
        first: stylize::split_first_frame(frames.iterations.first as usize, sizes.len())
            .into_iter()
            .map(|iterations| Budget {
                iterations,
                tolerance: cold,
                precondition: frames.precondition,
            })
            .collect(),
        levels: sizes,
        rest: Budget {
            iterations: frames.iterations.rest as usize,
            tolerance: frames.tolerance.1,
            precondition: false,
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

/// The coarse-to-fine levels of a video's first frame, for frames of `frame` (the input's size)
/// stylized at `frames.size`; frames that it makes smaller than the model takes are refused with
/// the `--size` that works.
pub(super) fn frame_levels(
    frames: &Frames,
    frame: (u32, u32),
    model: &Model,
) -> Result<Vec<(usize, usize)>> {
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
