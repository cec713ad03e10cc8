//! Webcams through FFmpeg's capture devices: v4l2 on Linux, avfoundation on macOS, dshow on
//! Windows.

use std::path::Path;

use crate::media::{self, Input};

/// A camera and what it is asked for.
#[derive(Clone, Debug, Default)]
pub struct Camera {
    /// The device; empty for the platform's first camera.
    pub device: String,
    /// The frame size asked for.
    pub size: Option<(u32, u32)>,
    /// The frame rate asked for.
    pub fps: Option<u32>,
    /// FFmpeg's capture format, when not the platform's.
    pub format: Option<String>,
    /// More device options, as `ffmpeg -KEY VALUE`.
    pub options: Vec<(String, String)>,
}

/// Why a camera did not open.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The device file is not there.
    #[error("no camera: {0} does not exist")]
    Missing(String),
    /// On Windows a camera is opened by its name.
    #[error("the camera needs a name (`ffmpeg -list_devices true -f dshow -i dummy` lists them)")]
    Unnamed,
    /// Another program holds the camera.
    #[error("{0} is busy: another program is using it; close that program or pick another camera")]
    Busy(String),
    /// Anything else FFmpeg said.
    #[error("cannot open {shown} (is it a camera?): {source}")]
    Open { shown: String, source: media::Error },
}

impl Camera {
    /// Opens the camera.
    pub fn open(&self) -> Result<Input, CameraError> {
        let (format, url) = self.device()?;
        if cfg!(target_os = "linux") && !Path::new(&url).exists() {
            return Err(CameraError::Missing(url));
        }
        let mut options = Vec::new();
        if let Some((w, h)) = self.size {
            options.push(("video_size".to_string(), format!("{w}x{h}")));
        }
        if let Some(fps) = self.fps {
            options.push(("framerate".to_string(), fps.to_string()));
        }
        options.extend(self.options.iter().cloned());
        let format = self.format.as_deref().unwrap_or(format);
        Input::open(&url, Some(format), &options).map_err(|e| opening_error(&url, e))
    }

    /// How messages name the camera.
    pub fn shown(&self) -> String {
        match self.device() {
            Ok((_, url)) => format!("camera '{url}'"),
            Err(_) => "the camera".to_string(),
        }
    }

    /// FFmpeg's capture format and input for the device (the first camera when none is named).
    fn device(&self) -> Result<(&'static str, String), CameraError> {
        let given = self.device.as_str();
        if cfg!(target_os = "macos") {
            Ok((
                "avfoundation",
                if given.is_empty() { "0" } else { given }.to_string(),
            ))
        } else if cfg!(windows) {
            if given.is_empty() {
                return Err(CameraError::Unnamed);
            }
            Ok(("dshow", format!("video={given}")))
        } else {
            let device = if given.is_empty() {
                "/dev/video0"
            } else {
                given
            };
            Ok(("v4l2", device.to_string()))
        }
    }
}

/// A camera that failed to open, in the words of the message: busy, or why not.
fn opening_error(url: &str, error: media::Error) -> CameraError {
    let shown = format!("camera '{url}'");
    match error {
        media::Error::DeviceBusy { .. } => CameraError::Busy(shown),
        source => CameraError::Open { shown, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_camera_says_so() {
        let busy = media::Error::DeviceBusy {
            context: "cannot open input '/dev/video0' as v4l2".into(),
        };
        let message = opening_error("/dev/video0", busy).to_string();
        assert!(
            message.starts_with("camera '/dev/video0' is busy"),
            "{message}"
        );
        let other = media::Error::Other("inappropriate ioctl for device".into());
        let message = opening_error("/dev/null", other).to_string();
        assert!(message.contains("is it a camera?"), "{message}");
    }
}
