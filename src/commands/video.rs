//! `stylize video`: decode → stylize each frame (warm-started from the last) → encode, sound kept.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use super::media_flags::with_flag;
use crate::cli::VideoArgs;
use crate::files;
use crate::media::{Input, Output, VideoSettings};
use crate::model::{self, LossTerms, LossWeights};
use crate::picture;
use crate::pipeline::handoff::Mailbox;
use crate::pipeline::{self, Stylized};
use crate::preview::{self, Action, Picture, Preview};
use crate::progress::Progress;
use crate::stats::{self, LevelStats};
use crate::stylize::{FrameStylizer, Iteration, Stop};
use crate::temporal::FlowPreset;

use super::Finished;

/// `--tolerance` when not given, for the first frame and for the later ones: measured in
/// docs/COARSE_TO_FINE.md.
const TOLERANCE: (f32, f32) = (0.0, 0.0);

/// One frame's figures in `--stats`.
#[derive(Serialize)]
struct FrameStats {
    frame: u64,
    pts: Option<i64>,
    /// Iterations and evaluations of all its levels.
    iterations: usize,
    evaluations: usize,
    /// Why it stopped: converged, tolerance, iterations or interrupted.
    stop: Stop,
    /// Loss terms at its start (its coarsest level's) and at its end.
    initial: LossTerms,
    loss: LossTerms,
    /// A cold start's coarse-to-fine levels (absent for a warm frame).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    levels: Vec<LevelStats>,
    seconds: f64,
    /// Inside ONNX Runtime's loss evaluations.
    model_seconds: f64,
    /// Inside ONNX Runtime's runs of the optimizer's graphs.
    algebra_seconds: f64,
    /// Host↔device bytes, the frame's uploads included.
    transfer_bytes: u64,
}

/// The figures `--stats` writes for `stylize video`.
#[derive(Serialize)]
struct VideoStats<'a> {
    command: &'static str,
    input: &'a str,
    output: &'a str,
    processing_width: u32,
    processing_height: u32,
    output_width: u32,
    output_height: u32,
    device: String,
    threads: usize,
    /// `device` (the optimizer's graphs on the model's device) or `host`.
    engine: &'static str,
    /// `tf32` or `fp32`.
    precision: &'static str,
    weights: LossWeights,
    frames: &'a [FrameStats],
    frames_written: u64,
    interrupted: bool,
    /// Wall time of the whole run, set-up included.
    seconds: f64,
    /// Wall time from the first decoded frame being asked for to the trailer written.
    pipeline_seconds: f64,
    /// Time inside the stylizer (content targets and optimization), all frames.
    stylize_seconds: f64,
    /// Time the prepare stage spent converting frames and computing optical flow (its own thread).
    prepare_seconds: f64,
    waiting_for_input_seconds: f64,
    waiting_for_output_seconds: f64,
    /// The process's peak resident memory (Linux), in bytes.
    peak_rss_bytes: Option<u64>,
}

pub(super) fn run(args: &VideoArgs) -> Result<Finished> {
    let started = Instant::now();
    let quiet = args.report.quiet;
    if args.preview {
        preview::check_display()?;
    }
    if let Some(path) = &args.report.stats {
        stats::check(path)?;
    }
    let mut outputs = vec![("output", Path::new(&args.output))];
    outputs.extend(args.report.stats.as_deref().map(|p| ("--stats file", p)));
    let mut inputs = vec![("input video", Path::new(&args.input))];
    inputs.extend(
        args.style
            .styles
            .iter()
            .map(|p| ("style image", p.as_path())),
    );
    files::check_outputs(&outputs, &inputs)?;
    let blend = super::blend_weights(&args.style.style_blend, args.style.styles.len())?;
    let styles = super::load_styles(&args.style.styles)?;

    let media = &args.media;
    let mut input = Input::open(
        &args.input,
        media.source.input_format.as_deref(),
        &media.source.input_option,
    )
    .map_err(with_flag)?;
    if media.start.is_some() || media.duration.is_some() {
        input
            .set_range(media.start.map(f64::from), media.duration.map(f64::from))
            .map_err(with_flag)?;
    }
    let info = input.video().clone();
    let (width, height) = super::processing_size(info.width, info.height, args.size);
    input.set_output_size(width, height)?;
    let (out_w, out_h) = args.output_size.unwrap_or((info.width, info.height));
    let mut settings = VideoSettings::like(&info, out_w, out_h);
    settings.codec = media.codec.clone();
    settings.crf = media.crf;
    settings.preset = media.preset.clone();
    settings.codec_options = media.codec_option.clone();
    let streams = if media.no_audio {
        &[][..]
    } else {
        input.streams()
    };

    let config = super::session_config(&args.engine, quiet)?;
    let model_dir = model::resolve_dir(args.engine.model.as_deref());
    let mut model = super::load_model(&model_dir, &args.engine, &config)?;
    let sizes = super::frame_levels(&args.budget, (info.width, info.height), args.size, &model)?;
    let grams = super::level_grams(&mut model, &styles, &sizes, &args.style, &blend)?;
    let schedule = super::schedule(
        &args.budget,
        sizes,
        (args.iterations.first, args.iterations.rest),
        TOLERANCE,
    );
    let weights = super::loss_weights(&args.style, args.temporal.temporal_weight);
    let solver = super::solver(&args.optim, &args.engine, &model)?;
    let mut stylizer = FrameStylizer::new(
        model,
        grams,
        weights,
        solver,
        super::frame_start(args.temporal.init),
        schedule,
        args.optim.seed,
    );
    if let Some(path) = &args.first_frame {
        let image = picture::load(path, "first frame")?;
        if image.dimensions() != (width, height) {
            bail!(
                "first frame '{}' is {}x{}, but the frames are stylized at {width}x{height} (--size {})",
                path.display(),
                image.width(),
                image.height(),
                args.size
            );
        }
        stylizer.start_from(picture::to_tensor(&image)?);
    }

    let preview = if args.preview {
        let scale = (640.0 / f64::from(out_w)).max(1.0);
        let size = |side: u32| (f64::from(side) * scale).round() as usize;
        let title = format!("stylize video {} - V view  O overlay  Esc stop", args.input);
        Some(Preview::open(&title, size(out_w), size(out_h))?)
    } else {
        None
    };
    // Created last, so that nothing is written when anything before fails.
    let output = Output::create(&args.output, media.format.as_deref(), settings, streams)
        .map_err(with_flag)?;
    let (out_w, out_h) = output.encoded_size();

    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let total = match (info.estimated_frames(), media.frames) {
        (Some(n), Some(limit)) => Some(n.min(limit)),
        (known, limit) => known.or(limit),
    };
    let progress = Progress::new(total, "frames", quiet);
    let mut frames: Vec<FrameStats> = Vec::new();
    let mut stylize_seconds = 0.0;
    let to_preview = preview
        .as_ref()
        .map(|_| Arc::new(Mailbox::<Picture>::new()));
    let preset = args.temporal.flow_preset.unwrap_or(FlowPreset::Quality);
    let flow = stylizer.wants_motion().then(|| preset.params());
    let pipeline_started = Instant::now();
    let run_pipeline = || {
        pipeline::run(
            input,
            output,
            interrupt.clone(),
            media.frames,
            !media.no_audio,
            flow,
            |frame| {
                let start = Instant::now();
                let budget = stylizer.next_iterations(&frame.image);
                // Iteration by iteration (the first frame's FIRST can take minutes); Ctrl-C ends
                // the frame where it is, and that frame is still written.
                let on_iteration = |it: &Iteration| {
                    progress.message(format!(
                        "iteration {}/{budget}  loss {:.3e}",
                        it.iteration, it.loss.total
                    ));
                    if interrupt.load(Ordering::Relaxed) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                let (image, outcomes) =
                    stylizer.stylize(&frame.image, frame.motion.as_ref(), on_iteration)?;
                let seconds = start.elapsed().as_secs_f64();
                stylize_seconds += seconds;
                let its: Vec<&Iteration> = outcomes.iter().flat_map(|o| &o.iterations).collect();
                let loss = its.last().map(|i| i.loss).unwrap_or_default();
                progress.step(format!("loss {:.3e}", loss.total));
                // Kept only when asked for, so that memory does not grow with the video's length.
                if args.report.stats.is_some() {
                    let levels = match outcomes.as_slice() {
                        [_, _, ..] => stylizer
                            .levels()
                            .iter()
                            .zip(&outcomes)
                            .map(|(&size, o)| LevelStats::new(size, o))
                            .collect(),
                        _ => Vec::new(),
                    };
                    frames.push(FrameStats {
                        frame: frame.index,
                        pts: frame.pts,
                        iterations: its.len(),
                        evaluations: its.iter().map(|i| i.evaluations).sum(),
                        stop: super::stop_of(&outcomes),
                        initial: outcomes.first().map(|o| o.initial).unwrap_or_default(),
                        loss,
                        levels,
                        seconds,
                        model_seconds: its.iter().map(|i| i.model_seconds).sum(),
                        algebra_seconds: its.iter().map(|i| i.algebra_seconds).sum(),
                        transfer_bytes: outcomes.iter().map(|o| o.transfer_bytes).sum(),
                    });
                }
                if let Some(mailbox) = &to_preview {
                    mailbox.put(Picture {
                        stylized: picture::from_tensor(image.view())?,
                        original: picture::from_tensor(frame.image.view())?,
                    });
                }
                Ok(Stylized {
                    image,
                    pts: frame.pts,
                    index: frame.index,
                })
            },
        )
    };
    let report = match (preview, &to_preview) {
        (Some(mut window), Some(mailbox)) => watch(&mut window, mailbox, &interrupt, run_pipeline),
        _ => run_pipeline(),
    };
    let pipeline_seconds = pipeline_started.elapsed().as_secs_f64();
    progress.finish();
    let report = report?;
    let interrupted = interrupt.load(Ordering::Relaxed);

    if let Some(path) = &args.report.stats {
        stats::write(
            path,
            &VideoStats {
                command: "video",
                input: &args.input,
                output: &args.output,
                processing_width: width,
                processing_height: height,
                output_width: out_w,
                output_height: out_h,
                device: stylizer.model().backend().to_string(),
                engine: stylizer.solver().name(),
                precision: stylizer.model().precision(),
                threads: config.threads,
                weights,
                frames: &frames,
                frames_written: report.summary.frames,
                interrupted,
                seconds: started.elapsed().as_secs_f64(),
                pipeline_seconds,
                stylize_seconds,
                prepare_seconds: report.prepare_seconds,
                waiting_for_input_seconds: report.waiting_for_input,
                waiting_for_output_seconds: report.waiting_for_output,
                peak_rss_bytes: stats::peak_rss_bytes(),
            },
        )?;
    }
    let shown = if args.output == "-" {
        "stdout"
    } else {
        args.output.as_str()
    };
    if interrupted {
        eprintln!(
            "interrupted: wrote {} stylized frames to {shown}",
            report.summary.frames
        );
        return Ok(Finished::Interrupted);
    }
    if let Some(problem) = report.ending.problem().filter(|_| !report.stopped_early) {
        bail!(
            "input '{}' is damaged: {problem}; {shown} holds the {} frames that decoded",
            args.input,
            report.summary.frames
        );
    }
    if report.summary.frames == 0 {
        bail!("input '{}' gave no video frames", args.input);
    }
    if !quiet {
        eprintln!(
            "wrote {shown} ({out_w}×{out_h}, {} frames, stylized at {width}×{height}, {:.1} s)",
            report.summary.frames,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Finished::Done)
}

/// Runs `work` (the pipeline) on a thread while `preview` shows the frames it puts in `shown`
/// (the newest one each time the window is drawn: the output still gets every frame). Esc or
/// closing the window stops the run as Ctrl-C does.
fn watch<T: Send>(
    preview: &mut Preview,
    shown: &Mailbox<Picture>,
    interrupt: &AtomicBool,
    work: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|scope| {
        let worker = scope.spawn(work);
        let shown_loop = (|| -> Result<()> {
            let started = Instant::now();
            let mut last = None;
            let mut count = 0u64;
            while !worker.is_finished() {
                let mut redraw = false;
                for action in preview.actions() {
                    match action {
                        Action::Quit => interrupt.store(true, Ordering::SeqCst),
                        Action::View => preview.view = preview.view.next(),
                        Action::Overlay => preview.overlay = !preview.overlay,
                        _ => continue,
                    }
                    redraw = true;
                }
                if !preview.is_open() {
                    interrupt.store(true, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                if let Some(picture) = shown.try_take() {
                    count += 1;
                    last = Some(picture);
                    redraw = true;
                }
                let lines = [format!(
                    "{count} frames  {:.1} fps  {}",
                    count as f64 / started.elapsed().as_secs_f64().max(1e-3),
                    preview.view.name()
                )];
                match &last {
                    Some(picture) if redraw => preview.show(picture, &lines)?,
                    _ => preview.idle(),
                }
            }
            Ok(())
        })();
        if shown_loop.is_err() {
            interrupt.store(true, Ordering::SeqCst);
        }
        let result = worker
            .join()
            .map_err(|_| anyhow!("internal: the pipeline thread panicked"))?;
        shown_loop?;
        result
    })
}
