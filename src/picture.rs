//! Still images: loading, resizing, tensor conversion, colour handling and atomic saving.

use std::io::{BufWriter, Cursor, ErrorKind};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::ImageDecoder;
use image::{ImageFormat, ImageReader, RgbImage};
use ndarray::{Array4, ArrayView4, Axis, Zip};

use crate::media::frame::{rgb_to_tensor, tensor_to_rgb};

/// A decoded image, and whether its file was cut short.
pub struct Loaded {
    pub image: RgbImage,
    /// A JPEG that stops before its end marker: the decoder filled its missing part with grey.
    pub truncated: bool,
}

/// Opens and decodes an image; `what` names it in errors ("content image", "style image").
pub fn load(path: &Path, what: &str) -> Result<Loaded> {
    let shown = path.display();
    if path.is_dir() {
        bail!("cannot open {what} '{shown}': it is a directory");
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => anyhow!("cannot open {what} '{shown}': no such file"),
        ErrorKind::PermissionDenied => anyhow!("cannot open {what} '{shown}': permission denied"),
        _ => anyhow!("cannot open {what} '{shown}': {e}"),
    })?;
    let reader = ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .with_context(|| format!("cannot read {what} '{shown}'"))?;
    let Some(format) = reader.format() else {
        bail!("cannot read {what} '{shown}': not an image in a known format (PNG, JPEG, WebP, BMP, TIFF, GIF)");
    };
    let unreadable = |e: image::ImageError| anyhow!("cannot read {what} '{shown}': {e}");
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    // Phones store portraits sideways with an EXIF orientation: turn them as viewers do.
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut decoded = image::DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    decoded.apply_orientation(orientation);
    Ok(Loaded {
        image: decoded.to_rgb8(),
        truncated: format == ImageFormat::Jpeg && jpeg_is_truncated(&bytes),
    })
}

/// Whether a JPEG file stops before the end marker (EOI) that follows its last scan. Scan data
/// cannot hold an EOI (a 0xFF byte in it is followed by 0x00 or a restart marker), and a
/// thumbnail's EOI comes before the main image's scans.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    const SOS: [u8; 2] = [0xFF, 0xDA];
    const EOI: [u8; 2] = [0xFF, 0xD9];
    match bytes.windows(2).rposition(|w| w == SOS) {
        Some(last_scan) => !bytes[last_scan..].windows(2).any(|w| w == EOI),
        None => true,
    }
}

/// Resizes so that the longer side is `longest` pixels (Lanczos), keeping the aspect ratio.
pub fn resize_longest(image: &RgbImage, longest: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (nw, nh) = longest_side(w, h, longest);
    if (nw, nh) == (w, h) {
        return image.clone();
    }
    image::imageops::resize(image, nw, nh, FilterType::Lanczos3)
}

/// The size of a `width × height` picture scaled to `longest` pixels on its longer side, the
/// aspect ratio kept (at least one pixel a side).
pub fn longest_side(width: u32, height: u32, longest: u32) -> (u32, u32) {
    let scale = f64::from(longest) / f64::from(width.max(height));
    let w = ((f64::from(width) * scale).round() as u32).max(1);
    let h = ((f64::from(height) * scale).round() as u32).max(1);
    (w, h)
}

/// A 1×3×H×W tensor, RGB in [0, 1].
pub fn to_tensor(image: &RgbImage) -> Result<Array4<f32>> {
    let (w, h) = image.dimensions();
    Ok(rgb_to_tensor(image.as_raw(), w as usize, h as usize)?)
}

/// An 8-bit image from a 1×3×H×W tensor, clamped to [0, 1].
pub fn from_tensor(t: ArrayView4<f32>) -> Result<RgbImage> {
    let (_, _, h, w) = t.dim();
    RgbImage::from_raw(w as u32, h as u32, tensor_to_rgb(t)?)
        .ok_or_else(|| anyhow!("internal: tensor of {w}×{h} does not make an image"))
}

/// Luminance (YIQ's Y, BT.601's luma weights) of an RGB tensor, as a 1×1×H×W tensor.
pub(crate) fn luminance(t: ArrayView4<f32>) -> Array4<f32> {
    let mut y = Array4::zeros((1, 1, t.dim().2, t.dim().3));
    Zip::from(y.index_axis_mut(Axis(1), 0))
        .and(t.index_axis(Axis(1), 0))
        .and(t.index_axis(Axis(1), 1))
        .and(t.index_axis(Axis(1), 2))
        .for_each(|y, &r, &g, &b| *y = 0.299 * r + 0.587 * g + 0.114 * b);
    y
}

/// A grey RGB tensor of `t`'s luminance, its mean and spread moved to those of `like` when given
/// (the luminance-only transfer of Gatys et al. 2016, "Preserving color in neural artistic style transfer").
pub fn grey(t: ArrayView4<f32>, like: Option<ArrayView4<f32>>) -> Array4<f32> {
    let mut y = luminance(t);
    if let Some(like) = like {
        let target = luminance(like);
        let (mu, sigma) = mean_std(y.view());
        let (mu_t, sigma_t) = mean_std(target.view());
        let gain = if sigma > 1e-6 { sigma_t / sigma } else { 1.0 };
        y.mapv_inplace(|v| (v - mu) * gain + mu_t);
    }
    Array4::from_shape_fn(t.dim(), |(_, _, r, c)| y[[0, 0, r, c]])
}

fn mean_std(t: ArrayView4<f32>) -> (f32, f32) {
    let n = t.len().max(1) as f64;
    let mean = t.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = t
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, var.sqrt() as f32)
}

/// `result`'s luminance with `colours`' chroma (YIQ's I and Q): the output of `--original-colors`.
pub fn with_colours_of(result: ArrayView4<f32>, colours: ArrayView4<f32>) -> Array4<f32> {
    let y = luminance(result);
    let mut out = Array4::zeros(colours.dim());
    let (_, _, h, w) = colours.dim();
    for r in 0..h {
        for c in 0..w {
            let (cr, cg, cb) = (
                colours[[0, 0, r, c]],
                colours[[0, 1, r, c]],
                colours[[0, 2, r, c]],
            );
            let i = 0.596 * cr - 0.274 * cg - 0.322 * cb;
            let q = 0.211 * cr - 0.523 * cg + 0.312 * cb;
            let yy = y[[0, 0, r, c]];
            out[[0, 0, r, c]] = yy + 0.956 * i + 0.621 * q;
            out[[0, 1, r, c]] = yy - 0.272 * i - 0.647 * q;
            out[[0, 2, r, c]] = yy - 1.106 * i + 1.703 * q;
        }
    }
    out
}

/// An output image path, checked before any work starts: a known format in an existing directory.
#[derive(Clone, Debug)]
pub struct OutputImage {
    path: PathBuf,
    format: ImageFormat,
}

impl OutputImage {
    /// Checks that `path` can be written: its directory exists and its extension names a format.
    pub fn new(path: &Path) -> Result<OutputImage> {
        let shown = path.display();
        let format = ImageFormat::from_path(path)
            .ok()
            .filter(|f| {
                matches!(
                    f,
                    ImageFormat::Png
                        | ImageFormat::Jpeg
                        | ImageFormat::WebP
                        | ImageFormat::Bmp
                        | ImageFormat::Tiff
                )
            })
            .ok_or_else(|| {
                anyhow!("cannot write '{shown}': unknown image format; use .png, .jpg, .webp, .bmp or .tiff")
            })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!(
                "cannot write '{shown}': directory '{}' does not exist",
                dir.display()
            );
        }
        Ok(OutputImage {
            path: path.to_path_buf(),
            format,
        })
    }

    /// The path to be written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the image through a temporary file renamed into place, so a failure leaves nothing behind.
    pub fn save(&self, image: &RgbImage) -> Result<()> {
        let shown = self.path.display();
        let temp = crate::files::temporary_beside(&self.path);
        let written = (|| -> Result<()> {
            let file = std::fs::File::create(&temp)?;
            let mut out = BufWriter::new(file);
            if self.format == ImageFormat::Jpeg {
                image.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 95))?;
            } else {
                image.write_to(&mut out, self.format)?;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&temp, &self.path)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            bail!("cannot write '{shown}': {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::jpeg_is_truncated;

    #[test]
    fn a_jpeg_without_its_end_marker_is_truncated() {
        let mut bytes = Vec::new();
        let image =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        image::DynamicImage::ImageRgb8(image)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        assert!(!jpeg_is_truncated(&bytes));
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"appended by some tool");
        assert!(!jpeg_is_truncated(&trailing), "bytes after the end marker");
        assert!(jpeg_is_truncated(&bytes[..bytes.len() / 2]));
        assert!(jpeg_is_truncated(&bytes[..bytes.len() - 2]));
    }
}
