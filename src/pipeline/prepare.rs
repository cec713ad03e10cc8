//! The prepare stage: each frame to the stylizer's tensor and, when asked, the optical flow from
//! the frame before it (on the luma of the content frames), off the stylizer's thread.
//!
//! In a live view every prepared frame is handed straight to the stylizer, and the stage times its
//! work to the stylizer's pace ([`Pacer`]): it takes the newest frame from the source just long
//! enough before the stylizer will want it to prepare it, so that the frame does not age while
//! the stylizer finishes the one before.

use std::collections::VecDeque;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::link::{Receiver, Sender};
use super::{Captured, Item, Prepared};
use crate::media::RgbFrame;
use crate::temporal::{FlowParams, MotionTracker};

/// Prepares what comes from `input` until it ends or `output` is closed; with `paced`, in time
/// with the stylizer. With `after` (a resumed render's last content frame done), the first
/// frame's motion is from it. Returns the seconds it worked.
pub(super) fn run(
    input: Receiver<Item<Captured>>,
    output: Sender<Item<Prepared>>,
    flow: Option<FlowParams>,
    after: Option<&RgbFrame>,
    paced: bool,
) -> Result<f64> {
    let mut busy = Duration::ZERO;
    let mut tracker = flow.map(MotionTracker::new);
    if let (Some(tracker), Some(frame)) = (tracker.as_mut(), after) {
        tracker.resume_after(frame.to_tensor()?.view())?;
    }
    let mut pacer = Pacer::default();
    loop {
        if paced {
            pacer.wait();
        }
        let Some(item) = input.recv() else { break };
        let start = Instant::now();
        let item = match item {
            Item::Frame(captured) => Item::Frame(prepare(captured, tracker.as_mut())?),
            Item::Packet(packet) => Item::Packet(packet),
        };
        let took = start.elapsed();
        busy += took;
        if !output.send(item) {
            break;
        }
        pacer.handed_over(Instant::now(), took);
    }
    Ok(busy.as_secs_f64())
}

/// A frame's tensor and its motion from the frame prepared before.
fn prepare(captured: Captured, tracker: Option<&mut MotionTracker>) -> Result<Prepared> {
    let content = captured.frame.to_tensor()?;
    let motion = match tracker {
        Some(tracker) => tracker.next(content.view())?,
        None => None,
    };
    Ok(Prepared {
        frame: captured.frame,
        content,
        motion,
        captured: captured.at,
    })
}

/// When to start preparing the next frame: the stylizer takes one every period (the shortest of
/// the last few, so that a slow first frame or a slower setting does not make it wait), and a
/// preparation takes about as long as the last one.
#[derive(Default)]
struct Pacer {
    /// When the last frame was handed over.
    last: Option<Instant>,
    /// The last few intervals between handovers.
    intervals: VecDeque<Duration>,
    /// How long the last preparation took.
    preparing: Duration,
}

impl Pacer {
    /// How many intervals the period is the shortest of.
    const KEPT: usize = 3;
    /// How much earlier than due a preparation starts, beyond its expected length.
    const MARGIN: Duration = Duration::from_millis(3);

    /// Sleeps until the next preparation is due.
    fn wait(&self) {
        if let Some(due) = self.due() {
            thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// When the next preparation is due; `None` (at once) until two intervals are known.
    fn due(&self) -> Option<Instant> {
        let period = *self.intervals.iter().min()?;
        if self.intervals.len() < 2 {
            return None;
        }
        let lead = self.preparing + self.preparing / 2 + Self::MARGIN;
        (self.last? + period).checked_sub(lead)
    }

    /// Notes that the stylizer took, at `now`, a frame whose preparation took `took`.
    fn handed_over(&mut self, now: Instant, took: Duration) {
        if let Some(last) = self.last {
            if self.intervals.len() == Self::KEPT {
                self.intervals.pop_front();
            }
            self.intervals.push_back(now - last);
        }
        self.last = Some(now);
        self.preparing = took;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_starts_a_preparation_just_before_the_stylizer_is_due() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut pacer = Pacer::default();
        assert_eq!(pacer.due(), None);
        // A slow first frame, then two warm ones 60 ms apart, each prepared in 4 ms.
        pacer.handed_over(t0, ms(4));
        pacer.handed_over(t0 + ms(2000), ms(4));
        assert_eq!(pacer.due(), None, "one interval is no pace yet");
        pacer.handed_over(t0 + ms(2060), ms(4));
        // Due 60 ms after the last handover, less the preparation (4 ms and half again) and 3 ms.
        assert_eq!(pacer.due(), Some(t0 + ms(2060 + 60 - 6 - 3)));
        // The shortest of the last three intervals: a faster stylizer is followed at once.
        pacer.handed_over(t0 + ms(2090), ms(4));
        assert_eq!(pacer.due(), Some(t0 + ms(2090 + 30 - 9)));
    }
}
