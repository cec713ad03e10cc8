//! The encoder sink: stylized frames scaled to the output's size and encoded, the input's other
//! streams muxed alongside.

use anyhow::{Context, Result};

use super::FrameSink;
use crate::media::{InputPacket, Output, Summary};
use crate::pipeline::Stylized;

/// Writes a video file or stream through an [`Output`].
pub struct Encoder {
    output: Option<Output>,
    size: (u32, u32),
    encoded_size: (u32, u32),
    summary: Option<Summary>,
}

impl Encoder {
    /// Frames go to `output`, scaled (bicubic) to its frame size.
    pub fn new(output: Output) -> Encoder {
        Encoder {
            size: output.frame_size(),
            encoded_size: output.encoded_size(),
            output: Some(output),
            summary: None,
        }
    }

    /// The size the frames are encoded at (see [`Output::encoded_size`]).
    pub fn encoded_size(&self) -> (u32, u32) {
        self.encoded_size
    }

    /// What was written, once finished.
    pub fn summary(&self) -> Option<&Summary> {
        self.summary.as_ref()
    }

    fn output(&mut self) -> Result<&mut Output> {
        self.output
            .as_mut()
            .context("internal: the output was already finished")
    }
}

impl FrameSink for Encoder {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        let (w, h) = self.size;
        let frame = frame.frame.clone().resized(w, h);
        Ok(self.output()?.write_video(&frame)?)
    }

    fn packet(&mut self, packet: InputPacket) -> Result<()> {
        Ok(self.output()?.write_packet(packet)?)
    }

    fn wants_packets(&self) -> bool {
        true
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(output) = self.output.take() {
            self.summary = Some(output.finish()?);
        }
        Ok(())
    }
}
