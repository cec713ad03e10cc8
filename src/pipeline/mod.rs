//! The pipeline: one [`run`] for a render and a live view alike. Stages on threads, data flowing
//! one way:
//!
//! ```text
//! source ──▶ prepare (tensor, optical flow) ──▶ stylize ──▶ sink (this thread: encoder, window…)
//! ```
//! [`Schedule::Ordered`] (a render) links the stages with short queues: every frame, in order,
//! with back-pressure, and the other streams' packets alongside. [`Schedule::LatestWins`] (a live
//! view) links the source to the rest and the stylizer to the sink with one-slot mailboxes, so a
//! stage that falls behind skips to the newest frame; the prepare stage hands each frame straight
//! to the stylizer and prepares the next one while it works, so the optical flow is always from
//! the frame stylized before.

pub mod handoff;
mod link;
mod prepare;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use ndarray::Array4;

use crate::media::{Ending, Event, InputPacket, RgbFrame};
use crate::model::LossTerms;
use crate::sink::{Flow, FrameSink};
use crate::source::FrameSource;
use crate::temporal::{FlowParams, Motion};
use link::{link, LinkKind, Received, Receiver, Sender};

/// How many items a render's queues hold.
const DEPTH: usize = 4;
/// How long the sink waits for a frame before it is called idle (a window waits on its own).
const IDLE: Duration = Duration::from_millis(100);

/// What makes a render and a live view differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every frame in order, the stages waiting for each other (a render).
    Ordered,
    /// The newest frame, no stage ever waiting for a slower one (a live view).
    LatestWins,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Ordered or latest-wins.
    pub schedule: Schedule,
    /// Stop after this many frames reached the sink.
    pub frames: Option<u64>,
    /// Compute the motion between consecutive frames with these parameters.
    pub flow: Option<FlowParams>,
    /// The content frame before the source's first (a resumed render's last frame done), so
    /// that the first frame's motion is from it.
    pub flow_after: Option<RgbFrame>,
    /// Set to stop soon (Ctrl-C, or a sink asking); a render finishes the frames in hand.
    pub stop: Arc<AtomicBool>,
}

/// A frame made ready for the stylizer.
pub struct Prepared {
    /// The decoded frame, at processing size.
    pub frame: RgbFrame,
    /// The same as a 1×3×h×w tensor, RGB in [0, 1].
    pub content: Array4<f32>,
    /// The motion from the frame prepared before (when asked for, and not the first frame).
    pub motion: Option<Motion>,
    /// When the source delivered it (end-to-end latency is counted from here).
    pub captured: Instant,
}

/// A stylized frame on its way to the sink.
pub struct Stylized {
    /// The stylized frame, at processing size; timestamp and number of the input frame.
    pub frame: RgbFrame,
    /// The frame it was made from.
    pub original: RgbFrame,
    /// When the source delivered the original.
    pub captured: Instant,
    /// Optimizer iterations spent on it.
    pub iterations: usize,
    /// Seconds the stylizer spent on it.
    pub seconds: f64,
    /// Loss-and-gradient evaluations spent on it, and the loss it ended at, when the stylizer
    /// says (see [`with_loss`](Self::with_loss)).
    pub evaluations: usize,
    pub loss: Option<LossTerms>,
    /// The stylized image in full precision, when a resumable render keeps it (see
    /// [`with_state`](Self::with_state)); `None` for a frame cut short, which is made again.
    pub state: Option<Array4<f32>>,
}

impl Stylized {
    /// The stylized `image` (1×3×h×w, RGB in [0, 1]) of `frame`, after `iterations` in `seconds`.
    pub fn new(
        image: &Array4<f32>,
        frame: Prepared,
        iterations: usize,
        seconds: f64,
    ) -> Result<Self> {
        let (pts, index) = (frame.frame.pts, frame.frame.index);
        Ok(Stylized {
            frame: RgbFrame::from_tensor(image.view(), pts, index)?,
            original: frame.frame,
            captured: frame.captured,
            iterations,
            seconds,
            evaluations: 0,
            loss: None,
            state: None,
        })
    }

    /// Adds the `evaluations` spent on the frame and the `loss` it ended at (a live view's
    /// figures).
    pub fn with_loss(mut self, evaluations: usize, loss: LossTerms) -> Self {
        self.evaluations = evaluations;
        self.loss = Some(loss);
        self
    }

    /// Carries `image`, the full-precision stylized frame, to the sink, which saves it when a
    /// render is checkpointed (the stylizer is frames ahead by then).
    pub fn with_state(mut self, image: Array4<f32>) -> Self {
        self.state = Some(image);
        self
    }
}

/// What passes between the stages: a frame, or a packet of another stream.
enum Item<F> {
    Frame(F),
    Packet(InputPacket),
}

/// A decoded frame and when it came.
struct Captured {
    frame: RgbFrame,
    at: Instant,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    /// The input ended and every frame reached the sink.
    Input,
    /// The frame limit was reached.
    Limit,
    /// A sink asked to stop (Esc in a window).
    Sink,
    /// The stop flag was set from outside (Ctrl-C).
    Interrupt,
}

/// How a run ended.
pub struct Report {
    /// Why it ended.
    pub ended: EndedBy,
    /// How reading ended.
    pub input: Ending,
    /// Frames read from the source.
    pub decoded: u64,
    /// Seconds the stylizer waited for prepared frames.
    pub waiting_for_input: f64,
    /// Seconds the stylizer waited for the sink to take a frame.
    pub waiting_for_output: f64,
    /// Seconds the prepare stage worked (off the stylizer's thread).
    pub prepare_seconds: f64,
}

impl Report {
    /// Whether it stopped before the input's end.
    pub fn stopped_early(&self) -> bool {
        self.ended != EndedBy::Input || self.input.interrupted
    }
}

/// What the stylize stage measured.
#[derive(Default)]
struct StylizeTimes {
    waiting_for_input: Duration,
    waiting_for_output: Duration,
}

/// Runs `source`'s frames through `stylize` into `sink`. The sink runs on this thread (a window
/// must), the other stages on their own. `stylize` may skip a frame by returning `None` (a paused
/// live view). The sink is finished unless it failed itself, so a render whose stylizer fails or
/// that is stopped keeps what was done; the first failure is returned, the sink's first (a full
/// disk or a closed pipe explains a stylizer that could not go on).
pub fn run<F>(
    source: &mut dyn FrameSource,
    stylize: F,
    sink: &mut dyn FrameSink,
    settings: &Settings,
) -> Result<Report>
where
    F: FnMut(Prepared) -> Result<Option<Stylized>> + Send,
{
    // A live view drops frames before the prepare stage and after the stylizer, never between
    // them: the motion is always from the frame stylized before.
    let (outer, inner) = match settings.schedule {
        Schedule::Ordered => (LinkKind::Queue(DEPTH), LinkKind::Queue(DEPTH)),
        Schedule::LatestWins => (LinkKind::Latest, LinkKind::Queue(0)),
    };
    let (to_prepare, from_source) = link(outer);
    let (to_stylize, from_prepare) = link(inner);
    let (to_sink, from_stylize) = link(outer);
    let stop = &settings.stop;
    let latest = settings.schedule == Schedule::LatestWins;
    source.stop_on(stop.clone());

    thread::scope(|scope| {
        let reader = spawn(scope, "source", || read(source, to_prepare, settings))?;
        let preparer = spawn(scope, "prepare", || {
            prepare::run(
                from_source,
                to_stylize,
                settings.flow.clone(),
                settings.flow_after.as_ref(),
                latest,
            )
        })?;
        let stylizer = spawn(scope, "stylize", || {
            stylize_stage(from_prepare, to_sink, stylize, stop)
        })?;

        let delivered = deliver(&from_stylize, sink, settings);
        if delivered.is_err() || settings.schedule == Schedule::LatestWins {
            stop.store(true, Ordering::SeqCst);
        }
        drop(from_stylize);
        let stylized = join(stylizer, "stylize");
        let prepared = join(preparer, "prepare");
        let read = join(reader, "source");
        let failed = stylized.is_err() || prepared.is_err() || read.is_err();
        let held = match &delivered {
            Ok(EndedBy::Input) if !failed => hold(sink, stop),
            _ => Ok(()),
        };
        // A sink that failed is not finished: a half-written output is dropped, not put in place.
        let ended = delivered?;
        sink.finish()?;
        held?;
        let times = stylized?;
        let prepare_seconds = prepared?;
        let (decoded, limit_reached, input) = read?;
        Ok(Report {
            ended: match ended {
                EndedBy::Input if limit_reached => EndedBy::Limit,
                other => other,
            },
            input,
            decoded,
            waiting_for_input: times.waiting_for_input.as_secs_f64(),
            waiting_for_output: times.waiting_for_output.as_secs_f64(),
            prepare_seconds,
        })
    })
}

/// Starts a stage on a named thread of `scope`.
fn spawn<'scope, 'env, T: Send + 'scope>(
    scope: &'scope thread::Scope<'scope, 'env>,
    name: &str,
    stage: impl FnOnce() -> Result<T> + Send + 'scope,
) -> Result<ScopedJoinHandle<'scope, Result<T>>> {
    Ok(thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, stage)?)
}

/// Waits for a stage and gives its result; a stage that panicked is an internal error.
fn join<T>(handle: ScopedJoinHandle<'_, Result<T>>, name: &str) -> Result<T> {
    handle
        .join()
        .map_err(|_| anyhow!("internal: the {name} thread panicked"))?
}

/// The source stage: reads until the end, the frame limit (a render's), `stop`, or a closed
/// link. Returns the frames read, whether the limit was reached and how reading ended.
fn read(
    source: &mut dyn FrameSource,
    out: Sender<Item<Captured>>,
    settings: &Settings,
) -> Result<(u64, bool, Ending)> {
    let ordered = settings.schedule == Schedule::Ordered;
    let mut frames = 0u64;
    while let Some(event) = source.next()? {
        let item = match event {
            Event::Video(frame) => {
                if ordered && settings.frames.is_some_and(|limit| frames >= limit) {
                    return Ok((frames, true, source.ending()));
                }
                frames += 1;
                Item::Frame(Captured {
                    frame,
                    at: Instant::now(),
                })
            }
            // A live view has no use for the sound.
            Event::Packet(_) if !ordered => continue,
            Event::Packet(packet) => Item::Packet(packet),
        };
        if settings.stop.load(Ordering::Relaxed) || !out.send(item) {
            break;
        }
    }
    Ok((frames, false, source.ending()))
}

/// The stylize stage: each prepared frame through `stylize`, packets passed by; ends with its
/// input, a closed output, or (after the frame in hand) `stop`.
fn stylize_stage<F>(
    input: Receiver<Item<Prepared>>,
    output: Sender<Item<Stylized>>,
    mut stylize: F,
    stop: &AtomicBool,
) -> Result<StylizeTimes>
where
    F: FnMut(Prepared) -> Result<Option<Stylized>>,
{
    let mut times = StylizeTimes::default();
    loop {
        let start = Instant::now();
        let Some(item) = input.recv() else {
            return Ok(times);
        };
        times.waiting_for_input += start.elapsed();
        let item = match item {
            Item::Frame(frame) => match stylize(frame)? {
                Some(stylized) => Item::Frame(stylized),
                None => continue,
            },
            Item::Packet(packet) => Item::Packet(packet),
        };
        let start = Instant::now();
        if !output.send(item) {
            return Ok(times);
        }
        times.waiting_for_output += start.elapsed();
        if stop.load(Ordering::Relaxed) {
            return Ok(times);
        }
    }
}

/// The sink's side, on this thread: frames and packets into `sink`, which is called idle while
/// none come. Returns why it ended.
fn deliver(
    input: &Receiver<Item<Stylized>>,
    sink: &mut dyn FrameSink,
    settings: &Settings,
) -> Result<EndedBy> {
    let latest = settings.schedule == Schedule::LatestWins;
    let mut delivered = 0;
    let mut asked = false;
    let stopped = |asked| match asked {
        true => EndedBy::Sink,
        false => EndedBy::Interrupt,
    };
    loop {
        let stopping = settings.stop.load(Ordering::Relaxed);
        if latest && stopping {
            return Ok(stopped(asked));
        }
        // A window waits a display frame in `idle`; once stopping, it is no longer asked.
        let wait = if sink.interactive() && !stopping {
            Duration::ZERO
        } else {
            IDLE
        };
        match input.recv_within(wait) {
            Received::Item(Item::Frame(frame)) => {
                sink.write(&frame)?;
                delivered += 1;
                if latest && settings.frames.is_some_and(|n| delivered >= n) {
                    return Ok(EndedBy::Limit);
                }
            }
            Received::Item(Item::Packet(packet)) => {
                sink.packet(packet)?;
                continue;
            }
            Received::Empty if stopping => continue,
            Received::Empty => {}
            Received::Closed if stopping => return Ok(stopped(asked)),
            Received::Closed => return Ok(EndedBy::Input),
        }
        if !stopping && sink.idle()? == Flow::Stop {
            asked = true;
            settings.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// After the input's end, keeps a sink that asks for it (a live window showing the last picture)
/// until it or `stop` says otherwise.
fn hold(sink: &mut dyn FrameSink, stop: &AtomicBool) -> Result<()> {
    let mut flow = sink.ended()?;
    while flow == Flow::Continue && !stop.load(Ordering::Relaxed) {
        flow = sink.idle()?;
        if !sink.interactive() {
            thread::sleep(IDLE);
        }
    }
    Ok(())
}
