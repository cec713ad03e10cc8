//! A folder of numbered pictures, as `ffmpeg -i in.mp4 frames/%06d.png` writes them: one PNG (or
//! JPEG…) per frame, numbered from 1.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::FrameSink;
use crate::picture::OutputImage;
use crate::pipeline::Stylized;

/// Writes each frame to the next path of a pattern such as `frames/%06d.png`.
pub struct ImageSequence {
    /// The pattern split around its number: prefix, zero-padded width, suffix.
    prefix: String,
    width: usize,
    suffix: String,
    size: (u32, u32),
    written: u64,
}

impl ImageSequence {
    /// Whether `output` is a numbered-picture pattern (`%d` or `%0Nd` in its file name).
    pub fn is_pattern(output: &str) -> bool {
        split(output).is_some()
    }

    /// Frames to the paths `pattern` numbers, scaled to `size`; the folder must exist.
    pub fn new(pattern: &str, size: (u32, u32)) -> Result<ImageSequence> {
        let Some((prefix, width, suffix)) = split(pattern) else {
            bail!("'{pattern}' has no frame number (%d or %06d) in its file name");
        };
        let sequence = ImageSequence {
            prefix,
            width,
            suffix,
            size,
            written: 0,
        };
        // Fails here, before any work, on a missing folder or an unknown extension.
        OutputImage::new(&sequence.path(1))?;
        Ok(sequence)
    }

    /// The path of frame `number`.
    pub fn path(&self, number: u64) -> PathBuf {
        let width = self.width;
        PathBuf::from(format!("{}{number:0width$}{}", self.prefix, self.suffix))
    }

    /// The pictures' size.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// How many pictures were written.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// `dir/%06d.png` → (`dir/`, 6, `.png`); `None` without a number in the file name.
fn split(pattern: &str) -> Option<(String, usize, String)> {
    let name_start = pattern.len() - Path::new(pattern).file_name()?.to_str()?.len();
    let at = name_start + pattern[name_start..].find('%')?;
    let rest = &pattern[at + 1..];
    let digits = rest.find('d')?;
    let spec = &rest[..digits];
    let width = match spec {
        "" => 0,
        _ if spec.starts_with('0') && spec.bytes().all(|b| b.is_ascii_digit()) => {
            spec.parse().ok()?
        }
        _ => return None,
    };
    Some((
        pattern[..at].to_string(),
        width,
        rest[digits + 1..].to_string(),
    ))
}

impl FrameSink for ImageSequence {
    fn write(&mut self, frame: &Stylized) -> Result<()> {
        let (w, h) = self.size;
        let frame = frame.frame.clone().resized(w, h);
        let path = self.path(self.written + 1);
        OutputImage::new(&path)?.save(&frame.into_image())?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_split_around_the_number() {
        assert_eq!(
            split("out/%06d.png"),
            Some(("out/".into(), 6, ".png".into()))
        );
        assert_eq!(split("f%d.jpg"), Some(("f".into(), 0, ".jpg".into())));
        assert_eq!(split("a%b/x.png"), None, "the % must be in the file name");
        assert_eq!(split("out.mp4"), None);
        assert_eq!(split("x%6d.png"), None, "ffmpeg pads with zeros only");
    }
}
