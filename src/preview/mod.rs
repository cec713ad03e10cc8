//! The preview window (`minifb`): the stylized picture scaled to the window, side by side with the
//! original or the original alone, an overlay of figures, and the keys that steer a live run.

pub mod keys;
mod overlay;

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use image::imageops::{self, FilterType};
use image::{GenericImageView, Rgb, RgbImage};
use minifb::{KeyRepeat, Window, WindowOptions};

use crate::media::RgbFrame;

pub use keys::{action, Action, KEYS_LINE};

/// What the window shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The stylized picture.
    Stylized,
    /// The original on the left, the stylized picture on the right.
    SideBySide,
    /// The original picture.
    Original,
}

impl View {
    /// The view after this one (the `V` key).
    pub fn next(self) -> View {
        match self {
            View::Stylized => View::SideBySide,
            View::SideBySide => View::Original,
            View::Original => View::Stylized,
        }
    }

    /// The view's name in the overlay.
    pub fn name(self) -> &'static str {
        match self {
            View::Stylized => "stylized",
            View::SideBySide => "side by side",
            View::Original => "original",
        }
    }
}

/// Fails with one line saying so when there is no display to open a window on.
pub fn check_display() -> Result<()> {
    if cfg!(all(unix, not(target_os = "macos"))) {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            bail!(
                "no display: neither DISPLAY nor WAYLAND_DISPLAY is set; the preview window needs a \
                 desktop session (or a virtual one: xvfb-run -a stylize …)"
            );
        }
    }
    Ok(())
}

/// The preview window.
pub struct Preview {
    window: Window,
    /// 0RGB pixels of the window's size.
    buffer: Vec<u32>,
    size: (usize, usize),
    /// The composed picture (without the overlay), what a screenshot saves.
    composed: RgbImage,
    /// The view shown.
    pub view: View,
    /// Whether the overlay is shown.
    pub overlay: bool,
    /// The actions of keys pressed since [`actions`](Preview::actions) was last called (every
    /// update reads the keys anew, so they are gathered after each).
    pending: Vec<Action>,
}

impl Preview {
    /// Opens a resizable window of `width × height` named `title`.
    pub fn open(title: &str, width: usize, height: usize) -> Result<Preview> {
        check_display()?;
        let options = WindowOptions {
            resize: true,
            ..WindowOptions::default()
        };
        let mut window = Window::new(title, width, height, options).map_err(|e| {
            let why = match e {
                minifb::Error::WindowCreate(why) => why,
                other => other.to_string(),
            };
            let display = std::env::var("DISPLAY").unwrap_or_default();
            anyhow!("no display: cannot open a window on X display '{display}' ({why}); is an X server (or XWayland) running?")
        })?;
        window.set_target_fps(60);
        let mut preview = Preview {
            window,
            buffer: vec![0; width * height],
            size: (width, height),
            composed: RgbImage::new(width as u32, height as u32),
            view: View::Stylized,
            overlay: true,
            pending: Vec::new(),
        };
        preview.present(&[])?;
        Ok(preview)
    }

    /// Whether the window is still open (not closed by its close button).
    pub fn is_open(&self) -> bool {
        self.window.is_open()
    }

    /// The actions of the keys pressed since the last call.
    pub fn actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.pending)
    }

    /// Keeps the actions of the keys the last update saw.
    fn gather_keys(&mut self) {
        let keys = self.window.get_keys_pressed(KeyRepeat::No);
        self.pending.extend(keys.into_iter().filter_map(action));
    }

    /// Lets the window handle its events (keys, resizing, closing) without drawing anything new;
    /// waits at most a frame of the display's rate.
    pub fn idle(&mut self) {
        self.window.update();
        self.gather_keys();
    }

    /// Whether the window's size changed since the last picture was drawn.
    pub fn resized(&self) -> bool {
        self.window.get_size() != self.size
    }

    /// Draws the `stylized` frame and its `original` in the current view, scaled to the window,
    /// and the overlay's `lines`.
    pub fn show(
        &mut self,
        stylized: &RgbFrame,
        original: &RgbFrame,
        lines: &[String],
    ) -> Result<()> {
        let (stylized, original) = (stylized.as_image(), original.as_image());
        let (w, h) = self.window.get_size();
        let (w, h) = (w.max(16), h.max(16));
        let mut canvas = RgbImage::from_pixel(w as u32, h as u32, Rgb([0, 0, 0]));
        match self.view {
            View::Stylized => fit(&mut canvas, &stylized, 0, w as u32),
            View::Original => fit(&mut canvas, &original, 0, w as u32),
            View::SideBySide => {
                let half = w as u32 / 2;
                fit(&mut canvas, &original, 0, half);
                fit(&mut canvas, &stylized, half, w as u32 - half);
            }
        }
        self.composed = canvas;
        self.size = (w, h);
        self.present(lines)
    }

    /// Draws the overlay again over the last picture (new figures, no new picture).
    pub fn refresh(&mut self, lines: &[String]) -> Result<()> {
        self.present(lines)
    }

    fn present(&mut self, lines: &[String]) -> Result<()> {
        let (w, h) = self.composed.dimensions();
        let (w, h) = (w as usize, h as usize);
        self.buffer.clear();
        self.buffer.extend(self.composed.pixels().map(|p| {
            let [r, g, b] = p.0;
            (u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b)
        }));
        if self.overlay {
            overlay::draw(&mut self.buffer, w, h, lines);
        }
        self.window
            .update_with_buffer(&self.buffer, w, h)
            .context("cannot draw in the preview window")?;
        self.gather_keys();
        Ok(())
    }

    /// Saves the picture in the window (without the overlay) as a PNG.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        self.composed
            .save(path)
            .with_context(|| format!("cannot save the screenshot '{}'", path.display()))
    }
}

/// Draws `image` into the columns `left .. left + width` of `canvas`, as large as fits with its
/// aspect ratio kept, centred.
fn fit<I: GenericImageView<Pixel = Rgb<u8>>>(
    canvas: &mut RgbImage,
    image: &I,
    left: u32,
    width: u32,
) {
    let (iw, ih) = image.dimensions();
    let height = canvas.height();
    if iw == 0 || ih == 0 || width == 0 {
        return;
    }
    let scale = (f64::from(width) / f64::from(iw)).min(f64::from(height) / f64::from(ih));
    let w = ((f64::from(iw) * scale).round() as u32).clamp(1, width);
    let h = ((f64::from(ih) * scale).round() as u32).clamp(1, height);
    let scaled = imageops::resize(image, w, h, FilterType::Triangle);
    let x = left + (width - w) / 2;
    let y = (height - h) / 2;
    imageops::replace(canvas, &scaled, i64::from(x), i64::from(y));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_cycle_and_fit_keeps_the_aspect_ratio_centred() {
        assert_eq!(View::Stylized.next().next().next(), View::Stylized);
        let mut canvas = RgbImage::new(200, 100);
        let red = RgbImage::from_pixel(40, 40, Rgb([255, 0, 0]));
        fit(&mut canvas, &red, 0, 200);
        assert_eq!(canvas.get_pixel(100, 50).0, [255, 0, 0]);
        assert_eq!(canvas.get_pixel(10, 50).0, [0, 0, 0]); // letterboxed
        let mut canvas = RgbImage::new(200, 100);
        fit(&mut canvas, &red, 100, 100);
        assert_eq!(canvas.get_pixel(150, 50).0, [255, 0, 0]);
        assert_eq!(canvas.get_pixel(50, 50).0, [0, 0, 0]);
    }
}
