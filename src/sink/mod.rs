//! Where stylized frames go: anything behind [`FrameSink`] — an encoder ([`Encoder`]), a folder of
//! numbered images ([`ImageSequence`]), either as a render's output ([`FileSink`]), the preview
//! window ([`Window`]) or none ([`Unshown`]: a live view timed, not shown), a recording
//! ([`Recorder`]) — or several at once ([`Tee`]). The pipeline only sees the trait.

mod encoder;
mod file;
mod images;
mod recorder;
mod shown;
pub mod window;

use anyhow::Result;

pub use encoder::Encoder;
pub use file::FileSink;
pub use images::ImageSequence;
pub use recorder::Recorder;
pub use shown::{ShownFrame, ShownLog, Unshown};
pub use window::Window;

use crate::media::InputPacket;
use crate::pipeline::Stylized;

/// Whether a sink wants the run to go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// A consumer of stylized frames, called on the pipeline's calling thread.
pub trait FrameSink {
    /// Takes the next stylized frame.
    fn write(&mut self, frame: &Stylized) -> Result<()>;

    /// Takes a packet of the input's other streams (the sound), in input order; dropped unless
    /// [`wants_packets`](Self::wants_packets).
    fn packet(&mut self, _packet: InputPacket) -> Result<()> {
        Ok(())
    }

    /// Whether [`packet`](Self::packet) keeps packets.
    fn wants_packets(&self) -> bool {
        false
    }

    /// Whether the sink must be called often while no frame comes (a window handles its keys
    /// and redraws in [`idle`](Self::idle), which waits a display frame).
    fn interactive(&self) -> bool {
        false
    }

    /// Called after each frame and while none come; [`Flow::Stop`] asks the run to stop (Esc in
    /// a window).
    fn idle(&mut self) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    /// Called when the input ended and every frame was written; [`Flow::Continue`] keeps the sink
    /// up, called idle, until it says stop (a live window showing the last picture).
    fn ended(&mut self) -> Result<Flow> {
        Ok(Flow::Stop)
    }

    /// Completes the output (a file's trailer); called once, at the end of every run.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Several sinks fed the same frames, in order.
pub struct Tee<'a>(pub Vec<&'a mut dyn FrameSink>);

impl FrameSink for Tee<'_> {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        self.0.iter_mut().try_for_each(|sink| sink.write(frame))
    }

    /// Packets go to the first sink that keeps them (there is one output file).
    fn packet(&mut self, packet: InputPacket) -> Result<()> {
        match self.0.iter_mut().find(|s| s.wants_packets()) {
            Some(sink) => sink.packet(packet),
            None => Ok(()),
        }
    }

    fn wants_packets(&self) -> bool {
        self.0.iter().any(|s| s.wants_packets())
    }

    fn interactive(&self) -> bool {
        self.0.iter().any(|s| s.interactive())
    }

    fn idle(&mut self) -> Result<Flow> {
        let mut flow = Flow::Continue;
        for sink in &mut self.0 {
            if sink.idle()? == Flow::Stop {
                flow = Flow::Stop;
            }
        }
        Ok(flow)
    }

    fn ended(&mut self) -> Result<Flow> {
        let mut flow = Flow::Stop;
        for sink in &mut self.0 {
            if sink.ended()? == Flow::Continue {
                flow = Flow::Continue;
            }
        }
        Ok(flow)
    }

    /// Finishes every sink, even after one failed; the first failure is returned.
    fn finish(&mut self) -> Result<()> {
        let results: Vec<Result<()>> = self.0.iter_mut().map(|s| s.finish()).collect();
        results.into_iter().collect()
    }
}
