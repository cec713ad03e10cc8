//! What the benchmarks share: medians and a loss-and-gradient problem on random images.

use anyhow::Result;
use ndarray::Array4;
use rand::rngs::StdRng;
use rand::Rng;

use stylize::model::{LossWeights, Model, Targets};

/// The middle value (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A 1×3×h×w image of uniform noise.
pub fn random_image(rng: &mut StdRng, h: usize, w: usize) -> Array4<f32> {
    Array4::from_shape_simple_fn((1, 3, h, w), || rng.random::<f32>())
}

/// The default loss weights of `stylize image` and `stylize video` (no temporal term).
pub const WEIGHTS: LossWeights = LossWeights {
    content: stylize::cli::DEFAULT_CONTENT_WEIGHT,
    style: stylize::cli::DEFAULT_STYLE_WEIGHT,
    tv: 1e-3,
    temporal: 0.0,
};

/// Targets from random content and style images of h×w, and a random image to evaluate at.
pub fn random_problem(
    model: &mut Model,
    rng: &mut StdRng,
    h: usize,
    w: usize,
) -> Result<(Targets, Array4<f32>)> {
    let content = model.features(random_image(rng, h, w).view())?;
    let style = model.features(random_image(rng, h, w).view())?;
    Ok((
        Targets::new(content, &[style], &[1.0]),
        random_image(rng, h, w),
    ))
}
