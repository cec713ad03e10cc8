//! Demuxing and decoding: the loop behind [`Input::next_event`], which takes the frames the
//! decoder has ready first and otherwise feeds it, and the conversion of frames to RGB.

use std::os::raw::c_int;
use std::ptr;
use std::sync::atomic::Ordering;

use ffmpeg::ffi;
use ffmpeg::{color, format::Pixel, Rescale};
use ffmpeg_next as ffmpeg;

use super::{Event, Input, InputPacket, Stage};
use crate::media::error::describe;
use crate::media::scale::{is_jpeg_range, matrix_for, Conversion, Scaler};
use crate::media::{Error, Result, RgbFrame};

/// FFmpeg's "try again": the decoder wants a packet, or a device has no data yet.
const EAGAIN: ffmpeg::Error = ffmpeg::Error::Other { errno: ffi::EAGAIN };

/// Decoder errors in a row after which decoding is given up.
const MAX_FAILED_RECEIVES: u32 = 1000;

/// What asking the decoder for a frame gave.
enum Received {
    /// A frame in the range.
    Frame(RgbFrame),
    /// Nothing to return, but ask again: a frame outside the range, an error, or the end.
    Again,
    /// The decoder needs a packet.
    Hungry,
}

impl Input {
    /// The next decoded frame or packet of another stream, in input order; `None` at the end.
    ///
    /// Damaged input does not fail this: frames that decode are returned, and what was lost is
    /// counted in [`Input::ending`]. Errors are only for what stops all decoding (a frame that
    /// cannot be converted to RGB).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        while self.stage != Stage::Done {
            match self.receive()? {
                Received::Frame(frame) => return Ok(Some(Event::Video(frame))),
                Received::Again => {}
                Received::Hungry => {
                    if let Some(packet) = self.feed() {
                        return Ok(Some(Event::Packet(packet)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Asks the decoder for a frame.
    fn receive(&mut self) -> Result<Received> {
        match self.decoder.receive_frame(&mut self.decoded) {
            Ok(()) => {
                self.failed_receives = 0;
                Ok(match self.take_frame()? {
                    Some(frame) => Received::Frame(frame),
                    None => Received::Again,
                })
            }
            Err(EAGAIN) => Ok(Received::Hungry),
            Err(ffmpeg::Error::Eof) => {
                self.stage = Stage::Done;
                Ok(Received::Again)
            }
            Err(e) => {
                self.decode_error(e);
                self.failed_receives += 1;
                if self.failed_receives > MAX_FAILED_RECEIVES {
                    self.stage = Stage::Done;
                }
                Ok(Received::Again)
            }
        }
    }

    /// Feeds the hungry decoder one step: the packet it refused last, else the next packet
    /// read, else the end of the stream; once drained, it is done. A packet of another stream
    /// read on the way is returned, to be handed out.
    fn feed(&mut self) -> Option<InputPacket> {
        if matches!(self.stage, Stage::Draining | Stage::Done) {
            // The drained decoder asks for more: nothing more will come.
            self.stage = Stage::Done;
            return None;
        }
        if let Some(packet) = self.pending.take() {
            self.send(packet);
            return None;
        }
        if self.stage == Stage::Demuxed {
            if let Err(e) = self.decoder.send_eof() {
                tracing::debug!("flushing the decoder of {}: {e}", self.shown);
            }
            self.stage = Stage::Draining;
            return None;
        }
        let interrupted = self
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if interrupted {
            self.ending.interrupted = true;
            self.stage = Stage::Demuxed;
            return None;
        }
        let packet = self.read()?;
        let index = packet.stream();
        if index == self.video.index {
            self.send(packet);
            None
        } else if self.wanted.get(index).copied().unwrap_or(false) {
            let packet = self.shift_packet(index, packet)?;
            Some(InputPacket {
                stream: index,
                packet,
            })
        } else {
            None
        }
    }

    /// Reads the next packet; at the end, on an interruption or a read error, marks the input
    /// demuxed (and says why in the ending).
    fn read(&mut self) -> Option<ffmpeg::Packet> {
        match self.packet.read(&mut self.ctx) {
            Ok(()) => return Some(std::mem::replace(&mut self.packet, ffmpeg::Packet::empty())),
            Err(EAGAIN) => {
                std::thread::sleep(std::time::Duration::from_millis(2));
                return None;
            }
            Err(ffmpeg::Error::Eof) => {}
            Err(ffmpeg::Error::Exit) => self.ending.interrupted = true,
            Err(e) => self.ending.read_error = Some(describe(e)),
        }
        self.stage = Stage::Demuxed;
        None
    }

    /// Sends a video packet to the decoder, keeping it for later when the decoder is full.
    fn send(&mut self, packet: ffmpeg::Packet) {
        match self.decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(EAGAIN) => self.pending = Some(packet),
            Err(e) => self.decode_error(e),
        }
    }

    /// Counts a decoder error; the first is kept for the ending.
    fn decode_error(&mut self, e: ffmpeg::Error) {
        self.ending.decode_errors += 1;
        if self.ending.first_decode_error.is_none() {
            self.ending.first_decode_error = Some(describe(e));
        }
        tracing::debug!("decoding {}: {e}", self.shown);
    }

    /// Shifts another stream's packet to count from the start; drops it outside the range.
    fn shift_packet(&self, index: usize, mut packet: ffmpeg::Packet) -> Option<ffmpeg::Packet> {
        let offset = self.offsets[index];
        let pts = packet.pts().map(|t| t - offset);
        let dts = packet.dts().map(|t| t - offset);
        if let (Some(end), Some(t)) = (self.end, pts.or(dts)) {
            if t.rescale(self.time_bases[index], self.video.time_base) >= end {
                return None;
            }
        }
        if self.range_start && pts.or(dts).is_some_and(|t| t < 0) {
            // Before a requested start.
            return None;
        }
        packet.set_pts(pts);
        packet.set_dts(dts);
        packet.set_position(-1);
        Some(packet)
    }

    /// Converts the frame in `self.decoded`; `None` when it falls outside the range.
    fn take_frame(&mut self) -> Result<Option<RgbFrame>> {
        let offset = self.offsets[self.video.index];
        let pts = self.decoded.timestamp().map(|t| t - offset);
        if let Some(t) = pts {
            if self.range_start && t < 0 {
                return Ok(None);
            }
            if self.end.is_some_and(|end| t >= end) {
                self.stage = Stage::Done;
                return Ok(None);
            }
        }
        // SAFETY: a plain field of the decoded frame.
        let concealed = unsafe { (*self.decoded.as_ptr()).decode_error_flags } != 0;
        if self.decoded.is_corrupt() || concealed {
            self.ending.corrupt_frames += 1;
        }
        let data = self
            .convert_decoded()
            .map_err(|e| Error::Other(format!("cannot decode input {}: {e}", self.shown)))?;
        let (width, height) = self.size;
        let index = self.ending.frames;
        self.ending.frames += 1;
        Ok(Some(RgbFrame {
            width,
            height,
            data,
            pts,
            index,
        }))
    }

    /// The frame in `self.decoded` as packed RGB24 at the output size.
    fn convert_decoded(&mut self) -> Result<Vec<u8>> {
        let (width, height) = self.size;
        let src_format = self.decoded.format();
        let conversion = Conversion {
            src: (src_format, self.decoded.width(), self.decoded.height()),
            dst: (Pixel::RGB24, width, height),
            space: matrix_for(
                match self.decoded.color_space() {
                    color::Space::Unspecified => self.video.color_space,
                    space => space,
                },
                self.decoded.width(),
                self.decoded.height(),
            ),
            src_full: self.decoded.color_range() == color::Range::JPEG || is_jpeg_range(src_format),
            dst_full: true,
        };
        let scaler = Scaler::ensure(&mut self.scaler, conversion)?;
        let mut data = vec![0u8; width as usize * height as usize * 3];
        // SAFETY: the decoded frame's planes and line sizes describe a picture of its format and
        // size; `data` holds `height` rows of `3 * width` bytes.
        unsafe {
            let frame = &*self.decoded.as_ptr();
            let src = [
                frame.data[0] as *const u8,
                frame.data[1] as *const u8,
                frame.data[2] as *const u8,
                frame.data[3] as *const u8,
            ];
            let stride = [
                frame.linesize[0],
                frame.linesize[1],
                frame.linesize[2],
                frame.linesize[3],
            ];
            scaler.run(
                src,
                stride,
                [
                    data.as_mut_ptr(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                ],
                [3 * width as c_int, 0, 0, 0],
            )?;
        }
        Ok(data)
    }
}
