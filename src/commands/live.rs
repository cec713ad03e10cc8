//! `stylize live`: a camera or any video stylized in a window as it plays, steered with the keys.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Result};

use super::media_flags::with_flag;
use super::Finished;
use crate::cli::LiveArgs;
use crate::config::{self, Source};
use crate::media::{Input, RgbFrame};
use crate::pipeline::{self, EndedBy, Schedule, Stylized};
use crate::preview::{Preview, KEYS_LINE};
use crate::sink::window::{lock, Controls, Steering};
use crate::sink::Window;
use crate::source::camera::CameraError;
use crate::source::{FrameSource, MediaSource, Paced};
use crate::stats::{self, LiveStats};

/// The window is at least this wide (small inputs are scaled up)…
const MIN_WINDOW: u32 = 640;
/// …and at most this wide (large ones are scaled down); it can be resized.
const MAX_WINDOW: u32 = 1280;

pub(super) fn run(args: &LiveArgs) -> Result<Finished> {
    let started = Instant::now();
    crate::preview::check_display()?;
    if let Some(path) = &args.report.stats {
        stats::check(path)?;
    }
    let live = config::live(args)?;
    let quiet = live.quiet;
    let (mut input, shown) = open(&live.source)?;
    let info = input.video().clone();
    let (width, height) = super::processing_size(info.width, info.height, live.frames.size);
    input.set_output_size(width, height)?;
    let mut source: Box<dyn FrameSource> = match &live.source {
        Source::Camera(_) => Box::new(MediaSource::new(input, false)),
        Source::Media { .. } => {
            let time_base = f64::from(info.time_base);
            Box::new(Paced::new(MediaSource::new(input, false), time_base))
        }
    };
    let (mut stylizer, grams) = super::frame_stylizer(
        &live.engine,
        &live.style,
        &live.frames,
        (info.width, info.height),
        true,
    )?;
    let device = stylizer.model().backend().to_string();

    let scale = (f64::from(MIN_WINDOW) / f64::from(info.width))
        .max(1.0)
        .min(f64::from(MAX_WINDOW) / f64::from(info.width));
    let side = |s: u32| (f64::from(s) * scale).round() as usize;
    let preview = Preview::open(
        &format!("stylize live - {KEYS_LINE}"),
        side(info.width),
        side(info.height),
    )?;
    let controls = Arc::new(Mutex::new(Controls {
        style: 0,
        iterations: live.frames.iterations.rest as usize,
        style_weight: live.style.weights.style,
        paused: false,
    }));
    let steering = Steering {
        controls: controls.clone(),
        styles: live.style.paths.len(),
        save_dir: live.save_dir.clone(),
        record_size: (info.width, info.height),
    };
    let mut window = Window::new(preview, Some(steering), live.frame_limit.is_none(), quiet);

    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let settings = pipeline::Settings {
        schedule: Schedule::LatestWins,
        frames: live.frame_limit,
        flow: stylizer.wants_motion().then(|| live.frames.flow.params()),
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
            Ok(Some(Stylized {
                frame: RgbFrame::from_tensor(image.view(), frame.frame.pts, frame.frame.index)?,
                original: frame.frame,
                captured: frame.captured,
                iterations: outcomes.iter().map(|o| o.iterations.len()).sum(),
                seconds: start.elapsed().as_secs_f64(),
            }))
        },
        &mut window,
        &settings,
    )?;
    let frames = window.shown();
    let interrupted = report.ended == EndedBy::Interrupt;
    if frames.is_empty() && !interrupted {
        if let Some(problem) = report.input.problem() {
            bail!("{shown}: {problem}");
        }
        bail!("{shown} gave no video frames");
    }

    if let Some(path) = &live.stats {
        let (displayed_fps, latency_ms_median, latency_ms_p95) = stats::steady_figures(frames);
        let iterations = live.frames.iterations;
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
                displayed_frames: frames.len() as u64,
                displayed_fps,
                latency_ms_median,
                latency_ms_p95,
                seconds: started.elapsed().as_secs_f64(),
                frames,
            },
        )?;
    }
    if interrupted {
        return Ok(Finished::Interrupted);
    }
    Ok(Finished::Done)
}

/// Opens the source, decoding at the processing size; says how messages name it.
fn open(source: &Source) -> Result<(Input, String)> {
    match source {
        Source::Camera(camera) => {
            let input = camera.open().map_err(|e| match e {
                CameraError::Missing(_) => {
                    anyhow::anyhow!("{e}; connect a webcam or name another with --camera DEVICE")
                }
                CameraError::Unnamed => anyhow::anyhow!("{e}: --camera NAME"),
                other => other.into(),
            })?;
            Ok((input, camera.shown()))
        }
        Source::Media {
            url,
            format,
            options,
        } => {
            let shown = if url == "-" {
                "stdin".to_string()
            } else {
                format!("input '{url}'")
            };
            let input = Input::open(url, format.as_deref(), options).map_err(with_flag)?;
            Ok((input, shown))
        }
    }
}
