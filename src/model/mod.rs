//! The VGG feature network on ONNX Runtime: the features graph (targets) and the loss-and-gradient graph.

pub mod cuda;
pub mod error;
mod loss_io;
pub mod manifest;
pub mod runtime;
pub mod targets;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use ndarray::{Array2, ArrayView4, Ix2, Ix4};
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session, SessionInputValue};
use ort::value::{Tensor, TensorRef};

use crate::optim::{DeviceVector, Graphs, Traffic};
use loss_io::{read_terms, LossInputs, TERMS};

pub use error::Error;
pub use manifest::Manifest;
pub use runtime::{Backend, Device, SessionConfig};
pub use targets::{blend_grams, Features, LossTerms, LossWeights, Targets, TemporalTarget};

/// The default model directory, relative to the project root.
pub const DEFAULT_MODEL: &str = "models/vgg19";

/// An exported model opened on a device: one session per graph.
pub struct Model {
    manifest: Manifest,
    dir: PathBuf,
    features: Session,
    loss: Session,
    backend: Backend,
    config: SessionConfig,
    run_seconds: f64,
    /// Why CUDA did not start when `auto` fell back to the CPU.
    fallback: Option<cuda::CudaError>,
    /// The loss graph's binding for device vectors, with the targets bound.
    bound: Option<Bound>,
}

/// The loss graph's IO binding: targets uploaded once, image and gradient bound per evaluation.
struct Bound {
    binding: IoBinding,
    /// The style Grams last uploaded (uploaded again only when they change).
    grams: Vec<Array2<f32>>,
    /// Where the loss terms are copied to.
    host: MemoryInfo<'static>,
    traffic: Traffic,
}

impl Model {
    /// Opens the model in `dir` (see [`resolve_dir`]) and checks the graphs against its manifest.
    pub fn load(dir: &Path, config: &SessionConfig) -> Result<Model> {
        let manifest = Manifest::load(dir)?;
        let features = runtime::open_session(&Manifest::path(dir, &manifest.features), config)?;
        let backend = features.backend;
        let resolved = SessionConfig {
            device: backend.into(),
            ..*config
        };
        let loss = runtime::open_session(&Manifest::path(dir, &manifest.loss), &resolved)?;
        let model = Model {
            manifest,
            dir: dir.to_path_buf(),
            features: features.session,
            loss: loss.session,
            backend,
            config: resolved,
            run_seconds: 0.0,
            fallback: features.fallback,
            bound: None,
        };
        model.check_signature()?;
        tracing::info!(model = %model.dir.display(), %backend, "model loaded");
        Ok(model)
    }

    /// The manifest the model was exported with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the sessions run.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Why CUDA did not start, when [`Device::Auto`] fell back to the CPU.
    pub fn fallback(&self) -> Option<&cuda::CudaError> {
        self.fallback.as_ref()
    }

    /// The arithmetic of the convolutions: `tf32` with CUDA when allowed, else `fp32`.
    pub fn precision(&self) -> &'static str {
        match self.backend {
            Backend::Cuda(_) if self.config.tf32 => "tf32",
            _ => "fp32",
        }
    }

    /// Seconds spent inside ONNX Runtime's `run` by loss evaluations so far (the rest of an
    /// iteration is the optimizer's and the copies' share).
    pub fn run_seconds(&self) -> f64 {
        self.run_seconds
    }

    /// The optimizers' graphs on the model's device.
    pub fn optimizer_graphs(&self) -> Result<Graphs> {
        Graphs::open(
            &self.dir,
            &self.manifest.optimizer,
            &self.config,
            self.backend,
        )
    }

    /// Host↔device bytes moved by [`bind_targets`](Self::bind_targets) and
    /// [`loss_and_gradient_bound`](Self::loss_and_gradient_bound) so far.
    pub fn bound_traffic(&self) -> Traffic {
        self.bound.as_ref().map(|b| b.traffic).unwrap_or_default()
    }

    /// Uploads the targets and weights of the next optimization to the device for
    /// [`loss_and_gradient_bound`](Self::loss_and_gradient_bound): the style Grams only when they
    /// changed since the last call, the content and temporal targets every time.
    pub fn bind_targets(&mut self, targets: &Targets, weights: &LossWeights) -> Result<()> {
        let inputs = LossInputs::new(&self.manifest, targets, weights, None)?;
        if self.bound.is_none() {
            self.bound = Some(Bound {
                binding: self.loss.create_binding().map_err(ort_error)?,
                grams: Vec::new(),
                host: MemoryInfo::new(
                    AllocationDevice::CPU,
                    0,
                    AllocatorType::Device,
                    MemoryType::CPUOutput,
                )
                .map_err(ort_error)?,
                traffic: Traffic::default(),
            });
        }
        let bound = self.bound.as_mut().expect("made above");
        let mut upload = |name: &str, value: ndarray::ArrayViewD<f32>| -> Result<()> {
            let tensor = Tensor::from_array(value.to_owned()).map_err(ort_error)?;
            bound.binding.bind_input(name, &tensor).map_err(ort_error)?;
            bound.traffic.to_device += 4 * value.len() as u64;
            Ok(())
        };
        for (name, value) in inputs.per_run() {
            upload(&name, value)?;
        }
        if bound.grams != targets.grams {
            for (name, gram) in inputs.grams() {
                upload(&name, gram)?;
            }
            bound.grams = targets.grams.clone();
        }
        Ok(())
    }

    /// The loss terms at `image`, a device vector of 1×3×H×W, with ∂loss/∂image written into
    /// `grad` on the device, against the targets of the last [`bind_targets`](Self::bind_targets).
    /// Only the five loss terms cross to the host.
    pub fn loss_and_gradient_bound(
        &mut self,
        image: &DeviceVector,
        grad: &mut DeviceVector,
    ) -> Result<LossTerms> {
        let shape = image.tensor().shape();
        let min = self.manifest.input.min_side as i64;
        if shape.len() != 4 || shape[2] < min || shape[3] < min {
            bail!("image is {shape:?}: the model needs 1×3×H×W with at least {min} pixels on each side");
        }
        let Some(bound) = self.bound.as_mut() else {
            bail!("internal: loss evaluated before its targets were bound");
        };
        bound
            .binding
            .bind_input("image", image.tensor())
            .map_err(ort_error)?;
        bound
            .binding
            .bind_output("grad", grad.tensor_mut())
            .map_err(ort_error)?;
        for name in TERMS {
            bound
                .binding
                .bind_output_to_device(name, &bound.host)
                .map_err(ort_error)?;
        }
        let start = std::time::Instant::now();
        let outputs = self
            .loss
            .run_binding_with_options(&bound.binding, runtime::run_options()?)
            .map_err(runtime::run_error)?;
        let terms = read_terms(&outputs)?;
        let seconds = start.elapsed().as_secs_f64();
        self.run_seconds += seconds;
        bound.traffic.run_seconds += seconds;
        bound.traffic.to_host += 4 * TERMS.len() as u64;
        Ok(terms)
    }

    fn check_signature(&self) -> Result<()> {
        let m = &self.manifest;
        let grams: Vec<String> = m
            .style_layers
            .iter()
            .map(|l| format!("gram_{}", l.name))
            .collect();
        let contents: Vec<String> = m
            .content_layers
            .iter()
            .map(|l| format!("content_{}", l.name))
            .collect();
        let targets = grams.iter().chain(&contents).map(String::as_str);
        let features_outputs: Vec<&str> = targets.clone().collect();
        let loss_inputs: Vec<&str> = [
            "image",
            "style_weights",
            "content_weights",
            "tv_weight",
            "temporal_target",
            "temporal_mask",
            "temporal_weight",
        ]
        .into_iter()
        .chain(targets)
        .collect();
        let loss_outputs = [
            "loss",
            "content_loss",
            "style_loss",
            "tv_loss",
            "temporal_loss",
            "grad",
        ];
        let checks = [
            (&self.features, &m.features.file, "input", vec!["image"]),
            (&self.features, &m.features.file, "output", features_outputs),
            (&self.loss, &m.loss.file, "input", loss_inputs),
            (&self.loss, &m.loss.file, "output", loss_outputs.to_vec()),
        ];
        for (session, file, kind, expected) in checks {
            let names: Vec<&str> = if kind == "input" {
                session.inputs().iter().map(|o| o.name()).collect()
            } else {
                session.outputs().iter().map(|o| o.name()).collect()
            };
            if let Some(missing) = expected.iter().find(|e| !names.contains(e)) {
                return Err(Error::MismatchedGraph {
                    dir: self.dir.clone(),
                    file: file.clone(),
                    kind,
                    name: missing.to_string(),
                }
                .into());
            }
        }
        Ok(())
    }

    fn check_size(&self, image: &ArrayView4<f32>) -> Result<()> {
        let (n, c, h, w) = image.dim();
        let min = self.manifest.input.min_side;
        if n != 1 || c != 3 {
            bail!("internal: image tensor has shape {n}×{c}×{h}×{w}, expected 1×3×H×W");
        }
        if h < min || w < min {
            bail!("image is {w}×{h}: the model needs at least {min} pixels on each side");
        }
        Ok(())
    }

    /// Gram matrices and content activations of one image (RGB in [0, 1], 1×3×H×W). Ended by
    /// [`runtime::interrupt_runs`] as the loss is.
    pub fn features(&mut self, image: ArrayView4<f32>) -> Result<Features> {
        self.check_size(&image)?;
        let input = TensorRef::from_array_view(image).map_err(ort_error)?;
        let outputs = self
            .features
            .run_with_options(ort::inputs!["image" => input], runtime::run_options()?)
            .map_err(runtime::run_error)
            .context("computing features")?;
        let mut features = Features::default();
        for layer in &self.manifest.style_layers {
            let gram = outputs[format!("gram_{}", layer.name).as_str()]
                .try_extract_array::<f32>()
                .map_err(ort_error)?
                .into_dimensionality::<Ix2>()?
                .to_owned();
            features.grams.push(gram);
        }
        for layer in &self.manifest.content_layers {
            let content = outputs[format!("content_{}", layer.name).as_str()]
                .try_extract_array::<f32>()
                .map_err(ort_error)?
                .into_dimensionality::<Ix4>()?
                .to_owned();
            features.contents.push(content);
        }
        Ok(features)
    }

    /// The weighted loss terms at `image` (1×3×H×W) and, written into `grad` (same length), ∂loss/∂image.
    pub fn loss_and_gradient(
        &mut self,
        image: ArrayView4<f32>,
        targets: &Targets,
        weights: &LossWeights,
        grad: &mut [f32],
    ) -> Result<LossTerms> {
        self.check_size(&image)?;
        let given = LossInputs::new(&self.manifest, targets, weights, Some(image.dim()))?;
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> = vec![("image".into(), tensor(image)?)];
        for (name, value) in given.per_run().chain(given.grams()) {
            inputs.push((name.into(), tensor(value)?));
        }
        let start = std::time::Instant::now();
        let outputs = self
            .loss
            .run_with_options(inputs, runtime::run_options()?)
            .map_err(runtime::run_error)
            .context("evaluating the loss")?;
        self.run_seconds += start.elapsed().as_secs_f64();
        let terms = read_terms(&outputs)?;
        let (_, g) = outputs["grad"]
            .try_extract_tensor::<f32>()
            .map_err(ort_error)?;
        if g.len() != grad.len() {
            bail!(
                "internal: gradient has {} values, expected {}",
                g.len(),
                grad.len()
            );
        }
        grad.copy_from_slice(g);
        Ok(terms)
    }
}

/// The model directory: the one given, else [`DEFAULT_MODEL`] under the project root.
pub fn resolve_dir(given: Option<&Path>) -> PathBuf {
    match given {
        Some(dir) => dir.to_path_buf(),
        None => crate::project::find(Path::new(DEFAULT_MODEL))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL)),
    }
}

fn tensor<'v, D: ndarray::Dimension + 'static>(
    view: ndarray::ArrayView<'v, f32, D>,
) -> Result<SessionInputValue<'v>> {
    Ok(TensorRef::from_array_view(view).map_err(ort_error)?.into())
}

fn ort_error<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}
