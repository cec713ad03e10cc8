//! The prepare stage: each frame to the stylizer's tensor and, when asked, the optical flow from
//! the frame before it (on the luma of the content frames), off the stylizer's thread.
//!
//! In a live view the stage hands each prepared frame straight to the stylizer. While the
//! stylizer is still busy, a newer frame from the source replaces the prepared one (measured
//! again from the last frame handed over), so what the stylizer takes is never older than one
//! preparation.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::link::{NotSent, Received, Receiver, Sender};
use super::{Captured, Item, Prepared};
use crate::temporal::{FlowParams, MotionTracker};

/// How often a live view's prepare stage looks for a newer frame while the stylizer is busy.
const RECHECK: Duration = Duration::from_millis(5);

/// Prepares what comes from `input` until it ends or `output` is closed; with `latest`, replaces
/// a prepared frame the stylizer has not taken by a newer one. Returns the seconds it worked.
pub(super) fn run(
    input: Receiver<Item<Captured>>,
    output: Sender<Item<Prepared>>,
    flow: Option<FlowParams>,
    latest: bool,
) -> Result<f64> {
    let mut busy = Duration::ZERO;
    let mut tracker = flow.map(MotionTracker::new);
    let mut timed = |item, tracker: Option<&MotionTracker>| {
        let start = Instant::now();
        let prepared = prepare(item, tracker);
        busy += start.elapsed();
        prepared
    };
    while let Some(item) = input.recv() {
        let (mut item, mut luma) = timed(item, tracker.as_ref())?;
        if latest {
            loop {
                match output.send_within(item, RECHECK) {
                    Ok(()) => break,
                    Err(NotSent::Closed) => return Ok(busy.as_secs_f64()),
                    Err(NotSent::Timeout(unsent)) => match input.recv_within(Duration::ZERO) {
                        Received::Item(newer) => (item, luma) = timed(newer, tracker.as_ref())?,
                        Received::Empty | Received::Closed => item = unsent,
                    },
                }
            }
        } else if !output.send(item) {
            break;
        }
        if let (Some(tracker), Some(luma)) = (tracker.as_mut(), luma) {
            tracker.keep(luma);
        }
    }
    Ok(busy.as_secs_f64())
}

/// One item made ready: a frame's tensor and its motion from the tracker's previous frame (with
/// the frame's luma, to keep once it is handed over); a packet as it is.
fn prepare(
    item: Item<Captured>,
    tracker: Option<&MotionTracker>,
) -> Result<(Item<Prepared>, Option<ndarray::Array2<f32>>)> {
    let captured = match item {
        Item::Frame(captured) => captured,
        Item::Packet(packet) => return Ok((Item::Packet(packet), None)),
    };
    let content = captured.frame.to_tensor()?;
    let (motion, luma) = match tracker {
        Some(tracker) => {
            let (motion, luma) = tracker.measure(content.view())?;
            (motion, Some(luma))
        }
        None => (None, None),
    };
    let prepared = Prepared {
        frame: captured.frame,
        content,
        motion,
        captured: captured.at,
    };
    Ok((Item::Frame(prepared), luma))
}
