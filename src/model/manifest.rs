//! The manifest that `scripts/export_model.py` writes beside the graphs: layers, preprocessing, files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{BadManifest, Error, Missing};
use crate::optim::GraphFiles;

/// The manifest format this build reads.
pub const FORMAT: u32 = 1;

/// One network layer whose output the losses use.
#[derive(Clone, Debug, Deserialize)]
pub struct Layer {
    /// The neural-style name, e.g. `relu4_2`.
    pub name: String,
    /// Feature channels at that layer.
    pub channels: usize,
    /// How many input pixels one of its pixels spans on a side (1, 2, 4, …); 1 when the
    /// manifest does not say (an over-estimate of its memory).
    #[serde(default = "unit_stride")]
    pub stride: usize,
}

fn unit_stride() -> usize {
    1
}

/// A graph file named by the manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct GraphFile {
    /// File name inside the model directory.
    pub file: String,
}

/// Floating-point work per input pixel, for benchmarks.
#[derive(Clone, Debug, Deserialize)]
pub struct Flops {
    /// FLOPs of one loss-and-gradient evaluation, per input pixel.
    pub loss_per_pixel: f64,
    /// FLOPs of the Gram-matrix products of one features evaluation (the loss graph does them
    /// forward and backward, so twice this), per input pixel.
    pub gram_per_pixel: f64,
}

/// The input image's constraints.
#[derive(Clone, Debug, Deserialize)]
pub struct Input {
    /// The smallest height or width the graphs accept.
    pub min_side: usize,
}

/// `manifest.json` of one exported model.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    /// Manifest format version; must equal [`FORMAT`].
    pub format: u32,
    /// `vgg19`, `tiny`, …
    pub name: String,
    /// `max` or `avg`.
    pub pooling: String,
    /// The input image's constraints.
    pub input: Input,
    /// Layers whose Gram matrices make the style loss, in graph order.
    pub style_layers: Vec<Layer>,
    /// Layers whose activations make the content loss, in graph order.
    pub content_layers: Vec<Layer>,
    /// Image → Gram matrices and content activations.
    pub features: GraphFile,
    /// Image, targets, weights → loss terms and gradient.
    pub loss: GraphFile,
    /// The optimizers' vector algebra, run on the model's device.
    pub optimizer: GraphFiles,
    /// Work per pixel, for benchmarks.
    pub flops: Flops,
}

impl Manifest {
    /// Reads and checks `DIR/manifest.json` and that the graphs it names exist.
    pub fn load(dir: &Path) -> Result<Manifest, Error> {
        let path = dir.join("manifest.json");
        if !dir.is_dir() {
            return Err(Error::ModelMissing(Missing::Directory(dir.to_path_buf())));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::ModelMissing(Missing::Manifest {
                path: path.clone(),
                message: e.to_string(),
            })
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::BadManifest(BadManifest::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })
        })?;
        if manifest.format != FORMAT {
            return Err(Error::BadManifest(BadManifest::Format {
                path,
                found: manifest.format,
            }));
        }
        if manifest.style_layers.is_empty() {
            return Err(Error::BadManifest(BadManifest::NoStyleLayers(path)));
        }
        let optimizer = manifest.optimizer.all();
        for graph in [&manifest.features, &manifest.loss]
            .into_iter()
            .chain(optimizer)
        {
            let file = dir.join(&graph.file);
            if !file.is_file() {
                return Err(Error::ModelMissing(Missing::Graph(file)));
            }
        }
        Ok(manifest)
    }

    /// The path of a graph file inside `dir`.
    pub fn path(dir: &Path, graph: &GraphFile) -> PathBuf {
        dir.join(&graph.file)
    }
}

impl Manifest {
    /// A lower bound on the memory, in bytes, of optimizing an image of `pixels` with `vectors`
    /// image-sized vectors of the optimizer (L-BFGS: 2 × history + 6), against style images of
    /// `style_pixels` in all. Per image pixel: the named layers' activations
    /// Σ channels/stride² floats, counted 16 times for the loss's forward and backward passes
    /// (the convolutions between the named layers, their ReLU masks, gradients and ONNX
    /// Runtime's work buffers; measured at 12–50× on the CPU), and 3 floats per optimizer
    /// vector; per style pixel the same activations 4 times (a forward pass).
    pub fn memory_estimate(&self, pixels: u64, vectors: u64, style_pixels: u64) -> u64 {
        let per_pixel: f64 = self
            .style_layers
            .iter()
            .chain(&self.content_layers)
            .map(|l| l.channels as f64 / (l.stride.max(1) as f64).powi(2))
            .sum();
        let activations = 4.0 * per_pixel;
        let image = pixels as f64 * (16.0 * activations + 12.0 * vectors as f64);
        let styles = style_pixels as f64 * 4.0 * activations;
        (image + styles) as u64
    }
}
