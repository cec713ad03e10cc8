//! The frame passed between the pipeline's stages — packed RGB24 with its timestamp — and its
//! tensor form, the 1×3×H×W `f32` array in [0, 1] that the stylizer works on.

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Rgb, RgbImage};
use ndarray::{Array4, ArrayView4, Axis};

use super::{Error, Result};

/// One decoded (or stylized) picture: packed RGB24 rows without padding, `width × height × 3` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB24, row after row, `width * height * 3` bytes.
    pub data: Vec<u8>,
    /// Presentation time in the input video stream's time base (see
    /// [`VideoInfo::time_base`](super::VideoInfo::time_base)), counted from the start of the input.
    pub pts: Option<i64>,
    /// Position in the decoded sequence, from 0.
    pub index: u64,
}

impl RgbFrame {
    /// A frame from packed RGB24 bytes; fails when `data` is not `width * height * 3` bytes long.
    pub fn new(
        width: u32,
        height: u32,
        data: Vec<u8>,
        pts: Option<i64>,
        index: u64,
    ) -> Result<Self> {
        let frame = RgbFrame {
            width,
            height,
            data,
            pts,
            index,
        };
        frame.check()?;
        Ok(frame)
    }

    /// Checks that the buffer holds exactly `width × height` RGB pixels.
    pub fn check(&self) -> Result<()> {
        check_len(self.data.len(), self.width as usize, self.height as usize)
    }

    /// The frame as a 1×3×H×W tensor in [0, 1].
    pub fn to_tensor(&self) -> Result<Array4<f32>> {
        rgb_to_tensor(&self.data, self.width as usize, self.height as usize)
    }

    /// A frame from a 1×3×H×W tensor, clamped to [0, 1] and rounded to 8 bits.
    pub fn from_tensor(tensor: ArrayView4<f32>, pts: Option<i64>, index: u64) -> Result<Self> {
        let (_, _, h, w) = tensor.dim();
        let data = tensor_to_rgb(tensor)?;
        RgbFrame::new(w as u32, h as u32, data, pts, index)
    }
}

impl RgbFrame {
    /// The frame as an image, borrowing its pixels (for drawing and saving).
    pub fn as_image(&self) -> ImageBuffer<Rgb<u8>, &[u8]> {
        ImageBuffer::from_raw(self.width, self.height, self.data.as_slice())
            .expect("RgbFrame::new checked the length")
    }

    /// The frame as an image, keeping its pixels.
    pub fn into_image(self) -> RgbImage {
        RgbImage::from_raw(self.width, self.height, self.data)
            .expect("RgbFrame::new checked the length")
    }

    /// The frame resized (bicubic) to `width × height`; itself when it has that size.
    pub fn resized(self, width: u32, height: u32) -> RgbFrame {
        if (self.width, self.height) == (width, height) {
            return self;
        }
        let image = imageops::resize(&self.as_image(), width, height, FilterType::CatmullRom);
        RgbFrame {
            width,
            height,
            data: image.into_raw(),
            ..self
        }
    }
}

fn check_len(len: usize, width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Other(format!(
            "an RGB frame of {width}x{height} pixels is empty"
        )));
    }
    if Some(len) != width.checked_mul(height).and_then(|n| n.checked_mul(3)) {
        return Err(Error::Other(format!(
            "an RGB frame of {width}x{height} pixels needs {width}·{height}·3 bytes, not {len}"
        )));
    }
    Ok(())
}

/// Packed RGB24 bytes (rows without padding) as a 1×3×H×W tensor in [0, 1].
///
/// The shared conversion for stills and video frames: `picture::to_tensor` is this applied to
/// `RgbImage::as_raw()`.
pub fn rgb_to_tensor(data: &[u8], width: usize, height: usize) -> Result<Array4<f32>> {
    check_len(data.len(), width, height)?;
    let plane = width * height;
    let mut planar = vec![0.0f32; 3 * plane];
    let (r, rest) = planar.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in data.chunks_exact(3).enumerate() {
        r[i] = f32::from(px[0]) / 255.0;
        g[i] = f32::from(px[1]) / 255.0;
        b[i] = f32::from(px[2]) / 255.0;
    }
    Array4::from_shape_vec((1, 3, height, width), planar).map_err(|e| Error::Other(e.to_string()))
}

/// A 1×3×H×W tensor as packed RGB24 bytes, each value clamped to [0, 1] and rounded to 8 bits.
///
/// The shared conversion for stills and video frames: `picture::from_tensor` is
/// `RgbImage::from_raw(w, h, tensor_to_rgb(t)?)`.
pub fn tensor_to_rgb(tensor: ArrayView4<f32>) -> Result<Vec<u8>> {
    let (n, c, h, w) = tensor.dim();
    if n != 1 || c != 3 || h == 0 || w == 0 {
        return Err(Error::Other(format!(
            "an RGB picture needs a 1x3xHxW tensor, not {n}x{c}x{h}x{w}"
        )));
    }
    let mut data = vec![0u8; h * w * 3];
    let image = tensor.index_axis(Axis(0), 0);
    for (channel, plane) in image.axis_iter(Axis(0)).enumerate() {
        for (px, &v) in data.chunks_exact_mut(3).zip(plane.iter()) {
            px[channel] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_round_trip_is_exact_and_planar() {
        let data: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 17 % 256) as u8).collect();
        let frame = RgbFrame::new(5, 3, data.clone(), Some(7), 2).unwrap();
        let t = frame.to_tensor().unwrap();
        assert_eq!(t.dim(), (1, 3, 3, 5));
        // pixel (x=4, y=2) is bytes 3*(2*5+4) ..
        let at = 3 * (2 * 5 + 4);
        assert_eq!(t[[0, 1, 2, 4]], f32::from(data[at + 1]) / 255.0);
        let back = RgbFrame::from_tensor(t.view(), Some(7), 2).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn tensor_to_rgb_clamps_and_reads_non_standard_layouts() {
        let mut t = Array4::<f32>::zeros((1, 3, 2, 2));
        t[[0, 0, 0, 0]] = 2.0;
        t[[0, 1, 0, 0]] = -1.0;
        t[[0, 2, 1, 1]] = 0.5;
        let data = tensor_to_rgb(t.view()).unwrap();
        assert_eq!(&data[0..3], &[255, 0, 0]);
        assert_eq!(&data[9..12], &[0, 0, 128]);
        // A transposed view (W and H swapped) is read in its logical order.
        let transposed = t.view().permuted_axes([0, 1, 3, 2]);
        let data_t = tensor_to_rgb(transposed).unwrap();
        assert_eq!(&data_t[0..3], &[255, 0, 0]);
        assert_eq!(&data_t[9..12], &[0, 0, 128]);
    }

    #[test]
    fn bad_sizes_are_errors() {
        let err = RgbFrame::new(4, 4, vec![0; 47], None, 0).unwrap_err();
        assert!(
            err.to_string().contains("needs 4·4·3 bytes, not 47"),
            "{err}"
        );
        assert!(rgb_to_tensor(&[], 0, 0).is_err());
        let grey = Array4::<f32>::zeros((1, 1, 2, 2));
        let err = tensor_to_rgb(grey.view()).unwrap_err();
        assert!(err.to_string().contains("1x3xHxW"), "{err}");
    }
}
