//! The prepare stage: each frame to the stylizer's tensor and, when asked, the optical flow from
//! the frame before it (on the luma of the content frames), off the stylizer's thread.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::link::{Receiver, Sender};
use super::{Captured, Item, Prepared};
use crate::media::RgbFrame;
use crate::temporal::{FlowParams, MotionTracker};

/// Prepares what comes from `input` until it ends or `output` is closed; returns the seconds it
/// worked. With `after` (a resumed render's last content frame done), the first frame's motion
/// is from it.
pub(super) fn run(
    input: Receiver<Item<Captured>>,
    output: Sender<Item<Prepared>>,
    flow: Option<FlowParams>,
    after: Option<&RgbFrame>,
) -> Result<f64> {
    let mut busy = Duration::ZERO;
    let mut tracker = flow.map(MotionTracker::new);
    if let (Some(tracker), Some(frame)) = (tracker.as_mut(), after) {
        tracker.resume_after(frame.to_tensor()?.view())?;
    }
    while let Some(item) = input.recv() {
        let start = Instant::now();
        let item = match item {
            Item::Frame(captured) => {
                let content = captured.frame.to_tensor()?;
                let motion = match tracker.as_mut() {
                    Some(tracker) => tracker.next(content.view())?,
                    None => None,
                };
                Item::Frame(Prepared {
                    frame: captured.frame,
                    content,
                    motion,
                    captured: captured.at,
                })
            }
            Item::Packet(packet) => Item::Packet(packet),
        };
        busy += start.elapsed();
        if !output.send(item) {
            break;
        }
    }
    Ok(busy.as_secs_f64())
}
