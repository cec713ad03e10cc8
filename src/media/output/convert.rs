//! Converting RGB frames to the encoder's pixel format (YUV, mostly) with the output's colour
//! matrix and range.

use std::os::raw::c_int;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;

use super::Output;
use crate::media::scale::{Conversion, Scaler};
use crate::media::{Error, Result, RgbFrame};

impl Output {
    /// Converts `frame` (RGB24 at the frame size, already checked) into the picture to encode:
    /// the encoder's pixel format at the encoded size, the last column/row cropped when that is
    /// smaller.
    pub(super) fn convert(&mut self, frame: &RgbFrame) -> Result<()> {
        let width = self.settings.width;
        let (ew, eh) = self.encoded_size;
        let conversion = Conversion {
            src: (Pixel::RGB24, ew, eh),
            dst: (self.pixel_format, ew, eh),
            space: self.space,
            src_full: true,
            dst_full: self.full_range,
        };
        let scaler = Scaler::ensure(&mut self.scaler, conversion)?;
        // SAFETY: make_writable gives the picture buffers of its own (the encoder may still hold
        // the previous ones); the RGB source has `eh` rows of at least `3 * ew` bytes at a stride
        // of `3 * width` (cropping the last column/row when the encoded size is smaller).
        unsafe {
            let made = ffi::av_frame_make_writable(self.picture.as_mut_ptr());
            if made < 0 {
                return Err(Error::ffmpeg(
                    format!("cannot write {}", self.shown),
                    ffmpeg::Error::from(made),
                ));
            }
            let pic = &*self.picture.as_ptr();
            scaler.run(
                [frame.data.as_ptr(), ptr::null(), ptr::null(), ptr::null()],
                [3 * width as c_int, 0, 0, 0],
                [pic.data[0], pic.data[1], pic.data[2], pic.data[3]],
                [
                    pic.linesize[0],
                    pic.linesize[1],
                    pic.linesize[2],
                    pic.linesize[3],
                ],
            )?;
        }
        Ok(())
    }
}
