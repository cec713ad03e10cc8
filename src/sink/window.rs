//! The preview window as a sink: each stylized frame beside its original, an overlay of figures,
//! and the keys. Watching a render, V, O and Esc; steering a live view, the keys change the
//! stylizer's [`Controls`], take screenshots and record.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::shown::{ShownFrame, ShownLog};
use super::{Flow, FrameSink, Recorder};
use crate::media::RgbFrame;
use crate::pipeline::Stylized;
use crate::preview::{Action, Preview, KEYS_LINE};
use crate::progress;

/// The most iterations per frame `+` goes to.
const MAX_ITERATIONS: usize = 100;
/// What `[` and `]` divide and multiply the style weight by.
const WEIGHT_STEP: f32 = 1.5;
/// The window is at least this wide (small frames are scaled up)…
const MIN_WINDOW: u32 = 640;
/// …and a live one at most this wide (large ones are scaled down); it can be resized.
const MAX_WINDOW: u32 = 1280;

/// What the keys change in the stylizer, shared between the window and the stylize stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Controls {
    /// The style shown (keys 1–9).
    pub style: usize,
    /// Iterations per frame (`+`, `-`).
    pub iterations: usize,
    /// The style weight (`[`, `]`).
    pub style_weight: f32,
    /// Whether stylizing is paused (space).
    pub paused: bool,
}

/// Locks `controls` (a holder that panicked left plain values behind).
pub fn lock(controls: &Mutex<Controls>) -> MutexGuard<'_, Controls> {
    controls.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a live view's keys steer.
pub struct Steering {
    /// Shared with the stylize stage.
    pub controls: Arc<Mutex<Controls>>,
    /// How many styles the number keys choose from.
    pub styles: usize,
    /// Where screenshots and recordings go.
    pub save_dir: PathBuf,
    /// The recordings' frame size.
    pub record_size: (u32, u32),
}

/// The window sink: a render watched, or a live view steered.
pub struct Window {
    preview: Preview,
    steering: Option<Steering>,
    /// Whether the last picture stays up at the end of the input.
    hold: bool,
    quiet: bool,
    last: Option<(RgbFrame, RgbFrame)>,
    shown: ShownLog,
    /// When the frames of the last two seconds were shown (the live figure of fps).
    recent: Vec<Instant>,
    recorder: Option<(Recorder, PathBuf)>,
    screenshots: u32,
    ended: bool,
    /// Whether a frame was just drawn (the window then handled its events already).
    drawn: bool,
}

impl Window {
    /// Shows frames in `preview`: with `steering`, a live view the keys steer, else a render
    /// watched. With `hold`, the last picture stays up at the end of the input until Esc.
    /// Notices (saved, recording) go to stderr unless `quiet`.
    fn new(preview: Preview, steering: Option<Steering>, hold: bool, quiet: bool) -> Window {
        Window {
            preview,
            steering,
            hold,
            quiet,
            last: None,
            shown: ShownLog::default(),
            recent: Vec::new(),
            recorder: None,
            screenshots: 0,
            ended: false,
            drawn: false,
        }
    }

    /// A window watching a render of `name` into frames of `size`: at least 640 pixels wide.
    pub fn watching(name: &str, size: (u32, u32), quiet: bool) -> Result<Window> {
        let scale = (f64::from(MIN_WINDOW) / f64::from(size.0)).max(1.0);
        let title = format!("stylize video {name} - V view  O overlay  Esc stop");
        let preview = Preview::open(&title, scaled(size.0, scale), scaled(size.1, scale))?;
        Ok(Window::new(preview, None, false, quiet))
    }

    /// A live view of frames of `size` that the keys steer: 640 to 1280 pixels wide.
    pub fn live(size: (u32, u32), steering: Steering, hold: bool, quiet: bool) -> Result<Window> {
        let scale = (f64::from(MIN_WINDOW) / f64::from(size.0))
            .max(1.0)
            .min(f64::from(MAX_WINDOW) / f64::from(size.0));
        let title = format!("stylize live - {KEYS_LINE}");
        let preview = Preview::open(&title, scaled(size.0, scale), scaled(size.1, scale))?;
        Ok(Window::new(preview, Some(steering), hold, quiet))
    }

    /// The frames shown so far.
    pub fn shown(&self) -> &[ShownFrame] {
        self.shown.frames()
    }

    /// Applies a key's action; says whether the window needs drawing again, or to stop.
    fn apply(&mut self, action: Action) -> Result<Option<bool>> {
        match action {
            Action::Quit => return Ok(None),
            Action::View => self.preview.view = self.preview.view.next(),
            Action::Overlay => self.preview.overlay = !self.preview.overlay,
            Action::Screenshot if self.steering.is_some() => self.screenshot()?,
            Action::Record if self.steering.is_some() => self.toggle_recording()?,
            other => {
                let Some(steering) = &self.steering else {
                    return Ok(Some(false));
                };
                let mut controls = lock(&steering.controls);
                match other {
                    Action::Style(i) if i < steering.styles => controls.style = i,
                    Action::Pause => controls.paused = !controls.paused,
                    Action::Iterations(step) => {
                        controls.iterations = controls
                            .iterations
                            .saturating_add_signed(step as isize)
                            .clamp(1, MAX_ITERATIONS)
                    }
                    Action::StyleWeight(step) => controls.style_weight *= WEIGHT_STEP.powi(step),
                    _ => return Ok(Some(false)),
                }
            }
        }
        Ok(Some(true))
    }

    fn screenshot(&mut self) -> Result<()> {
        let Some(steering) = &self.steering else {
            return Ok(());
        };
        self.screenshots += 1;
        let path =
            steering
                .save_dir
                .join(format!("stylize-{}-{}.png", timestamp(), self.screenshots));
        self.preview.screenshot(&path)?;
        self.notice(&format!("saved {}", path.display()));
        Ok(())
    }

    fn toggle_recording(&mut self) -> Result<()> {
        if self.recorder.is_some() {
            return self.stop_recording();
        }
        let Some(steering) = &self.steering else {
            return Ok(());
        };
        let path = steering
            .save_dir
            .join(format!("stylize-{}.mp4", timestamp()));
        let (w, h) = steering.record_size;
        let recorder = Recorder::start(&path.to_string_lossy(), w, h)?;
        self.notice(&format!("recording to {}", path.display()));
        self.recorder = Some((recorder, path));
        Ok(())
    }

    /// Finishes the recording in progress, if any.
    fn stop_recording(&mut self) -> Result<()> {
        if let Some((recorder, path)) = self.recorder.take() {
            let (summary, skipped) = recorder.stop()?;
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
            progress::notice(text);
        }
    }

    /// Draws the last picture again (or a blank window) with the overlay's current lines.
    fn redraw(&mut self, fps: f64) -> Result<()> {
        let lines = self.lines(fps, None);
        match &self.last {
            Some((stylized, original)) => self.preview.show(stylized, original, &lines),
            None => self.preview.refresh(&lines),
        }
    }

    /// The overlay. Watching a render: frames, fps and the view. Live: fps, latency and
    /// iterations of the last frame shown, the style, its weight and the view, and the state.
    fn lines(&self, fps: f64, latency_ms: Option<f64>) -> Vec<String> {
        let view = self.preview.view.name();
        let Some(steering) = &self.steering else {
            let count = self.shown.frames().len();
            let rate = count as f64 / self.shown.seconds().max(1e-3);
            return vec![format!("{count} frames  {rate:.1} fps  {view}")];
        };
        let controls = *lock(&steering.controls);
        let mut lines = Vec::new();
        if let Some(last) = self.shown.frames().last() {
            let latency = latency_ms.unwrap_or(last.latency_ms);
            let iterations = last.iterations;
            lines.push(format!(
                "{fps:.1} fps  {latency:.0} ms  {iterations} it/frame"
            ));
        }
        lines.push(format!(
            "style {}/{}  weight {}  {view}",
            controls.style + 1,
            steering.styles,
            short(controls.style_weight),
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

impl FrameSink for Window {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        let now = Instant::now();
        self.recent
            .retain(|t| now.duration_since(*t).as_secs_f64() < 2.0);
        self.recent.push(now);
        let fps = match self.recent.as_slice() {
            [first, .., _] => {
                (self.recent.len() - 1) as f64 / now.duration_since(*first).as_secs_f64()
            }
            _ => 0.0,
        };
        let latency_ms = self.shown.record(frame);
        let lines = self.lines(fps, Some(latency_ms));
        self.preview.show(&frame.frame, &frame.original, &lines)?;
        self.drawn = true;
        if let Some((recorder, _)) = &mut self.recorder {
            recorder.write(frame)?;
        }
        self.last = Some((frame.frame.clone(), frame.original.clone()));
        Ok(())
    }

    fn interactive(&self) -> bool {
        true
    }

    fn idle(&mut self) -> Result<Flow> {
        if !self.preview.is_open() {
            return Ok(Flow::Stop);
        }
        let mut redraw = self.preview.resized();
        for action in self.preview.actions() {
            match self.apply(action)? {
                None => return Ok(Flow::Stop),
                Some(changed) => redraw |= changed,
            }
        }
        if redraw {
            self.redraw(0.0)?;
        } else if !std::mem::take(&mut self.drawn) {
            self.preview.idle();
        }
        Ok(Flow::Continue)
    }

    fn ended(&mut self) -> Result<Flow> {
        self.ended = true;
        if !self.hold || self.last.is_none() {
            return Ok(Flow::Stop);
        }
        self.redraw(0.0)?;
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> Result<()> {
        self.stop_recording()
    }
}

/// `side` × `scale`, in whole pixels.
fn scaled(side: u32, scale: f64) -> usize {
    (f64::from(side) * scale).round() as usize
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_shown_short() {
        assert_eq!(short(100.0), "100");
        assert_eq!(short(150.0), "150");
        assert_eq!(short(66.666_67), "66.7");
        assert_eq!(short(0.444_444), "0.444");
        assert_eq!(short(1500.0), "1500");
    }
}
