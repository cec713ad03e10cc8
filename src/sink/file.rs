//! The output file of a render: a video (or stream) through the encoder, a video file written
//! resumably in segments, or numbered pictures when the name holds a frame number
//! (`frames/%06d.png`).

use anyhow::Result;

use super::{Encoder, FrameSink, ImageSequence};
use crate::media::{InputPacket, Output};
use crate::pipeline::Stylized;
use crate::render::Segments;

/// A render's output.
pub enum FileSink<'a> {
    Video(Box<Encoder>),
    Segments(Box<Segments<'a>>),
    Images(ImageSequence),
}

impl FileSink<'_> {
    /// Numbered pictures of `size` when `path` is a pattern, else the video `create` opens.
    pub fn create(
        path: &str,
        size: (u32, u32),
        create: impl FnOnce() -> Result<Output>,
    ) -> Result<FileSink<'static>> {
        Ok(if ImageSequence::is_pattern(path) {
            FileSink::Images(ImageSequence::new(path, size)?)
        } else {
            FileSink::Video(Box::new(Encoder::new(create()?)))
        })
    }

    /// Frames written (a video's once finished).
    pub fn written(&self) -> u64 {
        match self {
            FileSink::Video(encoder) => encoder.summary().map_or(0, |s| s.frames),
            FileSink::Segments(segments) => segments.checkpoint().frames,
            FileSink::Images(images) => images.written(),
        }
    }

    /// The size the frames are written at.
    pub fn size(&self) -> (u32, u32) {
        match self {
            FileSink::Video(encoder) => encoder.encoded_size(),
            FileSink::Segments(segments) => segments.checkpoint().encoded_size,
            FileSink::Images(images) => images.size(),
        }
    }

    fn inner(&mut self) -> &mut dyn FrameSink {
        match self {
            FileSink::Video(encoder) => encoder.as_mut(),
            FileSink::Segments(segments) => segments.as_mut(),
            FileSink::Images(images) => images,
        }
    }
}

impl FrameSink for FileSink<'_> {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        self.inner().write(frame)
    }

    fn packet(&mut self, packet: InputPacket) -> Result<()> {
        self.inner().packet(packet)
    }

    fn wants_packets(&self) -> bool {
        !matches!(self, FileSink::Images(_))
    }

    fn finish(&mut self) -> Result<()> {
        self.inner().finish()
    }
}
