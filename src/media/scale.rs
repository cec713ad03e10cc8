//! Pixel-format conversion and resizing with libswscale, with the YUV matrix (BT.601, BT.709, …)
//! and range (limited or full) set explicitly on the YUV side, so colours survive a round trip.

use std::os::raw::c_int;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg::{color, format::Pixel};
use ffmpeg_next as ffmpeg;

use super::{Error, Result};

/// What a conversion is between: formats, sizes, and the colour matrix and ranges of YUV sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conversion {
    pub src: (Pixel, u32, u32),
    pub dst: (Pixel, u32, u32),
    /// The YUV matrix (of whichever side is YUV).
    pub space: color::Space,
    /// Whether the source, if YUV, is full range (0–255) rather than limited (16–235).
    pub src_full: bool,
    /// Whether the destination, if YUV, is full range.
    pub dst_full: bool,
}

/// A libswscale context for one [`Conversion`], rebuilt by [`Scaler::ensure`] when it changes.
pub(crate) struct Scaler {
    ctx: *mut ffi::SwsContext,
    conversion: Conversion,
}

// SAFETY: the context is owned by this value alone and libswscale keeps no thread-local state
// for it; moving it to another thread is safe (it is never shared: no `Sync`).
unsafe impl Send for Scaler {}

impl Scaler {
    /// The scaler in `slot`, made anew when `conversion` differs from the one it was made for.
    pub fn ensure(slot: &mut Option<Scaler>, conversion: Conversion) -> Result<&mut Scaler> {
        if slot.as_ref().map(|s| s.conversion) != Some(conversion) {
            *slot = None;
            *slot = Some(Scaler::new(conversion)?);
        }
        match slot {
            Some(scaler) => Ok(scaler),
            None => Err(Error::Other(
                "internal error: no pixel-format converter".into(),
            )),
        }
    }

    fn new(conversion: Conversion) -> Result<Scaler> {
        let Conversion { src, dst, .. } = conversion;
        let resizing = (src.1, src.2) != (dst.1, dst.2);
        // Lanczos when the size changes; otherwise bicubic chroma interpolation only. Accurate
        // rounding and full horizontal chroma resolution cost little at these sizes.
        let flags = if resizing {
            ffi::SWS_LANCZOS
        } else {
            ffi::SWS_BICUBIC
        } | ffi::SWS_ACCURATE_RND
            | ffi::SWS_FULL_CHR_H_INT
            | ffi::SWS_FULL_CHR_H_INP;
        // SAFETY: plain values in; a null return is handled.
        let ctx = unsafe {
            ffi::sws_getContext(
                src.1 as c_int,
                src.2 as c_int,
                src.0.into(),
                dst.1 as c_int,
                dst.2 as c_int,
                dst.0.into(),
                flags,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if ctx.is_null() {
            return Err(Error::Other(format!(
                "FFmpeg cannot convert {:?} {}x{} pictures to {:?} {}x{}",
                src.0, src.1, src.2, dst.0, dst.1, dst.2
            )));
        }
        let matrix = sws_matrix(conversion.space);
        // SAFETY: `ctx` is valid; the tables are static ones returned by libswscale. The call
        // fails (harmlessly) when neither side is YUV, which is why its result is ignored.
        unsafe {
            let table = ffi::sws_getCoefficients(matrix);
            ffi::sws_setColorspaceDetails(
                ctx,
                table,
                c_int::from(conversion.src_full),
                table,
                c_int::from(conversion.dst_full),
                0,
                1 << 16,
                1 << 16,
            );
        }
        Ok(Scaler { ctx, conversion })
    }

    /// Converts a whole picture.
    ///
    /// # Safety
    /// `src`/`dst` must point at planes laid out for the conversion's formats and sizes with the
    /// given line sizes (unused planes may be null).
    pub unsafe fn run(
        &mut self,
        src: [*const u8; 4],
        src_stride: [c_int; 4],
        dst: [*mut u8; 4],
        dst_stride: [c_int; 4],
    ) -> Result<()> {
        // SAFETY: upheld by the caller.
        let rows = unsafe {
            ffi::sws_scale(
                self.ctx,
                src.as_ptr(),
                src_stride.as_ptr(),
                0,
                self.conversion.src.2 as c_int,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows <= 0 {
            return Err(Error::Other(format!(
                "FFmpeg could not convert a picture ({rows})"
            )));
        }
        Ok(())
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from sws_getContext and is freed once.
        unsafe { ffi::sws_freeContext(self.ctx) }
    }
}

/// libswscale's matrix number for a colour space (the same numbers as FFmpeg's colour spaces;
/// unknown and RGB ones fall back to BT.601, as FFmpeg's decoders assume for untagged video).
fn sws_matrix(space: color::Space) -> c_int {
    match space {
        color::Space::BT709 => ffi::SWS_CS_ITU709,
        color::Space::FCC => ffi::SWS_CS_FCC,
        color::Space::SMPTE240M => ffi::SWS_CS_SMPTE240M,
        color::Space::BT2020NCL | color::Space::BT2020CL => ffi::SWS_CS_BT2020,
        _ => ffi::SWS_CS_ITU601,
    }
}

/// The YUV matrix for a colour-space tag: the tag itself or, for untagged video, the one players
/// assume: BT.709 from 1280×720 up, BT.601 (SMPTE 170M) below.
pub(crate) fn matrix_for(space: color::Space, width: u32, height: u32) -> color::Space {
    match space {
        color::Space::Unspecified | color::Space::RGB | color::Space::Reserved => {
            if width >= 1280 || height >= 720 {
                color::Space::BT709
            } else {
                color::Space::SMPTE170M
            }
        }
        space => space,
    }
}

/// Whether a pixel format is full-range YUV by its name (the deprecated `yuvj*` formats).
pub(crate) fn is_jpeg_range(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P
    )
}
