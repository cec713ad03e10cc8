//! Loading ONNX Runtime's shared library and opening sessions on the chosen device.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};
use ort::environment::Environment;
use ort::ep::{ExecutionProviderDispatch, CUDA};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::cuda;
use crate::project;

/// The device a user asks for with `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// CUDA when it works, else the CPU (with one notice line).
    Auto,
    /// ONNX Runtime's CPU execution provider.
    Cpu,
    /// The CUDA execution provider on GPU N; an error when it is not usable.
    Cuda(i32),
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<u16>().ok())
                .map(|n| Device::Cuda(i32::from(n)))
                .ok_or_else(|| format!("'{s}' is not a device: use auto, cpu, cuda or cuda:N")),
        }
    }
}

/// Where a session actually runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The CPU execution provider.
    Cpu,
    /// The CUDA execution provider on this GPU.
    Cuda(i32),
}

impl From<Backend> for Device {
    fn from(backend: Backend) -> Device {
        match backend {
            Backend::Cpu => Device::Cpu,
            Backend::Cuda(n) => Device::Cuda(n),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Cpu => write!(f, "cpu"),
            Backend::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// How sessions are opened: device and CPU threads.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// The device asked for.
    pub device: Device,
    /// Threads for ONNX Runtime's intra-op pool.
    pub threads: usize,
    /// Print no notice when `auto` falls back to the CPU.
    pub quiet: bool,
    /// Let CUDA use TensorFloat-32 for convolutions and matrix products.
    pub tf32: bool,
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, loading the shared library on first use from `ORT_DYLIB_PATH`,
/// else from the project's `.venv`.
pub fn environment() -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = find_library().map_err(|e| e.to_string())?;
            let environment = ort::init_from(&path)
                .map(|builder| builder.with_name("stylize").build())
                .map_err(|e| e.to_string())
                .and_then(|built| built.map_err(|e| e.to_string()))
                .map_err(|e| {
                    format!(
                        "cannot load ONNX Runtime from '{}': {e}; run scripts/setup.sh, or point ORT_DYLIB_PATH at libonnxruntime.so 1.31 or newer",
                        path.display()
                    )
                })?;
            tracing::info!(library = %path.display(), "loaded ONNX Runtime");
            Ok(environment)
        })
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// The ONNX Runtime library [`environment`] loads: `ORT_DYLIB_PATH`, else the one in the project's `.venv`.
pub fn find_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "ORT_DYLIB_PATH is '{}', which is not a file: point it at libonnxruntime.so, or unset it to use the project's .venv",
                path.display()
            );
        }
        return Ok(path);
    }
    for root in project::search_roots() {
        let lib = root.join(".venv").join("lib");
        let Ok(pythons) = std::fs::read_dir(&lib) else {
            continue;
        };
        for python in pythons.flatten() {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            let Ok(files) = std::fs::read_dir(&capi) else {
                continue;
            };
            let mut found: Vec<PathBuf> = files
                .flatten()
                .map(|f| f.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                })
                .collect();
            found.sort();
            if let Some(path) = found.pop() {
                return Ok(path);
            }
        }
    }
    bail!("cannot find the ONNX Runtime library: run scripts/setup.sh (it installs one into .venv), or set ORT_DYLIB_PATH to a libonnxruntime.so (1.31 or newer)")
}

/// Opens one ONNX model file as a session on the configured device.
pub fn open_session(path: &Path, config: &SessionConfig) -> Result<(Session, Backend)> {
    let environment = environment()?;
    let open = |eps: Vec<ExecutionProviderDispatch>| -> Result<Session> {
        Session::builder(environment)
            .map_err(|e| anyhow!("{e}"))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| anyhow!("{e}"))?
            .with_intra_threads(config.threads)
            .map_err(|e| anyhow!("{e}"))?
            .with_execution_providers(eps)
            .map_err(|e| anyhow!("{e}"))?
            .commit_from_file(path)
            .map_err(|e| anyhow!("{e}"))
    };
    let cuda = |n: i32| {
        vec![CUDA::default()
            .with_device_id(n)
            .with_tf32(config.tf32)
            .build()
            .error_on_failure()]
    };
    let model_error = |e: anyhow::Error| {
        anyhow!(
            "cannot load model '{}': {e}; run scripts/setup.sh to regenerate it",
            path.display()
        )
    };
    match config.device {
        Device::Cpu => Ok((open(Vec::new()).map_err(model_error)?, Backend::Cpu)),
        Device::Cuda(n) => {
            cuda::prepare(n).map_err(|e| anyhow!("cannot use --device cuda:{n}: {e}"))?;
            let session = open(cuda(n)).map_err(|e| {
                anyhow!("cannot use --device cuda:{n}: {e}; install the GPU build of ONNX Runtime (scripts/setup.sh --gpu) with a working NVIDIA driver, or use --device cpu")
            })?;
            Ok((session, Backend::Cuda(n)))
        }
        Device::Auto => match cuda::prepare(0)
            .map_err(anyhow::Error::from)
            .and_then(|()| open(cuda(0)))
        {
            Ok(session) => Ok((session, Backend::Cuda(0))),
            Err(e) => {
                tracing::debug!("CUDA unavailable: {e}");
                let session = open(Vec::new()).map_err(model_error)?;
                if !config.quiet {
                    let reason = e.to_string();
                    let reason = reason.lines().next().unwrap_or_default();
                    eprintln!("note: running on the CPU: {reason}");
                }
                Ok((session, Backend::Cpu))
            }
        },
    }
}

/// ONNX Runtime's error, said plainly when the device ran out of memory.
pub fn out_of_memory(e: ort::Error) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("Failed to allocate memory")
        || text.contains("out of memory")
        || text.contains("bad_alloc")
    {
        anyhow!("out of memory on the device: try a smaller --size or a shorter --lbfgs-history")
    } else {
        anyhow!("{text}")
    }
}
