//! A still image's plan: the content and the styles at each coarse-to-fine level's size, their
//! targets, and the image the optimization starts from.

use anyhow::{Context, Result};
use image::imageops::{self, FilterType};
use image::RgbImage;
use ndarray::Array4;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{noise, Budget, Level};
use crate::model::{Features, Model, Targets};
use crate::picture;

/// The styles of a still image and how they are used.
pub struct StillStyle<'a> {
    pub styles: &'a [RgbImage],
    /// The style images' longest side relative to each level's.
    pub scale: f32,
    /// One weight per style.
    pub blend: &'a [f32],
    /// Transfer luminance only and keep the content's colours (Gatys et al. 2016).
    pub original_colors: bool,
}

/// Where a still image's optimization starts.
pub enum StillStart {
    /// The content.
    Content,
    /// Seeded white noise.
    Noise(u64),
    /// A given image, resized to the coarsest level.
    Image(RgbImage),
}

/// The longest side of the style images for a level of longest side `size`: `size × scale`, at
/// least 16 px.
pub fn style_size(size: u32, scale: f32) -> u32 {
    ((size as f32) * scale).round().max(16.0) as u32
}

/// The levels of `sizes` (height, width; coarse to fine) with their `budgets`, and the image the
/// coarsest one starts from.
pub fn plan(
    model: &mut Model,
    content: &RgbImage,
    style: &StillStyle,
    sizes: &[(usize, usize)],
    budgets: &[Budget],
    start: StillStart,
) -> Result<(Vec<Level>, Array4<f32>)> {
    let levels = sizes
        .iter()
        .zip(budgets)
        .map(|(&size, &budget)| level(model, content, style, size, budget))
        .collect::<Result<Vec<Level>>>()?;
    let coarsest = &levels
        .first()
        .context("internal: the pyramid has no levels")?
        .content;
    let (_, _, h0, w0) = coarsest.dim();
    let start = match start {
        StillStart::Content => coarsest.clone(),
        StillStart::Noise(seed) => noise((1, 3, h0, w0), &mut StdRng::seed_from_u64(seed)),
        StillStart::Image(image) => {
            let resized = imageops::resize(&image, w0 as u32, h0 as u32, FilterType::Lanczos3);
            let tensor = picture::to_tensor(&resized)?;
            match style.original_colors {
                true => picture::grey(tensor.view(), None),
                false => tensor,
            }
        }
    };
    Ok((levels, start))
}

/// The level of `size` (height, width): the content and the styles resized to it (with
/// `original_colors`, their luminance) and their targets.
fn level(
    model: &mut Model,
    content: &RgbImage,
    style: &StillStyle,
    size: (usize, usize),
    budget: Budget,
) -> Result<Level> {
    let (h, w) = size;
    let resized = imageops::resize(content, w as u32, h as u32, FilterType::Lanczos3);
    let content = picture::to_tensor(&resized)?;
    let side = style_size(h.max(w) as u32, style.scale);
    let styles = style
        .styles
        .iter()
        .map(|s| picture::to_tensor(&picture::resize_longest(s, side)))
        .collect::<Result<Vec<Array4<f32>>>>()?;
    // With original colours the optimization runs on luminance alone (style luminance matched to
    // the content's), and the content's chroma is put back at the end.
    let (content, styles) = if style.original_colors {
        let grey_styles = styles
            .iter()
            .map(|s| picture::grey(s.view(), Some(content.view())))
            .collect();
        (picture::grey(content.view(), None), grey_styles)
    } else {
        (content, styles)
    };
    let content_features = model.features(content.view())?;
    let style_features = styles
        .iter()
        .map(|s| model.features(s.view()))
        .collect::<Result<Vec<Features>>>()?;
    let targets = Targets::new(content_features, &style_features, style.blend);
    Ok(Level {
        size,
        content,
        targets,
        budget,
    })
}
