//! What the losses pull the image towards, and how strongly.

use ndarray::{Array2, Array4};
use serde::Serialize;

/// Gram matrices (style layers) and activations (content layers) of one image, in manifest order.
#[derive(Clone, Debug, Default)]
pub struct Features {
    /// One C×C Gram matrix per style layer.
    pub grams: Vec<Array2<f32>>,
    /// One 1×C×h×w activation per content layer.
    pub contents: Vec<Array4<f32>>,
}

/// The targets of one optimization: the (blended) style Grams, the content activations and, for
/// a video frame, the previous stylized frame warped into this one.
#[derive(Clone, Debug)]
pub struct Targets {
    /// One C×C Gram matrix per style layer.
    pub grams: Vec<Array2<f32>>,
    /// One 1×C×h×w activation per content layer.
    pub contents: Vec<Array4<f32>>,
    /// The temporal loss's target, if any.
    pub temporal: Option<TemporalTarget>,
}

/// What the temporal loss (Ruder et al. 2016) pulls a video frame towards.
#[derive(Clone, Debug)]
pub struct TemporalTarget {
    /// The previous stylized frame warped into this frame, 1×3×H×W.
    pub image: Array4<f32>,
    /// Per-pixel reliability weights in [0, 1] (0 where the warp cannot be trusted), 1×1×H×W.
    pub mask: Array4<f32>,
}

impl Targets {
    /// Targets from the content image's features and several styles' features blended with `blend`.
    pub fn new(content: Features, styles: &[Features], blend: &[f32]) -> Targets {
        Targets {
            grams: blend_grams(styles, blend),
            contents: content.contents,
            temporal: None,
        }
    }
}

/// The style layers' Gram matrices of several styles mixed with `blend` (weights that need not sum
/// to 1), as neural-style's `-style_blend_weights` does.
pub fn blend_grams(styles: &[Features], blend: &[f32]) -> Vec<Array2<f32>> {
    let total: f32 = blend.iter().sum();
    let mut grams: Vec<Array2<f32>> = styles
        .first()
        .map(|s| s.grams.iter().map(|g| Array2::zeros(g.dim())).collect())
        .unwrap_or_default();
    for (style, &w) in styles.iter().zip(blend) {
        for (acc, g) in grams.iter_mut().zip(&style.grams) {
            acc.scaled_add(w / total, g);
        }
    }
    grams
}

/// Weights of the loss terms, as in neural-style (per layer for style and content).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LossWeights {
    /// Of the content loss.
    pub content: f32,
    /// Of the style loss.
    pub style: f32,
    /// Of the total-variation loss.
    pub tv: f32,
    /// Of the temporal loss (used only when the targets have a temporal target).
    pub temporal: f32,
}

/// The loss terms of one evaluation, already weighted.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LossTerms {
    /// content + style + tv + temporal.
    pub total: f32,
    /// Content term.
    pub content: f32,
    /// Style term.
    pub style: f32,
    /// Total-variation term.
    pub tv: f32,
    /// Temporal-consistency term (0 without a temporal target).
    pub temporal: f32,
}
