//! `stylize live`: a camera or any video stylized in a window as it plays, steered with the keys
//! (or, with `--no-window`, only timed).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Result};

use super::media_flags;
use super::Finished;
use crate::cli::LiveArgs;
use crate::config::{self, Source};
use crate::pipeline::{self, EndedBy, Schedule, Stylized};
use crate::sink::window::{lock, Controls, Steering};
use crate::sink::{FrameSink, ShownLog, Unshown, Window};
use crate::source::{FrameSource, MediaSource, Paced};
use crate::stats::{self, LiveStats};

pub(super) fn run(args: &LiveArgs) -> Result<Finished> {
    let started = Instant::now();
    if let Some(path) = &args.report.stats {
        stats::check(path)?;
    }
    let live = config::live(args)?;
    if live.window {
        crate::preview::check_display()?;
    }
    let quiet = live.quiet;
    let (mut input, shown) = media_flags::open_live(&live.source)?;
    let info = input.video().clone();
    let model = super::load_model(&live.engine)?;
    let frames = live.frames_on(model.backend());
    let (width, height) = crate::picture::longest_side(info.width, info.height, frames.size);
    input.set_output_size(width, height)?;
    let decoded = MediaSource::new(input, false);
    let mut source: Box<dyn FrameSource> = match live.source {
        Source::Camera(_) => Box::new(decoded),
        Source::Media { .. } => Box::new(Paced::new(decoded, f64::from(info.time_base))),
    };
    let size = (info.width, info.height);
    let (mut stylizer, grams) =
        super::frame_stylizer(model, &live.engine, &live.style, &frames, size, true)?;
    let device = stylizer.model().backend().to_string();

    let controls = Arc::new(Mutex::new(Controls {
        style: 0,
        iterations: frames.iterations.rest as usize,
        style_weight: live.style.weights.style,
        paused: false,
    }));
    let steering = Steering {
        controls: controls.clone(),
        styles: live.style.paths.len(),
        save_dir: live.save_dir.clone(),
        record_size: (info.width, info.height),
    };
    let hold = live.frame_limit.is_none();
    let mut window = match live.window {
        true => Some(Window::live(size, steering, hold, quiet)?),
        false => None,
    };
    let mut unshown = Unshown(ShownLog::default());
    let sink: &mut dyn FrameSink = match &mut window {
        Some(window) => window,
        None => &mut unshown,
    };

    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let settings = pipeline::Settings {
        schedule: Schedule::LatestWins,
        frames: live.frame_limit,
        flow: stylizer.wants_motion().then(|| frames.flow.params()),
        flow_after: None,
        stop: interrupt.clone(),
    };
    let mut applied = *lock(&controls);
    let report = pipeline::run(
        source.as_mut(),
        |frame| {
            let wanted = *lock(&controls);
            if wanted.paused {
                return Ok(None);
            }
            if wanted.style != applied.style {
                stylizer.set_style(grams[wanted.style].clone());
            }
            stylizer.set_style_weight(wanted.style_weight);
            stylizer.set_iterations(wanted.iterations);
            applied = wanted;
            let start = Instant::now();
            let (image, outcomes) =
                stylizer.stylize(&frame.content, frame.motion.as_ref(), |_| {
                    std::ops::ControlFlow::Continue(())
                })?;
            let seconds = start.elapsed().as_secs_f64();
            let runs = outcomes.iter().flat_map(|o| &o.iterations);
            let iterations = runs.clone().count();
            // The first iteration counts the evaluation at the start too.
            let evaluations = runs.clone().map(|i| i.evaluations).sum();
            let loss = runs.last().map(|i| i.loss).unwrap_or_default();
            let stylized = Stylized::new(&image, frame, iterations, seconds)?;
            Ok(Some(stylized.with_loss(evaluations, loss)))
        },
        sink,
        &settings,
    )?;
    let shown_frames = match &window {
        Some(window) => window.shown(),
        None => unshown.0.frames(),
    };
    let interrupted = report.ended == EndedBy::Interrupt;
    if shown_frames.is_empty() && !interrupted {
        if let Some(problem) = report.input.problem() {
            bail!("{shown}: {problem}");
        }
        bail!("{shown} gave no video frames");
    }

    if let Some(path) = &live.stats {
        let (displayed_fps, latency_ms_median, latency_ms_p95) =
            stats::steady_figures(shown_frames);
        let iterations = frames.iterations;
        stats::write(
            path,
            &LiveStats {
                command: "live",
                input: &shown,
                model: live.engine.model_dir.display().to_string(),
                processing_width: width,
                processing_height: height,
                device,
                threads: live.engine.session.threads,
                first_iterations: iterations.first,
                iterations_per_frame: iterations.rest,
                decoded_frames: report.decoded,
                displayed_frames: shown_frames.len() as u64,
                displayed_fps,
                latency_ms_median,
                latency_ms_p95,
                seconds: started.elapsed().as_secs_f64(),
                frames: shown_frames,
            },
        )?;
    }
    if interrupted {
        return Ok(Finished::Interrupted);
    }
    Ok(Finished::Done)
}
