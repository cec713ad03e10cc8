//! `stylize video`: decode → stylize each frame (warm-started from the last) → encode, sound kept.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};

use super::media_flags::{self, with_flag};
use super::Finished;
use crate::cli::{MediaArgs, VideoArgs};
use crate::config::{self, Engine, Frames, Style};
use crate::media::{Input, Output, StreamInfo, VideoInfo};
use crate::pipeline::{self, EndedBy, Schedule, Stylized};
use crate::preview;
use crate::progress::Progress;
use crate::render::{Segments, WorkFolder};
use crate::sink::{FileSink, FrameSink, Tee, Window};
use crate::source::{MediaSource, Skip};
use crate::stats::{self, EngineFigures, FrameLog, FrameStats, PipelineFigures, VideoStats};
use crate::stylize::{FrameStylizer, Iteration};

pub(super) fn run(args: &VideoArgs) -> Result<Finished> {
    if let (Some(plan), Some(segment)) = (&args.cluster.plan, args.cluster.segment) {
        return super::segment::run(args, plan, segment);
    }
    let started = Instant::now();
    let quiet = args.report.quiet;
    if args.preview {
        preview::check_display()?;
    }
    let (output, stats) = (Path::new(&args.output), args.report.stats.as_deref());
    let input = ("input video", Path::new(&args.input));
    // A resumed render replaces the output its interrupted run joined.
    let overwrite = match args.resume {
        true => crate::files::Overwrite::Yes,
        false => config::overwrite(&args.overwrite),
    };
    let _locks = super::check_files(
        output,
        stats,
        &[input],
        &args.render.style.styles,
        overwrite,
    )?;
    let (engine, style, frames) = config::video(args)?;
    let work = WorkFolder::for_output(&args.output);
    let (checkpoint, restored) = match &work {
        Some(work) => work.begin(
            super::fingerprint::of(&args.input, &args.render, &engine.model_dir),
            args.resume,
        )?,
        None if args.resume => {
            bail!("--resume needs an output file (not stdout, a URL or numbered pictures)")
        }
        None => Default::default(),
    };
    let (done, trailing) = (checkpoint.frames, checkpoint.trailing_packets);

    let media = &args.render.media;
    let Opened {
        input,
        info,
        size: (width, height),
        mut stylizer,
    } = open(args, &engine, &style, &frames, true)?;
    let flow_after = restored.map(|state| {
        stylizer.resume(state.stylized, done);
        state.content
    });

    let (out_w, out_h) = args.render.output_size.unwrap_or((info.width, info.height));
    let mut window = match args.preview {
        true => Some(Window::watching(&args.input, (out_w, out_h), quiet)?),
        false => None,
    };
    // Created last, so that nothing is written when anything before fails.
    let settings = config::encoder(media, &info, (out_w, out_h));
    let streams = kept_streams(media, &input);
    let format = media.format.clone();
    let create = move |url: &str| {
        Output::create(url, format.as_deref(), settings.clone(), &streams).map_err(with_flag)
    };
    let mut output = match &work {
        Some(work) => FileSink::Segments(Box::new(Segments::new(
            work.dir(),
            &work.extension(),
            checkpoint,
            (out_w, out_h),
            info.frame_rate.map(f64::from),
            Box::new(create),
        )?)),
        None => FileSink::create(&args.output, (out_w, out_h), || create(&args.output))?,
    };
    let mut sinks = Tee(vec![&mut output]);
    sinks
        .0
        .extend(window.as_mut().map(|w| w as &mut dyn FrameSink));

    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let total = match (info.estimated_frames(), media.frames) {
        (Some(n), Some(limit)) => Some(n.min(limit)),
        (known, limit) => known.or(limit),
    }
    .map(|n| n.saturating_sub(done));
    let progress = Progress::new(total, "frames", quiet);
    let mut log = FrameLog::new(args.report.stats.is_some());
    let settings = pipeline::Settings {
        schedule: Schedule::Ordered,
        frames: media.frames.map(|n| n.saturating_sub(done)),
        flow: stylizer.wants_motion().then(|| frames.flow.params()),
        flow_after,
        stop: interrupt.clone(),
    };
    let mut source = Skip::new(MediaSource::new(input, !media.no_audio), done, trailing);
    let pipeline_started = Instant::now();
    let stylize = |frame: pipeline::Prepared| {
        let start = Instant::now();
        let budget = stylizer.next_iterations(&frame.content);
        // Iteration by iteration (a first frame can take minutes); Ctrl-C ends the frame where
        // it is, and that frame is still written.
        let on_iteration = |it: &Iteration| {
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
        let figures = FrameStats::new(
            frame.frame.index,
            frame.frame.pts,
            stylizer.levels(),
            &outcomes,
            seconds,
        );
        progress.step(format!("loss {:.3e}", figures.loss.total));
        let iterations = figures.iterations;
        log.add(figures);
        let stylized = Stylized::new(&image, frame, iterations, seconds)?;
        // A frame Ctrl-C cut short is written, but a resumed render makes it again.
        match interrupt.load(Ordering::Relaxed) {
            true => Ok(Some(stylized)),
            false => Ok(Some(stylized.with_state(image))),
        }
    };
    let report = pipeline::run(&mut source, stylize, &mut sinks, &settings);
    let pipeline_seconds = pipeline_started.elapsed().as_secs_f64();
    progress.finish();
    // Esc in the preview stops a render as Ctrl-C does.
    let interrupted = report
        .as_ref()
        .is_ok_and(|r| matches!(r.ended, EndedBy::Interrupt | EndedBy::Sink));
    let (report, written) = match (&work, &output) {
        (Some(work), FileSink::Segments(segments)) => match report {
            Ok(report) => {
                let format = media.format.as_deref();
                (report, work.complete(segments, format, interrupted)?)
            }
            Err(e) => return Err(work.failed(segments, e)),
        },
        _ => (report?, output.written()),
    };
    let (out_w, out_h) = output.size();

    if let Some(path) = &args.report.stats {
        let figures = VideoStats {
            command: "video",
            input: &args.input,
            output: &args.output,
            processing_width: width,
            processing_height: height,
            output_width: out_w,
            output_height: out_h,
            engine: EngineFigures::of(&stylizer, engine.session.threads),
            weights: style.weights,
            frames: &log.frames,
            frames_written: written,
            interrupted,
            seconds: started.elapsed().as_secs_f64(),
            pipeline: PipelineFigures::of(&report, pipeline_seconds, log.stylize_seconds),
            peak_rss_bytes: stats::peak_rss_bytes(),
        };
        stats::write(path, &figures)?;
    }
    let shown = if args.output == "-" {
        "stdout"
    } else {
        args.output.as_str()
    };
    if interrupted {
        let resume = match &work {
            Some(work) => format!(
                "; --resume continues the render (its work is kept in '{}')",
                work.dir().display()
            ),
            None => String::new(),
        };
        eprintln!("interrupted: wrote {written} stylized frames to {shown}{resume}");
        return Ok(Finished::Interrupted);
    }
    check_input(&report, written, &args.input, shown)?;
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("wrote {shown} ({out_w}×{out_h}, {written} frames, stylized at {width}×{height}, {seconds:.1} s)");
    }
    Ok(Finished::Done)
}

/// What decoding the input lost, once the render is done: a failure when nothing decoded or
/// reading failed; otherwise (frames the decoder patched up or rejected, a stream cut short: the
/// render is whole for what the input holds) one warning line that counts them.
fn check_input(report: &pipeline::Report, written: u64, input: &str, shown: &str) -> Result<()> {
    let Some(problem) = report.input.problem().filter(|_| !report.stopped_early()) else {
        if written == 0 {
            bail!("input '{input}' gave no video frames");
        }
        return Ok(());
    };
    if written == 0 || report.input.read_error.is_some() {
        bail!("input '{input}' is damaged: {problem}; {shown} holds the {written} frames that decoded");
    }
    let (lost, were) = match report.input.lost_frames() {
        1 => ("1 frame".to_string(), "was"),
        n => (format!("{n} frames"), "were"),
    };
    eprintln!(
        "warning: {lost} of '{input}' {were} damaged or missing ({problem}); {shown} has {written} frames"
    );
    Ok(())
}

/// What a render works with: its input, opened and scaled to the processing size; the input's
/// video stream; that size; and the frame stylizer, started from `--first-frame` when `first` is
/// set. Made the same way for a whole render and for each cluster segment, so that they agree.
pub(super) struct Opened {
    pub input: Input,
    pub info: VideoInfo,
    pub size: (u32, u32),
    pub stylizer: FrameStylizer,
}

/// Opens the render of `args` (see [`Opened`]).
pub(super) fn open(
    args: &VideoArgs,
    engine: &Engine,
    style: &Style,
    frames: &Frames,
    first: bool,
) -> Result<Opened> {
    let mut input = media_flags::open_input(&args.input, &args.render.media)?;
    let info = input.video().clone();
    let (width, height) = crate::picture::longest_side(info.width, info.height, args.render.size);
    input.set_output_size(width, height)?;
    let model = super::load_model(engine)?;
    let frame = (info.width, info.height);
    let (mut stylizer, _) = super::frame_stylizer(model, engine, style, frames, frame, false)?;
    if let (Some(path), true) = (&args.render.first_frame, first) {
        stylizer.start_from(super::first_frame(path, (width, height), args.render.size)?);
    }
    Ok(Opened {
        input,
        info,
        size: (width, height),
        stylizer,
    })
}

/// The input's other streams that the output keeps: all of them, or none with `--no-audio`.
pub(super) fn kept_streams(media: &MediaArgs, input: &Input) -> Vec<StreamInfo> {
    match media.no_audio {
        true => Vec::new(),
        false => input.streams().to_vec(),
    }
}
