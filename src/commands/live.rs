//! `stylize live`: a camera or any video stylized in a window as it plays, steered with the keys.
//!
//! Wiring: source thread (decode, paced) ─latest frame wins─▶ stylize thread (warm-started from
//! the last stylized frame) ─latest frame wins─▶ the window on this thread (keys, overlay,
//! screenshots, recording).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use image::RgbImage;
use ndarray::Array2;
use serde::Serialize;

use super::media_flags::with_flag;
use crate::cli::{Iterations, LiveArgs};
use crate::media::{self, Input};
use crate::model;
use crate::picture;
use crate::pipeline::handoff::Mailbox;
use crate::pipeline::live::{spawn_source, spawn_worker, Captured, Recorder, SourceReport};
use crate::preview::{Action, Picture, Preview, KEYS_LINE};
use crate::stats;
use crate::stylize::FrameStylizer;
use crate::temporal::{FlowPreset, MotionTracker};

use super::Finished;

/// The `--live` preset (measured on a 2-core CPU: see docs/BENCHMARKS.md).
const LIVE_SIZE: u32 = 112;
const LIVE_ITERATIONS: Iterations = Iterations { first: 10, rest: 2 };
const LIVE_MODEL: &str = "models/vgg19-live";
/// Without `--live`: the full network, slower and finer.
const SIZE: u32 = 256;
const ITERATIONS: Iterations = Iterations {
    first: 100,
    rest: 10,
};
/// `--tolerance` when not given, for the first frame and the later ones: off, a live frame's
/// few iterations are all worth showing.
const TOLERANCE: (f32, f32) = (0.0, 0.0);
/// The most iterations per frame `+` goes to.
const MAX_ITERATIONS: usize = 100;
/// What `[` and `]` divide and multiply the style weight by.
const WEIGHT_STEP: f32 = 1.5;
/// The window is at least this wide (small inputs are scaled up)…
const MIN_WINDOW: u32 = 640;
/// …and at most this wide (large ones are scaled down); it can be resized.
const MAX_WINDOW: u32 = 1280;

/// What the keys change in the stylizer, shared between the window and the stylize thread.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Controls {
    style: usize,
    iterations: usize,
    style_weight: f32,
    paused: bool,
}

/// A stylized frame on its way to the window.
struct Shown {
    picture: Picture,
    captured: Instant,
    iterations: usize,
    stylize_seconds: f64,
    index: u64,
}

/// One displayed frame in `--stats`.
#[derive(Serialize)]
struct FrameStats {
    frame: u64,
    shown_at: f64,
    latency_ms: f64,
    iterations: usize,
    stylize_ms: f64,
}

/// The figures `--stats` writes for `stylize live`.
#[derive(Serialize)]
struct LiveStats<'a> {
    command: &'static str,
    input: &'a str,
    model: String,
    processing_width: u32,
    processing_height: u32,
    device: String,
    threads: usize,
    first_iterations: u32,
    iterations_per_frame: u32,
    decoded_frames: u64,
    displayed_frames: u64,
    /// Over the displayed frames after the first (which is optimized longer, from its content).
    displayed_fps: f64,
    latency_ms_median: f64,
    latency_ms_p95: f64,
    seconds: f64,
    frames: &'a [FrameStats],
}

pub(super) fn run(args: &LiveArgs) -> Result<Finished> {
    let started = Instant::now();
    let quiet = args.report.quiet;
    crate::preview::check_display()?;
    if let Some(path) = &args.report.stats {
        stats::check(path)?;
    }
    if !args.style.style_blend.is_empty() {
        bail!("--style-blend does not apply to live: the keys 1-9 switch between the styles");
    }
    if args.style.styles.len() > 9 {
        bail!(
            "live takes at most 9 --style images (keys 1-9), not {}",
            args.style.styles.len()
        );
    }
    if !args.save_dir.is_dir() {
        bail!(
            "--save-dir '{}' is not a directory",
            args.save_dir.display()
        );
    }
    let styles = super::load_styles(&args.style.styles)?;
    let size = args
        .size
        .unwrap_or(if args.live { LIVE_SIZE } else { SIZE });
    let iterations = args.iterations.unwrap_or(if args.live {
        LIVE_ITERATIONS
    } else {
        ITERATIONS
    });

    let source = Source::of(args)?;
    let mut input = source.open()?;
    let info = input.video().clone();
    let (width, height) = super::processing_size(info.width, info.height, size);
    input.set_output_size(width, height)?;

    let mut config = super::session_config(&args.engine, quiet)?;
    if args.engine.threads.is_none() {
        // The source and the window need a core of their own to keep the latency down: with every
        // core in ONNX Runtime's threads, one of them is preempted at each barrier.
        config.threads = config.threads.saturating_sub(1).max(1);
    }
    let model_dir = match (&args.engine.model, args.live) {
        (None, true) => live_model_dir()?,
        (given, _) => model::resolve_dir(given.as_deref()),
    };
    let mut model = super::load_model(&model_dir, &args.engine, &config)?;
    let sizes = super::frame_levels(&args.budget, (info.width, info.height), size, &model)?;
    // For each style (keys 1-9), its Gram matrices at each level.
    let grams: Vec<Vec<Vec<Array2<f32>>>> = styles
        .iter()
        .map(|s| {
            super::level_grams(
                &mut model,
                std::slice::from_ref(s),
                &sizes,
                &args.style,
                &[1.0],
            )
        })
        .collect::<Result<_>>()?;
    let schedule = super::schedule(
        &args.budget,
        sizes,
        (iterations.first, iterations.rest),
        TOLERANCE,
    );
    let weights = super::loss_weights(&args.style, args.temporal.temporal_weight);
    let device = model.backend().to_string();
    let solver = super::solver(&args.optim, &args.engine, &model)?;
    let mut stylizer = FrameStylizer::new(
        model,
        grams[0].clone(),
        weights,
        solver,
        super::frame_start(args.temporal.init),
        schedule,
        args.optim.seed,
    );

    let scale = (f64::from(MIN_WINDOW) / f64::from(info.width))
        .max(1.0)
        .min(f64::from(MAX_WINDOW) / f64::from(info.width));
    let window = (
        (f64::from(info.width) * scale).round() as usize,
        (f64::from(info.height) * scale).round() as usize,
    );
    let mut preview = Preview::open(&format!("stylize live - {KEYS_LINE}"), window.0, window.1)?;

    let interrupt = Arc::new(AtomicBool::new(false));
    super::install_interrupt_handler(interrupt.clone(), quiet)?;
    let stop = Arc::new(AtomicBool::new(false));
    let captured = Arc::new(Mailbox::<Captured>::new());
    let stylized = Arc::new(Mailbox::<Shown>::new());
    let controls = Arc::new(Mutex::new(Controls {
        style: 0,
        iterations: iterations.rest as usize,
        style_weight: weights.style,
        paused: false,
    }));
    let source_thread = spawn_source(input, source.pace, captured.clone(), stop.clone())?;
    // Live favours speed: the fast preset unless asked otherwise.
    let flow_preset = args.temporal.flow_preset.unwrap_or(FlowPreset::Fast);
    let worker = {
        let controls = controls.clone();
        let mut applied = *lock(&controls);
        let mut tracker = stylizer
            .wants_motion()
            .then(|| MotionTracker::new(flow_preset.params()));
        spawn_worker(
            "stylize",
            captured.clone(),
            stylized.clone(),
            stop.clone(),
            move |item: Captured| {
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
                let content = item.frame.to_tensor()?;
                // The motion since the last frame stylized (frames dropped in between included);
                // small at live sizes, so computed here rather than in a stage of its own.
                let motion = match tracker.as_mut() {
                    Some(tracker) => tracker.next(content.view())?,
                    None => None,
                };
                let (image, outcome) =
                    stylizer.stylize(&content, motion.as_ref(), |_| ControlFlow::Continue(()))?;
                let original =
                    RgbImage::from_raw(item.frame.width, item.frame.height, item.frame.data)
                        .context("internal: a decoded frame has the wrong length")?;
                Ok(Some(Shown {
                    picture: Picture {
                        stylized: picture::from_tensor(image.view())?,
                        original,
                    },
                    captured: item.at,
                    iterations: outcome.iter().map(|o| o.iterations.len()).sum(),
                    stylize_seconds: start.elapsed().as_secs_f64(),
                    index: item.frame.index,
                }))
            },
        )?
    };

    let mut window_loop = WindowLoop {
        preview: &mut preview,
        controls: &controls,
        styles: styles.len(),
        save_dir: &args.save_dir,
        record_size: (info.width, info.height),
        quiet,
        shown: Vec::new(),
        last: None,
        recorder: None,
        screenshots: 0,
        ended: false,
        started,
    };
    let mut stages = Stages {
        source: Some(source_thread),
        worker: Some(worker),
        report: None,
    };
    let looped = window_loop.run(&stylized, &mut stages, &interrupt, args.frames);
    let recorded = window_loop.stop_recording();
    let shown = std::mem::take(&mut window_loop.shown);

    stop.store(true, Ordering::SeqCst);
    captured.close();
    stylized.close();
    let joined = stages.join();
    looped?;
    joined?;
    recorded?;
    let source_report = stages
        .report
        .take()
        .context("internal: the source stage gave no report")?;
    if shown.is_empty() && !interrupt.load(Ordering::Relaxed) {
        if let Some(problem) = source_report.ending.problem() {
            bail!("{}: {problem}", source.shown);
        }
        bail!("{} gave no video frames", source.shown);
    }

    if let Some(path) = &args.report.stats {
        let steady = shown.get(1..).unwrap_or_default();
        let mut latencies: Vec<f64> = steady.iter().map(|f| f.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let fps = match (steady.first(), steady.last()) {
            (Some(a), Some(b)) if b.shown_at > a.shown_at => {
                (steady.len() - 1) as f64 / (b.shown_at - a.shown_at)
            }
            _ => 0.0,
        };
        stats::write(
            path,
            &LiveStats {
                command: "live",
                input: &source.shown,
                model: model_dir.display().to_string(),
                processing_width: width,
                processing_height: height,
                device,
                threads: config.threads,
                first_iterations: iterations.first,
                iterations_per_frame: iterations.rest,
                decoded_frames: source_report.decoded,
                displayed_frames: shown.len() as u64,
                displayed_fps: fps,
                latency_ms_median: percentile(&latencies, 0.5),
                latency_ms_p95: percentile(&latencies, 0.95),
                seconds: started.elapsed().as_secs_f64(),
                frames: &shown,
            },
        )?;
    }
    if interrupt.load(Ordering::Relaxed) {
        return Ok(Finished::Interrupted);
    }
    Ok(Finished::Done)
}

/// The stage threads behind the window, joined once.
struct Stages {
    source: Option<JoinHandle<Result<SourceReport>>>,
    worker: Option<JoinHandle<Result<()>>>,
    report: Option<SourceReport>,
}

impl Stages {
    /// Waits for the stylize thread, then the source thread (keeping its report); the first
    /// failure is returned.
    fn join(&mut self) -> Result<()> {
        if let Some(worker) = self.worker.take() {
            worker
                .join()
                .map_err(|_| anyhow!("internal: the stylize thread panicked"))??;
        }
        if let Some(source) = self.source.take() {
            let report = source
                .join()
                .map_err(|_| anyhow!("internal: the source thread panicked"))??;
            self.report = Some(report);
        }
        Ok(())
    }
}

/// The window's side of a run: keys, pictures, overlay, screenshots and recording.
struct WindowLoop<'a> {
    preview: &'a mut Preview,
    controls: &'a Mutex<Controls>,
    styles: usize,
    save_dir: &'a Path,
    record_size: (u32, u32),
    quiet: bool,
    shown: Vec<FrameStats>,
    last: Option<Shown>,
    recorder: Option<(Recorder, PathBuf)>,
    screenshots: u32,
    ended: bool,
    started: Instant,
}

impl WindowLoop<'_> {
    /// Runs until Esc, the window is closed, Ctrl-C, `frames` frames were shown, a stage failed,
    /// or (with `frames`) the input ended. At the end of the input the last picture stays up.
    fn run(
        &mut self,
        stylized: &Mailbox<Shown>,
        stages: &mut Stages,
        interrupt: &AtomicBool,
        frames: Option<u64>,
    ) -> Result<()> {
        let mut recent: Vec<Instant> = Vec::new();
        while self.preview.is_open() && !interrupt.load(Ordering::Relaxed) {
            let mut redraw = false;
            for action in self.preview.actions() {
                match action {
                    Action::Quit => return Ok(()),
                    other => redraw |= self.apply(other)?,
                }
            }
            if let Some(shown) = stylized.try_take() {
                let now = Instant::now();
                recent.retain(|t| now.duration_since(*t).as_secs_f64() < 2.0);
                recent.push(now);
                let fps = if recent.len() > 1 {
                    (recent.len() - 1) as f64 / now.duration_since(recent[0]).as_secs_f64()
                } else {
                    0.0
                };
                let latency = shown.captured.elapsed().as_secs_f64() * 1000.0;
                let lines = self.lines(Some((fps, latency, shown.iterations)));
                self.preview.show(&shown.picture, &lines)?;
                let latency_ms = shown.captured.elapsed().as_secs_f64() * 1000.0;
                if let Some((recorder, _)) = &mut self.recorder {
                    recorder.push(&shown.picture.stylized, shown.captured);
                }
                self.shown.push(FrameStats {
                    frame: shown.index,
                    shown_at: self.started.elapsed().as_secs_f64(),
                    latency_ms,
                    iterations: shown.iterations,
                    stylize_ms: shown.stylize_seconds * 1000.0,
                });
                self.last = Some(shown);
                if frames.is_some_and(|n| self.shown.len() as u64 >= n) {
                    return Ok(());
                }
                continue;
            }
            if stylized.is_finished() && !self.ended {
                self.ended = true;
                redraw = true;
                stages.join()?;
                if frames.is_some() || self.last.is_none() {
                    return Ok(());
                }
            }
            if redraw || self.preview.resized() {
                let lines = self.lines(None);
                match &self.last {
                    Some(last) => self.preview.show(&last.picture, &lines)?,
                    None => self.preview.refresh(&lines)?,
                }
            } else {
                self.preview.idle();
            }
        }
        Ok(())
    }

    /// Applies a key's action; says whether the window needs drawing again.
    fn apply(&mut self, action: Action) -> Result<bool> {
        let mut controls = lock(self.controls);
        match action {
            Action::Style(i) if i < self.styles => controls.style = i,
            Action::Style(_) | Action::Quit => return Ok(false),
            Action::Pause => controls.paused = !controls.paused,
            Action::View => self.preview.view = self.preview.view.next(),
            Action::Overlay => self.preview.overlay = !self.preview.overlay,
            Action::Iterations(step) => {
                controls.iterations = controls
                    .iterations
                    .saturating_add_signed(step as isize)
                    .clamp(1, MAX_ITERATIONS)
            }
            Action::StyleWeight(step) => controls.style_weight *= WEIGHT_STEP.powi(step),
            Action::Screenshot => {
                drop(controls);
                self.screenshot()?;
            }
            Action::Record => {
                drop(controls);
                if self.recorder.is_some() {
                    self.stop_recording()?;
                } else {
                    let path = self.save_dir.join(format!("stylize-{}.mp4", timestamp()));
                    let (w, h) = self.record_size;
                    let recorder = Recorder::start(&path.to_string_lossy(), w, h)?;
                    self.notice(&format!("recording to {}", path.display()));
                    self.recorder = Some((recorder, path));
                }
            }
        }
        Ok(true)
    }

    fn screenshot(&mut self) -> Result<()> {
        self.screenshots += 1;
        let path = self
            .save_dir
            .join(format!("stylize-{}-{}.png", timestamp(), self.screenshots));
        self.preview.screenshot(&path)?;
        self.notice(&format!("saved {}", path.display()));
        Ok(())
    }

    /// Finishes the recording in progress, if any.
    fn stop_recording(&mut self) -> Result<()> {
        if let Some((recorder, path)) = self.recorder.take() {
            let (summary, skipped) = recorder.finish()?;
            let skipped = if skipped > 0 {
                format!(" ({skipped} left out: the encoder was behind)")
            } else {
                String::new()
            };
            self.notice(&format!(
                "recorded {} frames to {}{skipped}",
                summary.frames,
                path.display()
            ));
        }
        Ok(())
    }

    fn notice(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// The overlay: displayed fps, latency and iterations of the last frame (when one was just
    /// shown), the style, its weight and the view, and the state.
    fn lines(&self, figures: Option<(f64, f64, usize)>) -> Vec<String> {
        let controls = *lock(self.controls);
        let figures = figures.or_else(|| {
            let last = self.shown.last()?;
            Some((0.0, last.latency_ms, last.iterations))
        });
        let mut lines = Vec::new();
        if let Some((fps, latency, iterations)) = figures {
            lines.push(format!(
                "{fps:.1} fps  {latency:.0} ms  {iterations} it/frame"
            ));
        }
        lines.push(format!(
            "style {}/{}  weight {}  {}",
            controls.style + 1,
            self.styles,
            short(controls.style_weight),
            self.preview.view.name()
        ));
        let mut state = Vec::new();
        if controls.paused {
            state.push("PAUSED");
        }
        if self.recorder.is_some() {
            state.push("REC");
        }
        if self.ended {
            state.push("end of input");
        }
        if !state.is_empty() {
            lines.push(state.join("  "));
        }
        lines
    }
}

/// Where frames come from: a camera or any input `stylize video` takes.
struct Source {
    url: String,
    format: Option<String>,
    options: Vec<(String, String)>,
    /// Whether frames are released at their timestamps (everything but a camera).
    pace: bool,
    /// Whether it is a camera (for the messages).
    camera: bool,
    /// How messages name it.
    shown: String,
}

impl Source {
    fn of(args: &LiveArgs) -> Result<Source> {
        let mut options = Vec::new();
        let Some(device) = &args.camera else {
            if args.camera_size.is_some() || args.camera_fps.is_some() {
                bail!("--camera-size and --camera-fps are for a camera: add --camera [DEVICE]");
            }
            let url = args.input.clone().unwrap_or_default();
            return Ok(Source {
                shown: if url == "-" {
                    "stdin".into()
                } else {
                    format!("input '{url}'")
                },
                url,
                format: args.source.input_format.clone(),
                options: args.source.input_option.clone(),
                pace: true,
                camera: false,
            });
        };
        if let Some((w, h)) = args.camera_size {
            options.push(("video_size".into(), format!("{w}x{h}")));
        }
        if let Some(fps) = args.camera_fps {
            options.push(("framerate".into(), fps.to_string()));
        }
        options.extend(args.source.input_option.iter().cloned());
        let (format, url) = camera_device(device)?;
        if cfg!(target_os = "linux") && !Path::new(&url).exists() {
            bail!("no camera: {url} does not exist; connect a webcam or name another with --camera DEVICE");
        }
        Ok(Source {
            shown: format!("camera '{url}'"),
            url,
            format: Some(args.source.input_format.clone().unwrap_or(format.into())),
            options,
            pace: false,
            camera: true,
        })
    }

    fn open(&self) -> Result<Input> {
        let opened = Input::open(&self.url, self.format.as_deref(), &self.options);
        match opened {
            Ok(input) => Ok(input),
            Err(e) if self.camera => Err(camera_error(&self.shown, e)),
            Err(e) => Err(with_flag(e)),
        }
    }
}

/// A camera that failed to open, in the words of the message: busy, or why not.
fn camera_error(shown: &str, error: media::Error) -> anyhow::Error {
    match error {
        media::Error::DeviceBusy { .. } => anyhow::anyhow!(
            "{shown} is busy: another program is using it; close that program or pick another camera"
        ),
        other => with_flag(other).context(format!("cannot open {shown} (is it a camera?)")),
    }
}

/// The platform's camera device and FFmpeg's input for it (`--camera` without a value: the
/// first camera).
fn camera_device(given: &str) -> Result<(&'static str, String)> {
    if cfg!(target_os = "macos") {
        Ok((
            "avfoundation",
            if given.is_empty() { "0" } else { given }.to_string(),
        ))
    } else if cfg!(windows) {
        if given.is_empty() {
            bail!("name the camera: --camera NAME (`ffmpeg -list_devices true -f dshow -i dummy` lists them)");
        }
        Ok(("dshow", format!("video={given}")))
    } else {
        Ok((
            "v4l2",
            if given.is_empty() {
                "/dev/video0"
            } else {
                given
            }
            .to_string(),
        ))
    }
}

/// The light model of the `--live` preset, or a message saying how to make it.
fn live_model_dir() -> Result<PathBuf> {
    crate::project::find(&Path::new(LIVE_MODEL).join("manifest.json"))
        .and_then(|manifest| manifest.parent().map(Path::to_path_buf))
        .with_context(|| {
            format!("the --live model {LIVE_MODEL} is missing: run scripts/setup.sh, or give --model DIR")
        })
}

/// The `q` quantile of sorted values (nearest rank); 0 when there are none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A weight in few characters: 3 significant digits.
fn short(value: f32) -> String {
    let digits = (2 - value.abs().max(1e-6).log10().floor() as i32).max(0) as usize;
    format!("{value:.digits$}")
}

/// Seconds since the Unix epoch, for file names.
fn timestamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock(controls: &Mutex<Controls>) -> std::sync::MutexGuard<'_, Controls> {
    controls.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_camera_says_so() {
        let busy = media::Error::DeviceBusy {
            context: "cannot open input '/dev/video0' as v4l2".into(),
        };
        let message = format!("{:#}", camera_error("camera '/dev/video0'", busy));
        assert!(
            message.starts_with("camera '/dev/video0' is busy"),
            "{message}"
        );
        let other = media::Error::Other("inappropriate ioctl for device".into());
        let message = format!("{:#}", camera_error("camera '/dev/null'", other));
        assert!(message.contains("is it a camera?"), "{message}");
    }

    #[test]
    fn weights_are_shown_short() {
        assert_eq!(short(100.0), "100");
        assert_eq!(short(150.0), "150");
        assert_eq!(short(66.666_67), "66.7");
        assert_eq!(short(0.444_444), "0.444");
        assert_eq!(short(1500.0), "1500");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 10.0);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
