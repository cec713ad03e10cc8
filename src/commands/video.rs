//! `stylize video`: decode → stylize each frame (warm-started from the last) → encode, sound kept.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};

use super::media_flags::with_flag;
use super::Finished;
use crate::cli::VideoArgs;
use crate::config;
use crate::media::{Input, Output, VideoSettings};
use crate::picture;
use crate::pipeline::{self, EndedBy, Schedule, Stylized};
use crate::preview::{self, Preview};
use crate::progress::Progress;
use crate::sink::{Encoder, FrameSink, ImageSequence, Tee, Window};
use crate::source::MediaSource;
use crate::stats::{self, FrameStats, VideoStats};

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
    crate::files::check_outputs(&outputs, &inputs)?;
    let (engine, style, frames) = config::video(args)?;

    let media = &args.media;
    let source = &media.source;
    let mut input = Input::open(
        &args.input,
        source.input_format.as_deref(),
        &source.input_option,
    )?;
    if media.start.is_some() || media.duration.is_some() {
        input.set_range(media.start.map(f64::from), media.duration.map(f64::from))?;
    }
    let info = input.video().clone();
    let (width, height) = super::processing_size(info.width, info.height, args.size);
    input.set_output_size(width, height)?;
    let (mut stylizer, _) =
        super::frame_stylizer(&engine, &style, &frames, (info.width, info.height), false)?;
    if let Some(path) = &args.first_frame {
        let image = picture::load(path, "first frame")?;
        if image.dimensions() != (width, height) {
            bail!(
                "first frame '{}' is {}x{}, but the frames are stylized at {width}x{height} (--size {})",
                path.display(), image.width(), image.height(), args.size
            );
        }
        stylizer.start_from(picture::to_tensor(&image)?);
    }

    let (out_w, out_h) = args.output_size.unwrap_or((info.width, info.height));
    let mut window = match args.preview {
        true => {
            let scale = (640.0 / f64::from(out_w)).max(1.0);
            let size = |side: u32| (f64::from(side) * scale).round() as usize;
            let title = format!("stylize video {} - V view  O overlay  Esc stop", args.input);
            let preview = Preview::open(&title, size(out_w), size(out_h))?;
            Some(Window::new(preview, None, false, quiet))
        }
        false => None,
    };
    // Created last, so that nothing is written when anything before fails.
    let mut encoder = None;
    let mut images = None;
    let out: &mut dyn FrameSink = if ImageSequence::is_pattern(&args.output) {
        images.insert(ImageSequence::new(&args.output, (out_w, out_h))?)
    } else {
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
        let output = Output::create(&args.output, media.format.as_deref(), settings, streams)
            .map_err(with_flag)?;
        encoder.insert(Encoder::new(output))
    };
    let mut sinks = Tee(vec![out]);
    sinks
        .0
        .extend(window.as_mut().map(|w| w as &mut dyn FrameSink));

    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let total = match (info.estimated_frames(), media.frames) {
        (Some(n), Some(limit)) => Some(n.min(limit)),
        (known, limit) => known.or(limit),
    };
    let progress = Progress::new(total, "frames", quiet);
    let mut frame_stats: Vec<FrameStats> = Vec::new();
    let mut stylize_seconds = 0.0;
    let settings = pipeline::Settings {
        schedule: Schedule::Ordered,
        frames: media.frames,
        flow: stylizer.wants_motion().then(|| frames.flow.params()),
        stop: interrupt.clone(),
    };
    let mut source = MediaSource::new(input, !media.no_audio);
    let pipeline_started = Instant::now();
    let report = pipeline::run(
        &mut source,
        |frame| {
            let start = Instant::now();
            let budget = stylizer.next_iterations(&frame.content);
            // Iteration by iteration (a first frame can take minutes); Ctrl-C ends the frame
            // where it is, and that frame is still written.
            let on_iteration = |it: &crate::stylize::Iteration| {
                progress.message(format!(
                    "iteration {}/{budget}  loss {:.3e}",
                    it.iteration, it.loss.total
                ));
                match interrupt.load(Ordering::Relaxed) {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(()),
                }
            };
            let (image, outcomes) =
                stylizer.stylize(&frame.content, frame.motion.as_ref(), on_iteration)?;
            let seconds = start.elapsed().as_secs_f64();
            stylize_seconds += seconds;
            let figures = FrameStats::new(
                frame.frame.index,
                frame.frame.pts,
                stylizer.levels(),
                &outcomes,
                seconds,
            );
            progress.step(format!("loss {:.3e}", figures.loss.total));
            // Kept only when asked for, so that memory does not grow with the video's length.
            let iterations = figures.iterations;
            if args.report.stats.is_some() {
                frame_stats.push(figures);
            }
            Ok(Some(Stylized {
                frame: crate::media::RgbFrame::from_tensor(
                    image.view(),
                    frame.frame.pts,
                    frame.frame.index,
                )?,
                original: frame.frame,
                captured: frame.captured,
                iterations,
                seconds,
            }))
        },
        &mut sinks,
        &settings,
    );
    let pipeline_seconds = pipeline_started.elapsed().as_secs_f64();
    progress.finish();
    let report = report?;
    let written = match (&encoder, &images) {
        (Some(encoder), _) => encoder.summary().map_or(0, |s| s.frames),
        (_, Some(images)) => images.written(),
        _ => 0,
    };
    let (out_w, out_h) = encoder
        .as_ref()
        .map_or((out_w, out_h), |e| e.encoded_size());
    // Esc in the preview stops a render as Ctrl-C does.
    let interrupted = matches!(report.ended, EndedBy::Interrupt | EndedBy::Sink);

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
                threads: engine.session.threads,
                weights: style.weights,
                frames: &frame_stats,
                frames_written: written,
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
        eprintln!("interrupted: wrote {written} stylized frames to {shown}");
        return Ok(Finished::Interrupted);
    }
    if let Some(problem) = report.input.problem().filter(|_| !report.stopped_early()) {
        bail!(
            "input '{}' is damaged: {problem}; {shown} holds the {written} frames that decoded",
            args.input
        );
    }
    if written == 0 {
        bail!("input '{}' gave no video frames", args.input);
    }
    if !quiet {
        eprintln!(
            "wrote {shown} ({out_w}×{out_h}, {written} frames, stylized at {width}×{height}, {:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Finished::Done)
}
