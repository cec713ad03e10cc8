//! The pictures a command reads: style images and their targets at each level, the stylized first
//! frame given with `--first-frame`.

use std::path::Path;

use anyhow::{bail, Result};
use ndarray::Array2;

use crate::model::{Features, Model};
use crate::stylize;

/// One style's Gram matrices at each coarse-to-fine level, coarse to fine.
pub(super) type LevelGrams = Vec<Vec<Array2<f32>>>;

/// The `--style` images, read and decoded.
pub(super) fn load_styles(paths: &[std::path::PathBuf]) -> Result<Vec<::image::RgbImage>> {
    paths
        .iter()
        .map(|p| load_picture(p, "style image"))
        .collect()
}

/// The picture in `path` (`what` names it), with a warning line when its file was cut short.
pub(super) fn load_picture(path: &Path, what: &str) -> Result<::image::RgbImage> {
    let loaded = crate::picture::load(path, what)?;
    if loaded.truncated {
        eprintln!(
            "warning: {what} '{}' is truncated (no JPEG end marker); its missing part is grey",
            path.display()
        );
    }
    Ok(loaded.image)
}

/// The features of each style image, resized to [`stylize::style_size`].
pub(super) fn style_features(
    model: &mut Model,
    styles: &[::image::RgbImage],
    size: u32,
    scale: f32,
) -> Result<Vec<Features>> {
    let side = stylize::style_size(size, scale);
    styles
        .iter()
        .map(|s| {
            let tensor = crate::picture::to_tensor(&crate::picture::resize_longest(s, side))?;
            model.features(tensor.view())
        })
        .collect()
}

/// The blended style Gram matrices of `styles` at each level of `sizes` (their longest side
/// × `scale`), coarse to fine.
pub(super) fn level_grams(
    model: &mut Model,
    styles: &[::image::RgbImage],
    sizes: &[(usize, usize)],
    scale: f32,
    blend: &[f32],
) -> Result<LevelGrams> {
    sizes
        .iter()
        .map(|&(h, w)| {
            let features = style_features(model, styles, h.max(w) as u32, scale)?;
            Ok(crate::model::blend_grams(&features, blend))
        })
        .collect()
}

/// The stylized first frame in `path`, which must be `size` (the frames' processing size).
pub(super) fn first_frame(
    path: &Path,
    size: (u32, u32),
    size_flag: u32,
) -> Result<ndarray::Array4<f32>> {
    let image = load_picture(path, "first frame")?;
    if image.dimensions() != size {
        let ((w, h), (width, height)) = (image.dimensions(), size);
        bail!(
            "first frame '{}' is {w}x{h}, but the frames are stylized at {width}x{height} (--size {size_flag})",
            path.display()
        );
    }
    crate::picture::to_tensor(&image)
}
