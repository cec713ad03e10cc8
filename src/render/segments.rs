//! The sink of a resumable render: the video written as a run of short, closed files (segments)
//! in the work folder, each followed by a checkpoint of what it holds and of the state after its
//! last frame.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ndarray::Array4;

use super::checkpoint::{self, Checkpoint};
use crate::media::{InputPacket, Output, RgbFrame};
use crate::pipeline::Stylized;
use crate::sink::FrameSink;

/// A segment holds this many seconds of video (each new segment restarts the encoder: a keyframe,
/// and memory the allocator may not give back)…
const SEGMENT_SECONDS: f64 = 10.0;
/// …unless its frames took this long to make: a kill loses at most the open segment, so at most
/// a minute of work however slow the frames.
const SEGMENT_WORK: Duration = Duration::from_secs(60);

/// Makes the output of one segment, given its path.
pub type Create<'a> = Box<dyn FnMut(&str) -> Result<Output> + 'a>;

/// Writes a render's frames and packets into segments in `dir`, keeping its checkpoint.
pub struct Segments<'a> {
    dir: PathBuf,
    extension: String,
    create: Create<'a>,
    checkpoint: Checkpoint,
    /// The frames' size in the output.
    size: (u32, u32),
    frames_per_segment: u64,
    /// Frames a second, when known.
    frame_rate: Option<f64>,
    open: Option<Open>,
    /// Packets that came before the first frame.
    pending: Vec<InputPacket>,
    /// The last segment of an interrupted render, holding its frame cut short: joined into the
    /// output, never into the checkpoint (a resumed render makes that frame again).
    tail: Option<String>,
    failed: bool,
}

/// The segment being written.
struct Open {
    output: Output,
    /// Its file name.
    name: String,
    frames: u64,
    /// Packets since its last frame.
    trailing: u64,
    started: Instant,
    /// Whether it is the tail (see [`Segments::tail`]).
    tail: bool,
    /// The full-precision stylized frame and the content frame of its last frame.
    last: Option<(Array4<f32>, RgbFrame)>,
}

impl<'a> Segments<'a> {
    /// Segments of `size` frames at `frame_rate` (frames a second, when known) in `dir`, named
    /// with `extension` (the output's, so that they take its container), after what `checkpoint`
    /// holds; `create` makes each one's output.
    pub fn new(
        dir: &Path,
        extension: &str,
        checkpoint: Checkpoint,
        size: (u32, u32),
        frame_rate: Option<f64>,
        create: Create<'a>,
    ) -> Result<Segments<'a>> {
        let frames_per_segment = frame_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map_or(50, |r| (r * SEGMENT_SECONDS).round().max(1.0) as u64);
        let mut segments = Segments {
            dir: dir.to_path_buf(),
            extension: extension.to_string(),
            create,
            checkpoint,
            size,
            frames_per_segment,
            frame_rate,
            open: None,
            pending: Vec::new(),
            tail: None,
            failed: false,
        };
        // Opened now, so that the output's settings are checked before any work.
        if let Err(e) = segments.start(false) {
            if segments.checkpoint.frames == 0 {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
        Ok(segments)
    }

    /// The checkpoint as it stands (final once finished).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Frames a second, when known.
    pub fn frame_rate(&self) -> Option<f64> {
        self.frame_rate
    }

    /// The finished segments' paths, in order, the tail's last.
    pub fn paths(&self) -> Vec<PathBuf> {
        let names = self.checkpoint.segments.iter().chain(&self.tail);
        names.map(|name| self.dir.join(name)).collect()
    }

    /// Writes a frame; one without its state (cut short by Ctrl-C) goes into the tail.
    fn write_frame(&mut self, frame: &Stylized) -> Result<()> {
        let cut_short = frame.state.is_none();
        if let Some(open) = self.open.as_mut().filter(|o| o.frames == 0) {
            open.tail |= cut_short;
        } else if self.open.as_ref().is_some_and(|o| {
            cut_short || o.frames >= self.frames_per_segment || o.started.elapsed() >= SEGMENT_WORK
        }) {
            self.close()?;
        }
        let (w, h) = self.size;
        let open = match &mut self.open {
            Some(open) => open,
            None => self.start(cut_short)?,
        };
        open.output
            .write_video(&frame.frame.clone().resized(w, h))?;
        open.frames += 1;
        open.trailing = 0;
        open.last = frame.state.clone().map(|s| (s, frame.original.clone()));
        Ok(())
    }

    fn write_packet(&mut self, packet: InputPacket) -> Result<()> {
        match &mut self.open {
            Some(open) => {
                open.output.write_packet(packet)?;
                open.trailing += 1;
            }
            None => self.pending.push(packet),
        }
        Ok(())
    }

    /// Opens the next segment (or the tail), with the packets that came before it.
    fn start(&mut self, tail: bool) -> Result<&mut Open> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create '{}'", self.dir.display()))?;
        let name = self.name(tail);
        let path = self.dir.join(&name);
        let mut output = (self.create)(&path.to_string_lossy())?;
        self.checkpoint.encoded_size = output.encoded_size();
        for packet in self.pending.drain(..) {
            output.write_packet(packet)?;
        }
        Ok(self.open.insert(Open {
            output,
            name,
            frames: 0,
            trailing: 0,
            started: Instant::now(),
            tail,
            last: None,
        }))
    }

    /// The file name of the next segment, or of the tail.
    fn name(&self, tail: bool) -> String {
        match tail {
            true => format!("tail.{}", self.extension),
            false => {
                let number = self.checkpoint.segments.len() + 1;
                format!("segment-{number:06}.{}", self.extension)
            }
        }
    }

    /// Finishes the open segment, saves the state after its last frame and then the checkpoint
    /// naming both; the previous state's files go.
    fn close(&mut self) -> Result<()> {
        // A segment without frames (a render that wrote none) is dropped, and so removed.
        let Some(open) = self.open.take().filter(|o| o.frames > 0) else {
            return Ok(());
        };
        let number = self.checkpoint.segments.len() + 1;
        let name = open.name;
        open.output.finish()?;
        if open.tail {
            self.tail = Some(name);
            return Ok(());
        }
        let previous = self.checkpoint.state.take();
        if let Some((stylized, content)) = &open.last {
            self.checkpoint.state = Some(checkpoint::save_state(
                &self.dir, number, stylized, content,
            )?);
        }
        self.checkpoint.frames += open.frames;
        self.checkpoint.trailing_packets = open.trailing;
        self.checkpoint.segments.push(name);
        self.checkpoint.save(&self.dir)?;
        if let Some(old) = previous {
            for file in [old.stylized, old.content] {
                let _ = std::fs::remove_file(self.dir.join(file));
            }
        }
        Ok(())
    }

    /// Notes a failure: what is open is not finished.
    fn failing<T>(&mut self, result: Result<T>) -> Result<T> {
        self.failed |= result.is_err();
        result
    }
}

impl FrameSink for Segments<'_> {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        let written = self.write_frame(frame);
        self.failing(written)
    }

    fn packet(&mut self, packet: InputPacket) -> Result<()> {
        let written = self.write_packet(packet);
        self.failing(written)
    }

    fn wants_packets(&self) -> bool {
        true
    }

    /// Closes the open segment into the checkpoint; after a failure (a full disk) it is left out,
    /// and the checkpoint stays at the last segment finished.
    fn finish(&mut self) -> Result<()> {
        if self.failed {
            self.open = None;
            return Ok(());
        }
        let closed = self.close();
        self.failing(closed)
    }
}
