//! `stylize image`: one content image, one or more styles, one output image.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use image::RgbImage;
use ndarray::Array4;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use crate::cli::{ImageArgs, Init, LevelIterations};
use crate::config;
use crate::files;
use crate::model::{self, Features, LossWeights, Model, Targets};
use crate::picture::{self, OutputImage};
use crate::progress::Progress;
use crate::stats::{self, LevelStats};
use crate::stylize::{self, Budget, Iteration, Level, Stop};

/// `--tolerance` when not given: measured in docs/COARSE_TO_FINE.md.
const TOLERANCE: f32 = 0.0;

/// The figures `--stats` writes for `stylize image`.
#[derive(Serialize)]
struct ImageStats<'a> {
    command: &'static str,
    content: &'a PathBuf,
    styles: &'a [PathBuf],
    output: &'a PathBuf,
    width: usize,
    height: usize,
    device: String,
    threads: usize,
    model: String,
    optimizer: String,
    /// `device` (the optimizer's graphs on the model's device) or `host`.
    engine: &'static str,
    /// `tf32` or `fp32`.
    precision: &'static str,
    weights: LossWeights,
    /// The coarse-to-fine levels, coarse to fine.
    levels: &'a [LevelStats],
    /// Why the run ended: converged, tolerance, iterations or interrupted (the finest level's).
    stop: Stop,
    /// The finest level's loss terms at its start and after each of its iterations.
    initial: model::LossTerms,
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

/// Refuses an output or `--stats` that is one of the run's inputs (or each other), and claims
/// them (locks, `-y`/`-n`).
fn check_files(args: &ImageArgs) -> Result<Vec<files::OutputLock>> {
    let mut outputs = vec![("output", args.output.as_path())];
    outputs.extend(args.report.stats.as_deref().map(|p| ("--stats file", p)));
    let mut inputs = vec![("content image", args.content.as_path())];
    inputs.extend(
        args.style
            .styles
            .iter()
            .map(|p| ("style image", p.as_path())),
    );
    if let Init::Image(path) = &args.init {
        inputs.push(("init image", path.as_path()));
    }
    super::claim_outputs(&outputs, &inputs, config::overwrite(&args.overwrite))
}

pub(super) fn run(args: &ImageArgs) -> Result<()> {
    let started = Instant::now();
    let quiet = args.report.quiet;
    // Check everything a user can get wrong before the slow work starts.
    let output = OutputImage::new(&args.output)?;
    if let Some(path) = &args.report.stats {
        stats::check(path)?;
    }
    let _locks = check_files(args)?;
    let model_dir = model::resolve_dir(args.engine.model.as_deref());
    let threads = config::threads(&args.engine);
    let engine = config::engine(&args.engine, &args.optim, model_dir, threads, quiet)?;
    let style = config::style(&args.style, 0.0, false)?;
    let blend = &style.blend;
    let content = picture::load(&args.content, "content image")?;
    let styles = super::load_styles(&args.style.styles)?;
    let init_image = match &args.init {
        Init::Image(path) => Some(picture::load(path, "init image")?),
        _ => None,
    };

    let mut model = super::load_model(&engine)?;

    let (w, h) = super::processing_size(content.width(), content.height(), args.size);
    let (width, height) = (w as usize, h as usize);
    let sizes = match &args.iterations {
        LevelIterations::PerLevel(counts) if args.budget.levels.is_none() => {
            stylize::level_sizes(height, width, counts.len(), model.manifest().input.min_side)
                .map_err(|e| anyhow!("--iterations gives {} levels: {e}", counts.len()))?
        }
        _ => super::level_sizes(
            args.budget.levels.map(|n| n as usize),
            height,
            width,
            &model,
            crate::cli::IMAGE_LEVELS,
        )?,
    };
    let iterations = match &args.iterations {
        LevelIterations::Total(n) => stylize::split(*n as usize, sizes.len()),
        LevelIterations::PerLevel(counts) if counts.len() == sizes.len() => {
            counts.iter().map(|&n| n as usize).collect()
        }
        LevelIterations::PerLevel(counts) => bail!(
            "--iterations gives {} counts but there are {} levels: give one per level or one in all",
            counts.len(),
            sizes.len()
        ),
    };
    super::check_memory(&model, &engine, &sizes, &styles, args.style.style_scale)?;
    let tolerance = config::tolerance(&args.budget, TOLERANCE);
    let levels = sizes
        .iter()
        .zip(&iterations)
        .map(|(&size, &n)| {
            let budget = Budget {
                iterations: n,
                tolerance,
            };
            level(&mut model, args, blend, &content, &styles, size, budget)
        })
        .collect::<Result<Vec<Planned>>>()?;
    let coarsest = levels
        .first()
        .context("internal: the pyramid has no levels")?;
    let (h0, w0) = coarsest.level.size;
    let start = match (&args.init, init_image) {
        (Init::Image(_), Some(img)) => {
            let t = picture::to_tensor(&image::imageops::resize(
                &img,
                w0 as u32,
                h0 as u32,
                image::imageops::FilterType::Lanczos3,
            ))?;
            if args.original_colors {
                picture::grey(t.view(), None)
            } else {
                t
            }
        }
        (Init::Noise, _) => {
            stylize::noise((1, 3, h0, w0), &mut StdRng::seed_from_u64(args.optim.seed))
        }
        _ => coarsest.content.clone(),
    };

    let weights = style.weights;
    let mut solver = super::solver(&engine, &model)?;
    let setup_seconds = started.elapsed().as_secs_f64();
    let total: usize = iterations.iter().sum();
    let progress = Progress::new(Some(total as u64), "it", quiet);
    let plan: Vec<Level> = levels.into_iter().map(|l| l.level).collect();
    let (image, outcomes) = stylize::coarse_to_fine(
        &mut model,
        &plan,
        &weights,
        start,
        &mut solver,
        |level, it| {
            let (h, w) = plan[level].size;
            progress.step(format!("{w}×{h}  loss {:.4e}", it.loss.total));
            ControlFlow::Continue(())
        },
    )?;
    progress.finish();

    let content = picture::to_tensor(&picture::resize_longest(&content, args.size))?;
    let result = if args.original_colors {
        picture::with_colours_of(image.view(), content.view())
    } else {
        image
    };
    let picture: RgbImage = picture::from_tensor(result.view())?;
    output.save(&picture)?;

    let level_stats: Vec<LevelStats> = plan
        .iter()
        .zip(&outcomes)
        .map(|(l, o)| LevelStats::new(l.size, o))
        .collect();
    let finest = outcomes
        .last()
        .context("internal: the pyramid has no levels")?;
    if let Some(path) = &args.report.stats {
        let its: Vec<&Iteration> = outcomes.iter().flat_map(|o| &o.iterations).collect();
        let model_seconds: f64 = its.iter().map(|i| i.model_seconds).sum();
        let algebra_seconds: f64 = its.iter().map(|i| i.algebra_seconds).sum();
        let optimize_seconds: f64 = its.iter().map(|i| i.seconds).sum();
        let iteration_bytes: u64 = its.iter().map(|i| i.transfer_bytes).sum();
        let stats = ImageStats {
            command: "image",
            content: &args.content,
            styles: &args.style.styles,
            output: &args.output,
            width,
            height,
            device: model.backend().to_string(),
            threads: engine.session.threads,
            model: engine.model_dir.display().to_string(),
            optimizer: format!("{:?}", engine.optimizer),
            engine: solver.name(),
            precision: model.precision(),
            weights,
            levels: &level_stats,
            stop: finest.stop,
            initial: finest.initial,
            iterations: &finest.iterations,
            evaluations: its.iter().map(|i| i.evaluations).sum(),
            full_size_evaluations: stats::full_size_evaluations(&level_stats, width * height),
            seconds: started.elapsed().as_secs_f64(),
            model_seconds,
            algebra_seconds,
            ort_share: (model_seconds + algebra_seconds) / optimize_seconds.max(f64::MIN_POSITIVE),
            transfer_bytes_per_iteration: iteration_bytes as f64 / its.len().max(1) as f64,
            transfer_bytes: outcomes.iter().map(|o| o.transfer_bytes).sum(),
            setup_seconds,
        };
        stats::write(path, &stats)?;
    }
    if !quiet {
        let steps: Vec<String> = level_stats
            .iter()
            .map(|l| format!("{} at {}×{}", l.iterations, l.width, l.height))
            .collect();
        let last = finest.iterations.last().map_or(finest.initial, |i| i.loss);
        eprintln!(
            "wrote {} ({width}×{height}; iterations {}, stopped: {}; loss {:.4e}; {:.1} s)",
            output.path().display(),
            steps.join(", "),
            finest.stop.as_str(),
            last.total,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// A level's plan and the content image it starts from.
struct Planned {
    level: Level,
    content: Array4<f32>,
}

/// The level of `size` (height, width): the content and the styles resized to it (with
/// `--original-colors`, their luminance), and their targets.
fn level(
    model: &mut Model,
    args: &ImageArgs,
    blend: &[f32],
    content: &RgbImage,
    styles: &[RgbImage],
    size: (usize, usize),
    budget: Budget,
) -> Result<Planned> {
    let (h, w) = size;
    let resized = image::imageops::resize(
        content,
        w as u32,
        h as u32,
        image::imageops::FilterType::Lanczos3,
    );
    let content = picture::to_tensor(&resized)?;
    let style_size = super::style_size(h.max(w) as u32, args.style.style_scale);
    let styles = styles
        .iter()
        .map(|s| picture::to_tensor(&picture::resize_longest(s, style_size)))
        .collect::<Result<Vec<Array4<f32>>>>()?;
    // With --original-colors the optimization runs on luminance alone (style luminance matched to
    // the content's), and the content's chroma is put back at the end.
    let (content_in, styles_in) = if args.original_colors {
        let grey_styles = styles
            .iter()
            .map(|s| picture::grey(s.view(), Some(content.view())))
            .collect();
        (picture::grey(content.view(), None), grey_styles)
    } else {
        (content, styles)
    };
    let content_features = model.features(content_in.view())?;
    let style_features = styles_in
        .iter()
        .map(|s| model.features(s.view()))
        .collect::<Result<Vec<Features>>>()?;
    Ok(Planned {
        level: Level {
            size,
            targets: Targets::new(content_features, &style_features, blend),
            budget,
        },
        content: content_in,
    })
}
