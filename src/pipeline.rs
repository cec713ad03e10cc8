//! The video pipeline: stages on threads joined by bounded channels, data flowing one way.
//!
//! ```text
//! decode thread ──(frames at processing size, other streams' packets)──▶ prepare thread
//!     (tensor; optical flow from the previous frame) ──▶ stylize (calling thread)
//!     ──(stylized tensors, packets, in input order)──▶ encode thread (upscale, convert, mux)
//! ```
//! The channels are short, so memory stays flat however long the video is, and decoding, the
//! optical flow and encoding overlap with the optimization. Frames and packets keep their input
//! order end to end.
//!
//! The live wiring ([`live`]) joins the same kind of stages with latest-frame-wins mailboxes
//! ([`handoff`]) instead, for sources that do not wait.

pub mod handoff;
pub mod live;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use crossbeam::channel::{bounded, Receiver, Sender};
use image::imageops::FilterType;
use ndarray::Array4;

use crate::media::{Ending, Event, Input, InputPacket, Output, RgbFrame, Summary};
use crate::picture;
use crate::temporal::{FlowParams, Motion, MotionTracker};

/// How many items each channel holds.
const DEPTH: usize = 4;

/// A stylized frame on its way to the encoder, at processing size.
pub struct Stylized {
    /// 1×3×h×w, RGB in [0, 1].
    pub image: Array4<f32>,
    /// The input frame's timestamp.
    pub pts: Option<i64>,
    /// The input frame's number.
    pub index: u64,
}

/// A decoded frame made ready for the stylizer.
pub struct ContentFrame {
    /// 1×3×h×w, RGB in [0, 1], at processing size.
    pub image: Array4<f32>,
    /// The motion from the previous frame to this one (when asked for, and not the first frame).
    pub motion: Option<Motion>,
    /// The input frame's timestamp.
    pub pts: Option<i64>,
    /// The input frame's number.
    pub index: u64,
}

enum ToStylizer {
    Frame(ContentFrame),
    Packet(InputPacket),
}

enum ToEncoder {
    Frame(Stylized),
    Packet(InputPacket),
}

/// How a pipeline run ended.
pub struct Report {
    /// The encoder's summary (frames written, duration).
    pub summary: Summary,
    /// How decoding ended.
    pub ending: Ending,
    /// Whether the run stopped early on its own (`--frames` reached) or by interruption.
    pub stopped_early: bool,
    /// Seconds the stylize stage waited for decoded frames.
    pub waiting_for_input: f64,
    /// Seconds the stylize stage waited for the encoder to take a frame.
    pub waiting_for_output: f64,
    /// Seconds the prepare stage spent on conversion and optical flow (off the stylize thread).
    pub prepare_seconds: f64,
}

/// Runs `input` through `stylize` into `output`: at most `frame_limit` frames, stopping after the
/// current frame once `interrupt` is set. `keep_packets` forwards the other streams' packets;
/// `flow` computes the motion between consecutive frames with these parameters.
pub fn run(
    mut input: Input,
    mut output: Output,
    interrupt: Arc<AtomicBool>,
    frame_limit: Option<u64>,
    keep_packets: bool,
    flow: Option<FlowParams>,
    mut stylize: impl FnMut(ContentFrame) -> Result<Stylized>,
) -> Result<Report> {
    let (to_preparer, from_decoder) = bounded::<Event>(DEPTH);
    let (to_stylizer, from_preparer) = bounded::<ToStylizer>(DEPTH);
    let (to_encoder, from_stylizer) = bounded::<ToEncoder>(DEPTH);
    let (out_w, out_h) = output.frame_size();
    input.set_interrupt(interrupt.clone());

    let decoder = thread::Builder::new()
        .name("decode".into())
        .spawn(move || decode(input, to_preparer, frame_limit, keep_packets))?;
    let preparer = thread::Builder::new()
        .name("prepare".into())
        .spawn(move || prepare(from_decoder, to_stylizer, flow))?;
    let encoder =
        thread::Builder::new()
            .name("encode".into())
            .spawn(move || -> Result<Summary> {
                for item in from_stylizer {
                    match item {
                        ToEncoder::Frame(frame) => {
                            output.write_video(&upscale(frame, out_w, out_h)?)?
                        }
                        ToEncoder::Packet(packet) => output.write_packet(packet)?,
                    }
                }
                Ok(output.finish()?)
            })?;

    let mut waiting_for_input = Duration::ZERO;
    let mut waiting_for_output = Duration::ZERO;
    let stylized = (|| -> Result<()> {
        loop {
            let start = Instant::now();
            let Ok(event) = from_preparer.recv() else {
                return Ok(());
            };
            waiting_for_input += start.elapsed();
            let item = match event {
                ToStylizer::Frame(frame) => ToEncoder::Frame(stylize(frame)?),
                ToStylizer::Packet(packet) => ToEncoder::Packet(packet),
            };
            let start = Instant::now();
            if to_encoder.send(item).is_err() {
                return Ok(()); // the encoder stopped; its error says why
            }
            waiting_for_output += start.elapsed();
            if interrupt.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
    })();
    drop(to_encoder);
    drop(from_preparer);
    let summary = encoder
        .join()
        .map_err(|_| anyhow!("internal: the encoder thread panicked"))?;
    let prepared = preparer
        .join()
        .map_err(|_| anyhow!("internal: the prepare thread panicked"))?;
    let decoded = decoder
        .join()
        .map_err(|_| anyhow!("internal: the decoder thread panicked"))?;
    // The encoder's failure (a closed pipe, a full disk) explains a stylizer that stopped sending.
    let summary = summary?;
    stylized?;
    let prepare_seconds = prepared?;
    let (ending, limit_reached) = decoded?;
    Ok(Report {
        summary,
        stopped_early: limit_reached || ending.interrupted || interrupt.load(Ordering::Relaxed),
        ending,
        waiting_for_input: waiting_for_input.as_secs_f64(),
        waiting_for_output: waiting_for_output.as_secs_f64(),
        prepare_seconds,
    })
}

/// The decode stage: reads until the end, the frame limit, or a closed channel.
fn decode(
    mut input: Input,
    out: Sender<Event>,
    frame_limit: Option<u64>,
    keep_packets: bool,
) -> Result<(Ending, bool)> {
    let mut frames = 0u64;
    let mut limit_reached = false;
    while let Some(event) = input.next_event()? {
        if let Event::Video(_) = &event {
            if frame_limit.is_some_and(|limit| frames >= limit) {
                limit_reached = true;
                break;
            }
            frames += 1;
        } else if !keep_packets {
            continue;
        }
        if out.send(event).is_err() {
            break;
        }
    }
    Ok((input.ending().clone(), limit_reached))
}

/// The prepare stage: each frame to a tensor and, with `flow`, the motion from the frame before it
/// (on the luma of the content frames). Returns the seconds it worked.
fn prepare(
    from_decoder: Receiver<Event>,
    out: Sender<ToStylizer>,
    flow: Option<FlowParams>,
) -> Result<f64> {
    let mut busy = Duration::ZERO;
    let mut tracker = flow.map(MotionTracker::new);
    for event in from_decoder {
        let start = Instant::now();
        let item = match event {
            Event::Video(frame) => {
                let image = frame.to_tensor()?;
                let motion = match tracker.as_mut() {
                    Some(tracker) => tracker.next(image.view())?,
                    None => None,
                };
                ToStylizer::Frame(ContentFrame {
                    image,
                    motion,
                    pts: frame.pts,
                    index: frame.index,
                })
            }
            Event::Packet(packet) => ToStylizer::Packet(packet),
        };
        busy += start.elapsed();
        if out.send(item).is_err() {
            break;
        }
    }
    Ok(busy.as_secs_f64())
}

/// The encoder's frame: the stylized tensor as RGB, resized (bicubic) to the output size.
fn upscale(frame: Stylized, width: u32, height: u32) -> Result<RgbFrame> {
    let mut rgb = picture::from_tensor(frame.image.view())?;
    if rgb.dimensions() != (width, height) {
        rgb = image::imageops::resize(&rgb, width, height, FilterType::CatmullRom);
    }
    Ok(RgbFrame::new(
        width,
        height,
        rgb.into_raw(),
        frame.pts,
        frame.index,
    )?)
}
