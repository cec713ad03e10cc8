//! `stylize image`: one content image, one or more styles, one output image.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::cli::{ImageArgs, Init, LevelIterations, UsageError, IMAGE_LEVELS};
use crate::config;
use crate::model;
use crate::picture::{self, OutputImage};
use crate::progress::Progress;
use crate::stats::{self, EngineFigures, ImageRun, ImageStats, LevelStats};
use crate::stylize::{self, Budget, StillStart, StillStyle};

/// `--tolerance` when not given: measured in docs/COARSE_TO_FINE.md.
const TOLERANCE: f32 = 0.0;

pub(super) fn run(args: &ImageArgs) -> Result<()> {
    let started = Instant::now();
    let quiet = args.report.quiet;
    // Check everything a user can get wrong before the slow work starts.
    let output = OutputImage::new(&args.output)?;
    let mut inputs = vec![("content image", args.content.as_path())];
    if let Init::Image(path) = &args.init {
        inputs.push(("init image", path.as_path()));
    }
    let (stats, overwrite) = (
        args.report.stats.as_deref(),
        config::overwrite(&args.overwrite),
    );
    let _locks = super::check_files(&args.output, stats, &inputs, &args.style.styles, overwrite)?;
    let model_dir = model::resolve_dir(args.engine.model.as_deref());
    let threads = config::threads(&args.engine);
    let engine = config::engine(&args.engine, &args.optim, model_dir, threads, quiet)?;
    let style = config::style(&args.style, 0.0, false)?;
    let content = super::load_picture(&args.content, "content image")?;
    let styles = super::load_styles(&args.style.styles)?;
    let start = match &args.init {
        Init::Image(path) => StillStart::Image(super::load_picture(path, "init image")?),
        Init::Noise => StillStart::Noise(args.optim.seed),
        Init::Content => StillStart::Content,
    };

    let mut model = super::load_model(&engine)?;
    let (w, h) = crate::picture::longest_side(content.width(), content.height(), args.size);
    let (width, height) = (w as usize, h as usize);
    let (sizes, iterations) = levels(args, (height, width), &model)?;
    super::check_memory(&model, &engine, &sizes, &styles, style.scale)?;
    let tolerance = config::tolerance(&args.budget, TOLERANCE);
    let precondition = config::precondition(&args.budget, true);
    let budgets: Vec<Budget> = iterations
        .iter()
        .map(|&iterations| Budget {
            iterations,
            tolerance,
            precondition,
        })
        .collect();
    let still = StillStyle {
        styles: &styles,
        scale: style.scale,
        blend: &style.blend,
        original_colors: args.original_colors,
    };
    let (plan, start) = stylize::plan(&mut model, &content, &still, &sizes, &budgets, start)?;
    let mut solver = super::solver(&engine, &model)?;
    let setup_seconds = started.elapsed().as_secs_f64();
    let progress = Progress::new(Some(iterations.iter().sum::<usize>() as u64), "it", quiet);
    let on_iteration = |level: usize, it: &stylize::Iteration| {
        let (h, w) = plan[level].size;
        progress.step(format!("{w}×{h}  loss {:.4e}", it.loss.total));
        ControlFlow::Continue(())
    };
    let weights = style.weights;
    let (image, outcomes) = stylize::coarse_to_fine(
        &mut model,
        &plan,
        &weights,
        start,
        &mut solver,
        on_iteration,
    )?;
    progress.finish();

    let result = match args.original_colors {
        true => {
            let full = picture::resize_longest(&content, args.size);
            picture::with_colours_of(image.view(), picture::to_tensor(&full)?.view())
        }
        false => image,
    };
    output.save(&picture::from_tensor(result.view())?)?;

    let level_stats: Vec<LevelStats> = plan
        .iter()
        .zip(&outcomes)
        .map(|(l, o)| LevelStats::new(l.size, o))
        .collect();
    let finest = outcomes
        .last()
        .context("internal: the pyramid has no levels")?;
    if let Some(path) = &args.report.stats {
        let run = ImageRun {
            content: &args.content,
            styles: &args.style.styles,
            output: &args.output,
            width,
            height,
            model: engine.model_dir.display().to_string(),
            optimizer: format!("{:?}", engine.optimizer),
            weights,
            setup_seconds,
            seconds: started.elapsed().as_secs_f64(),
        };
        let figures = EngineFigures::new(&model, &solver, engine.session.threads);
        stats::write(
            path,
            &ImageStats::new(run, figures, &level_stats, &outcomes, finest),
        )?;
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

/// Level sizes (height, width), coarse to fine.
type LevelSizes = Vec<(usize, usize)>;

/// The coarse-to-fine levels (height, width; coarse to fine) of an image of `size`, and each
/// one's iterations, as `--levels` and `--iterations` ask.
fn levels(
    args: &ImageArgs,
    (height, width): (usize, usize),
    model: &model::Model,
) -> Result<(LevelSizes, Vec<usize>)> {
    let sizes = match &args.iterations {
        LevelIterations::PerLevel(counts) if args.budget.levels.is_none() => {
            stylize::level_sizes(height, width, counts.len(), model.manifest().input.min_side)
                .map_err(|e| anyhow!("--iterations gives {} levels: {e}", counts.len()))?
        }
        _ => {
            let levels = args.budget.levels.map(|n| n as usize);
            super::level_sizes(levels, height, width, model, IMAGE_LEVELS)?
        }
    };
    let iterations = match &args.iterations {
        LevelIterations::Total(n) => stylize::split(*n as usize, sizes.len()),
        LevelIterations::PerLevel(counts) if counts.len() == sizes.len() => {
            counts.iter().map(|&n| n as usize).collect()
        }
        LevelIterations::PerLevel(counts) => {
            return Err(UsageError(format!(
                "--iterations gives {} counts but there are {} levels: give one per level or one in all",
                counts.len(),
                sizes.len()
            ))
            .into())
        }
    };
    Ok((sizes, iterations))
}
