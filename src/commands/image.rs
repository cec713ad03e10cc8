//! `stylize image`: one content image, one or more styles, one output image.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use image::RgbImage;
use ndarray::Array4;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use crate::cli::{ImageArgs, Init};
use crate::files;
use crate::model::{self, Features, LossWeights, Targets};
use crate::picture::{self, OutputImage};
use crate::progress::Progress;
use crate::stats;
use crate::stylize::{self, Iteration};

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
    initial: model::LossTerms,
    iterations: &'a [Iteration],
    evaluations: usize,
    converged: bool,
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

/// Refuses an output or `--stats` that is one of the run's inputs (or each other).
fn check_files(args: &ImageArgs) -> Result<()> {
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
    files::check_outputs(&outputs, &inputs)
}

pub(super) fn run(args: &ImageArgs) -> Result<()> {
    let started = Instant::now();
    let quiet = args.report.quiet;
    // Check everything a user can get wrong before the slow work starts.
    let output = OutputImage::new(&args.output)?;
    check_files(args)?;
    if let Some(path) = &args.report.stats {
        stats::check(path)?;
    }
    let blend = super::blend_weights(&args.style.style_blend, args.style.styles.len())?;
    let content = picture::load(&args.content, "content image")?;
    let styles = super::load_styles(&args.style.styles)?;
    let init_image = match &args.init {
        Init::Image(path) => Some(picture::load(path, "init image")?),
        _ => None,
    };

    let config = super::session_config(&args.engine, quiet)?;
    let model_dir = model::resolve_dir(args.engine.model.as_deref());
    let mut model = super::load_model(&model_dir, &args.engine, &config)?;

    let content = picture::to_tensor(&picture::resize_longest(&content, args.size))?;
    let (_, _, height, width) = content.dim();
    let style_size = super::style_size(args.size, args.style.style_scale);
    let styles = styles
        .iter()
        .map(|s| picture::to_tensor(&picture::resize_longest(s, style_size)))
        .collect::<Result<Vec<Array4<f32>>>>()?;

    // With --original-colors the optimization runs on luminance alone (style luminance matched to the
    // content's), and the content's chroma is put back at the end.
    let (content_in, styles_in) = if args.original_colors {
        let grey_content = picture::grey(content.view(), None);
        let grey_styles = styles
            .iter()
            .map(|s| picture::grey(s.view(), Some(content.view())))
            .collect();
        (grey_content, grey_styles)
    } else {
        (content.clone(), styles)
    };
    let content_features = model.features(content_in.view())?;
    let style_features = styles_in
        .iter()
        .map(|s| model.features(s.view()))
        .collect::<Result<Vec<Features>>>()?;
    let targets = Targets::new(content_features, &style_features, &blend);

    let mut image = match (&args.init, init_image) {
        (Init::Image(_), Some(img)) => {
            let img = image::imageops::resize(
                &img,
                width as u32,
                height as u32,
                image::imageops::FilterType::Lanczos3,
            );
            let t = picture::to_tensor(&img)?;
            if args.original_colors {
                picture::grey(t.view(), None)
            } else {
                t
            }
        }
        (Init::Noise, _) => stylize::noise(
            content_in.dim(),
            &mut StdRng::seed_from_u64(args.optim.seed),
        ),
        _ => content_in.clone(),
    };

    let weights = super::loss_weights(&args.style, 0.0);
    let mut solver = super::solver(&args.optim, &args.engine, &model)?;
    let setup_seconds = started.elapsed().as_secs_f64();
    let progress = Progress::new(Some(u64::from(args.iterations)), "it", quiet);
    let outcome = stylize::optimize(
        &mut model,
        &targets,
        &weights,
        &mut image,
        &mut solver,
        args.iterations as usize,
        |it| {
            progress.step(format!("loss {:.4e}", it.loss.total));
            ControlFlow::Continue(())
        },
    )?;
    progress.finish();

    let result = if args.original_colors {
        picture::with_colours_of(image.view(), content.view())
    } else {
        image
    };
    let picture: RgbImage = picture::from_tensor(result.view())?;
    output.save(&picture)?;

    if let Some(path) = &args.report.stats {
        let its = &outcome.iterations;
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
            threads: config.threads,
            model: model_dir.display().to_string(),
            optimizer: format!("{:?}", super::optimizer_kind(&args.optim)),
            engine: solver.name(),
            precision: model.precision(),
            weights,
            initial: outcome.initial,
            iterations: &outcome.iterations,
            evaluations: outcome.iterations.iter().map(|i| i.evaluations).sum(),
            converged: outcome.converged,
            seconds: started.elapsed().as_secs_f64(),
            model_seconds,
            algebra_seconds,
            ort_share: (model_seconds + algebra_seconds) / optimize_seconds.max(f64::MIN_POSITIVE),
            transfer_bytes_per_iteration: iteration_bytes as f64
                / outcome.iterations.len().max(1) as f64,
            transfer_bytes: outcome.transfer_bytes,
            setup_seconds,
        };
        stats::write(path, &stats)?;
    }
    if !quiet {
        let last = outcome
            .iterations
            .last()
            .map(|i| i.loss)
            .unwrap_or_default();
        eprintln!(
            "wrote {} ({width}×{height}, {} iterations, loss {:.4e} → {:.4e}, {:.1} s)",
            output.path().display(),
            outcome.iterations.len(),
            outcome.initial.total,
            last.total,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
