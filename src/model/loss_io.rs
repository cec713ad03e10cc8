//! The loss graph's inputs besides the image (weights and targets, by input name) and its scalar
//! outputs (the loss terms).

use anyhow::{anyhow, bail, Result};
use ndarray::{Array1, Array4};

use super::{ort_error, LossTerms, LossWeights, Manifest, Targets, TemporalTarget};

/// The loss graph's scalar outputs, in [`LossTerms`] order.
pub(super) const TERMS: [&str; 5] = [
    "loss",
    "content_loss",
    "style_loss",
    "tv_loss",
    "temporal_loss",
];

/// The loss terms of one run of the loss graph.
pub(super) fn read_terms(outputs: &ort::session::SessionOutputs) -> Result<LossTerms> {
    let mut values = [0.0f32; 5];
    for (value, name) in values.iter_mut().zip(TERMS) {
        *value = outputs
            .get(name)
            .ok_or_else(|| anyhow!("internal: the loss graph has no output '{name}'"))?
            .try_extract_scalar::<f32>()
            .map_err(ort_error)?;
    }
    let [total, content, style, tv, temporal] = values;
    Ok(LossTerms {
        total,
        content,
        style,
        tv,
        temporal,
    })
}

/// The loss graph's inputs other than the image: the weights, and views of the targets. Without a
/// temporal target the term is switched off: weight 0 and 1×1×1×1 zeros, which the graph
/// broadcasts.
pub(super) struct LossInputs<'a> {
    manifest: &'a Manifest,
    targets: &'a Targets,
    /// style_weights, content_weights, tv_weight and temporal_weight.
    weights: [(&'static str, Array1<f32>); 4],
    temporal: Option<&'a TemporalTarget>,
    unused: Array4<f32>,
}

impl<'a> LossInputs<'a> {
    /// Checks that `targets` fit the model (and, given the image's shape, that the temporal
    /// target fits the image).
    pub(super) fn new(
        manifest: &'a Manifest,
        targets: &'a Targets,
        weights: &LossWeights,
        image: Option<(usize, usize, usize, usize)>,
    ) -> Result<LossInputs<'a>> {
        if targets.grams.len() != manifest.style_layers.len()
            || targets.contents.len() != manifest.content_layers.len()
        {
            bail!("internal: targets do not match the model's layers");
        }
        let temporal = targets
            .temporal
            .as_ref()
            .filter(|_| weights.temporal != 0.0);
        if let (Some(t), Some(dim)) = (temporal, image) {
            if t.image.dim() != dim || t.mask.dim() != (1, 1, dim.2, dim.3) {
                bail!("internal: the temporal target does not match the image's size");
            }
        }
        let one = |w: f32, n: usize| Array1::from_elem(n, w);
        Ok(LossInputs {
            manifest,
            targets,
            weights: [
                (
                    "style_weights",
                    one(weights.style, manifest.style_layers.len()),
                ),
                (
                    "content_weights",
                    one(weights.content, manifest.content_layers.len()),
                ),
                ("tv_weight", one(weights.tv, 1)),
                (
                    "temporal_weight",
                    one(temporal.map_or(0.0, |_| weights.temporal), 1),
                ),
            ],
            temporal,
            unused: Array4::zeros((1, 1, 1, 1)),
        })
    }

    /// The weights, the temporal target and mask, and the content targets, by input name.
    pub(super) fn per_run(&self) -> impl Iterator<Item = (String, ndarray::ArrayViewD<'_, f32>)> {
        let (target, mask) = match self.temporal {
            Some(t) => (t.image.view(), t.mask.view()),
            None => (self.unused.view(), self.unused.view()),
        };
        let weights = self
            .weights
            .iter()
            .map(|(name, w)| (name.to_string(), w.view().into_dyn()));
        let temporal = [
            ("temporal_target".to_string(), target.into_dyn()),
            ("temporal_mask".to_string(), mask.into_dyn()),
        ];
        let contents = self
            .manifest
            .content_layers
            .iter()
            .zip(&self.targets.contents)
            .map(|(layer, c)| (format!("content_{}", layer.name), c.view().into_dyn()));
        weights.chain(temporal).chain(contents)
    }

    /// The style Gram targets, by input name.
    pub(super) fn grams(&self) -> impl Iterator<Item = (String, ndarray::ArrayViewD<'_, f32>)> {
        self.manifest
            .style_layers
            .iter()
            .zip(&self.targets.grams)
            .map(|(layer, g)| (format!("gram_{}", layer.name), g.view().into_dyn()))
    }
}
