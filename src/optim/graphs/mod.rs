//! The optimizers' algebra on the model's device: each operation is a small ONNX graph
//! (`optim_*.onnx`, written by `scripts/export_model.py`) run through IO binding, so vectors stay in
//! device memory and only step sizes and dot products cross to the host. On the CPU provider the
//! same code runs in host memory, which is how the tests check it against [`super::Host`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use ndarray::{ArrayView4, ArrayViewMut4};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use serde::Deserialize;

use super::bands::BANDS;
use super::{AdamStep, Algebra, Traffic};
use crate::model::manifest::GraphFile;
use crate::model::runtime::{self, out_of_memory, run_error, Backend, SessionConfig};
use crate::model::Manifest;

/// The optimizer's graph files of one exported model, by operation (in its manifest).
#[derive(Clone, Debug, Deserialize)]
pub struct GraphFiles {
    /// `z = a·x + b·y`.
    pub combine: GraphFile,
    /// `z = a·x + b·y` and `wᵀz`.
    pub combine_dot: GraphFile,
    /// `xᵀy`.
    pub dot: GraphFile,
    /// `max |x|`.
    pub norm_inf: GraphFile,
    /// A curvature pair and its three products.
    pub pair: GraphFile,
    /// Adam's update.
    pub adam: GraphFile,
    /// A weighted sum of the vector and its tent blurs (see [`Graphs::bands`]).
    pub bands: GraphFile,
}

impl GraphFiles {
    /// Every file, for checks.
    pub fn all(&self) -> [&GraphFile; 7] {
        [
            &self.combine,
            &self.combine_dot,
            &self.dot,
            &self.norm_inf,
            &self.pair,
            &self.adam,
            &self.bands,
        ]
    }
}

/// A vector in the device's memory, shaped like the image (N×C×H×W).
#[derive(Debug)]
pub struct DeviceVector {
    tensor: Tensor<f32>,
    /// Changes whenever the contents do (vectors equal by tag hold equal values).
    tag: u64,
}

impl DeviceVector {
    /// The underlying tensor, to bind as a graph's input.
    pub fn tensor(&self) -> &Tensor<f32> {
        &self.tensor
    }

    /// The underlying tensor, to bind as a graph's output; the contents count as changed.
    pub fn tensor_mut(&mut self) -> &mut Tensor<f32> {
        self.tag = fresh_tag();
        &mut self.tensor
    }

    /// The values, when they are in host memory (the CPU provider).
    pub fn host_slice(&self) -> Result<&[f32]> {
        Ok(self
            .tensor
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow!("vector is not in host memory: {e}"))?
            .1)
    }

    /// The values, writable, when they are in host memory; the contents count as changed.
    pub fn host_slice_mut(&mut self) -> Result<&mut [f32]> {
        self.tag = fresh_tag();
        Ok(self
            .tensor
            .try_extract_tensor_mut::<f32>()
            .map_err(|e| anyhow!("vector is not in host memory: {e}"))?
            .1)
    }
}

/// A tag no vector has had.
fn fresh_tag() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One graph: its session and a binding reused from run to run.
struct Graph {
    session: Session,
    binding: IoBinding,
}

/// The optimizers' algebra as ONNX graphs on one device.
pub struct Graphs {
    combine: Graph,
    combine_dot: Graph,
    dot: Graph,
    norm_inf: Graph,
    pair: Graph,
    adam: Graph,
    bands: Graph,
    /// Allocates vectors on the device.
    allocator: Allocator,
    /// Where scalar results are copied to.
    host: MemoryInfo<'static>,
    device_memory: bool,
    traffic: Traffic,
}

impl std::fmt::Debug for Graphs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graphs")
            .field("device_memory", &self.device_memory)
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl Graphs {
    /// Opens the graphs on `backend` (the device the model's sessions run on).
    pub fn open(
        dir: &Path,
        files: &GraphFiles,
        config: &SessionConfig,
        backend: Backend,
    ) -> Result<Graphs> {
        let config = SessionConfig {
            device: backend.into(),
            ..*config
        };
        let open = |file: &GraphFile| -> Result<Graph> {
            let session = runtime::open_session(&Manifest::path(dir, file), &config)?.session;
            let binding = session.create_binding().map_err(ort_error)?;
            Ok(Graph { session, binding })
        };
        let combine = open(&files.combine)?;
        let allocator = match backend {
            Backend::Cpu => Allocator::default(),
            Backend::Cuda(n) => Allocator::new(
                &combine.session,
                MemoryInfo::new(
                    AllocationDevice::CUDA,
                    n,
                    AllocatorType::Device,
                    MemoryType::Default,
                )
                .map_err(ort_error)?,
            )
            .map_err(ort_error)
            .context("cannot allocate on the GPU")?,
        };
        Ok(Graphs {
            combine,
            combine_dot: open(&files.combine_dot)?,
            dot: open(&files.dot)?,
            norm_inf: open(&files.norm_inf)?,
            pair: open(&files.pair)?,
            adam: open(&files.adam)?,
            bands: open(&files.bands)?,
            allocator,
            host: MemoryInfo::new(
                AllocationDevice::CPU,
                0,
                AllocatorType::Device,
                MemoryType::CPUOutput,
            )
            .map_err(ort_error)?,
            device_memory: backend != Backend::Cpu,
            traffic: Traffic::default(),
        })
    }

    /// A new device vector holding `image`.
    pub fn upload(&mut self, image: ArrayView4<f32>) -> Result<DeviceVector> {
        let shape: Vec<i64> = image.shape().iter().map(|&d| d as i64).collect();
        let mut tensor =
            Tensor::<f32>::new(&self.allocator, shape.clone()).map_err(out_of_memory)?;
        let values: Vec<f32> = image.iter().copied().collect();
        if self.device_memory {
            let staged = Tensor::from_array((shape, values)).map_err(ort_error)?;
            staged.copy_into(&mut tensor).map_err(ort_error)?;
            self.traffic.to_device += 4 * image.len() as u64;
        } else {
            let (_, slice) = tensor.try_extract_tensor_mut::<f32>().map_err(ort_error)?;
            slice.copy_from_slice(&values);
        }
        Ok(DeviceVector {
            tensor,
            tag: fresh_tag(),
        })
    }

    /// Copies `vector` into `image` (of the same shape) in host memory.
    pub fn download(&mut self, vector: &DeviceVector, mut image: ArrayViewMut4<f32>) -> Result<()> {
        let staged;
        let values = if self.device_memory {
            staged = {
                let mut t =
                    Tensor::<f32>::new(&Allocator::default(), vector.tensor.shape().to_vec())
                        .map_err(ort_error)?;
                vector.tensor.copy_into(&mut t).map_err(ort_error)?;
                t
            };
            self.traffic.to_host += 4 * image.len() as u64;
            staged.try_extract_tensor::<f32>().map_err(ort_error)?.1
        } else {
            vector.host_slice()?
        };
        if values.len() != image.len() {
            bail!(
                "internal: downloading {} values into {}",
                values.len(),
                image.len()
            );
        }
        image.iter_mut().zip(values).for_each(|(d, &s)| *d = s);
        Ok(())
    }

    /// y = base + w₀·x + Σₖ wₖ·Tₖx, k = 1..=`weights.len() − 1`, Tₖ a tent blur 2ᵏ⁺¹ + 1 pixels wide,
    /// as [`super::Bands`] computes it on the host.
    pub fn bands(
        &mut self,
        weights: &[f32],
        base: &DeviceVector,
        x: &DeviceVector,
        y: &mut DeviceVector,
    ) -> Result<()> {
        const NAMES: [&str; BANDS + 1] = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"];
        if weights.len() > NAMES.len() {
            bail!(
                "internal: {} band weights for a graph of {BANDS} bands",
                weights.len() - 1
            );
        }
        let scalars: Vec<(&str, f32)> = NAMES
            .iter()
            .enumerate()
            .map(|(k, &name)| (name, weights.get(k).copied().unwrap_or(0.0)))
            .collect();
        self.run(
            |g| &mut g.bands,
            &[("x", x), ("base", base)],
            &scalars,
            &mut [("y", y)],
            &[],
        )?;
        Ok(())
    }

    /// A step size as a graph input (one float crosses to the device).
    fn scalar(&mut self, value: f32) -> Result<Tensor<f32>> {
        self.traffic.to_device += 4;
        Tensor::from_array(([1usize], vec![value])).map_err(ort_error)
    }

    /// Runs `graph` with the vectors in `inputs` and `scalars` bound, writing `outputs` in place and
    /// returning the scalar results named in `results` (as float64).
    fn run(
        &mut self,
        which: fn(&mut Graphs) -> &mut Graph,
        inputs: &[(&str, &DeviceVector)],
        scalars: &[(&str, f32)],
        outputs: &mut [(&str, &mut DeviceVector)],
        results: &[&str],
    ) -> Result<Vec<f64>> {
        let scalars = scalars
            .iter()
            .map(|&(name, v)| Ok((name, self.scalar(v)?)))
            .collect::<Result<Vec<_>>>()?;
        for (_, output) in outputs.iter_mut() {
            output.tag = fresh_tag();
        }
        let host = self.host.clone();
        let start = Instant::now();
        let graph = which(self);
        let binding = &mut graph.binding;
        for (name, vector) in inputs {
            binding
                .bind_input(*name, &vector.tensor)
                .map_err(ort_error)?;
        }
        for (name, value) in &scalars {
            binding.bind_input(*name, value).map_err(ort_error)?;
        }
        for (name, vector) in outputs.iter_mut() {
            binding
                .bind_output(*name, &mut vector.tensor)
                .map_err(ort_error)?;
        }
        for name in results {
            binding
                .bind_output_to_device(*name, &host)
                .map_err(ort_error)?;
        }
        let mut bytes = 0;
        let values = {
            let outputs = graph
                .session
                .run_binding_with_options(&graph.binding, runtime::run_options()?)
                .map_err(run_error)?;
            results
                .iter()
                .map(|name| {
                    let value = outputs
                        .get(name)
                        .ok_or_else(|| anyhow!("internal: graph has no output '{name}'"))?;
                    // Dot products come as float64, norms as float32.
                    match value.try_extract_scalar::<f64>() {
                        Ok(v) => {
                            bytes += 8;
                            Ok(v)
                        }
                        Err(_) => {
                            bytes += 4;
                            Ok(f64::from(
                                value.try_extract_scalar::<f32>().map_err(ort_error)?,
                            ))
                        }
                    }
                })
                .collect::<Result<Vec<f64>>>()?
        };
        self.traffic.run_seconds += start.elapsed().as_secs_f64();
        self.traffic.to_host += bytes;
        Ok(values)
    }
}

impl Algebra for Graphs {
    type Vector = DeviceVector;
    type Error = anyhow::Error;

    fn alloc_like(&mut self, like: &DeviceVector) -> Result<DeviceVector> {
        let tensor = Tensor::<f32>::new(&self.allocator, like.tensor.shape().to_vec())
            .map_err(out_of_memory)?;
        Ok(DeviceVector {
            tensor,
            tag: fresh_tag(),
        })
    }

    fn len(&self, v: &DeviceVector) -> usize {
        v.tensor.shape().num_elements()
    }

    fn traffic(&self) -> Traffic {
        self.traffic
    }

    fn combine(
        &mut self,
        a: f32,
        x: &DeviceVector,
        b: f32,
        y: &DeviceVector,
        z: &mut DeviceVector,
    ) -> Result<()> {
        self.run(
            |g| &mut g.combine,
            &[("x", x), ("y", y)],
            &[("a", a), ("b", b)],
            &mut [("z", z)],
            &[],
        )?;
        Ok(())
    }

    fn combine_dot(
        &mut self,
        a: f32,
        x: &DeviceVector,
        b: f32,
        y: &DeviceVector,
        w: &DeviceVector,
        z: &mut DeviceVector,
    ) -> Result<f64> {
        let r = self.run(
            |g| &mut g.combine_dot,
            &[("x", x), ("y", y), ("w", w)],
            &[("a", a), ("b", b)],
            &mut [("z", z)],
            &["wz"],
        )?;
        Ok(r[0])
    }

    fn dot(&mut self, x: &DeviceVector, y: &DeviceVector) -> Result<f64> {
        let r = self.run(|g| &mut g.dot, &[("x", x), ("y", y)], &[], &mut [], &["xy"])?;
        Ok(r[0])
    }

    fn norm_inf(&mut self, x: &DeviceVector) -> Result<f32> {
        let r = self.run(|g| &mut g.norm_inf, &[("x", x)], &[], &mut [], &["m"])?;
        // A float32 result, exact through float64.
        Ok(r[0] as f32)
    }

    fn all_finite(&mut self, x: &DeviceVector) -> Result<bool> {
        // Squares of finite floats summed in float64 cannot overflow.
        Ok(self.dot(x, x)?.is_finite())
    }

    fn pair(
        &mut self,
        x1: &DeviceVector,
        x0: &DeviceVector,
        g1: &DeviceVector,
        g0: &DeviceVector,
        s: &mut DeviceVector,
        y: &mut DeviceVector,
    ) -> Result<(f64, f64, f64)> {
        let r = self.run(
            |g| &mut g.pair,
            &[("x1", x1), ("x0", x0), ("g1", g1), ("g0", g0)],
            &[],
            &mut [("s", s), ("y", y)],
            &["ss", "sy", "yy"],
        )?;
        Ok((r[0], r[1], r[2]))
    }

    fn adam(
        &mut self,
        p: &AdamStep,
        x: &DeviceVector,
        g: &DeviceVector,
        (m, v): (&DeviceVector, &DeviceVector),
        (m_next, v_next): (&mut DeviceVector, &mut DeviceVector),
        xt: &mut DeviceVector,
    ) -> Result<()> {
        self.run(
            |g| &mut g.adam,
            &[("x", x), ("g", g), ("m", m), ("v", v)],
            &[
                ("beta1", p.beta1),
                ("c1", p.c1),
                ("beta2", p.beta2),
                ("c2", p.c2),
                ("step", p.step),
                ("inv_sqrt_bc2", p.inv_sqrt_bc2),
                ("eps", p.eps),
            ],
            &mut [("xt", xt), ("m_new", m_next), ("v_new", v_next)],
            &[],
        )?;
        Ok(())
    }

    fn assign(&mut self, dst: &mut DeviceVector, src: &DeviceVector) -> Result<()> {
        self.combine(1.0, src, 0.0, src, dst)?;
        dst.tag = src.tag;
        Ok(())
    }

    fn same(&mut self, a: &DeviceVector, b: &DeviceVector) -> Result<bool> {
        Ok(a.tag == b.tag)
    }
}

fn ort_error(e: ort::Error) -> anyhow::Error {
    anyhow!("{e}")
}

#[cfg(test)]
mod tests;
