//! Loading ONNX Runtime's shared library and opening sessions on the chosen device.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{ExecutionProviderDispatch, CUDA};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};

use super::cuda::{self, CudaError};
use super::error::{Error, LibraryError};
use crate::project;

/// The device a user asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// CUDA when it works, else the CPU (and [`Opened::fallback`] says why).
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
    /// Let CUDA use TensorFloat-32 for convolutions and matrix products.
    pub tf32: bool,
}

static ENVIRONMENT: OnceLock<Result<Environment, LibraryError>> = OnceLock::new();

/// The process's ONNX Runtime environment, loading the shared library on first use from `ORT_DYLIB_PATH`,
/// else from the project's `.venv`.
pub fn environment() -> Result<&'static Environment, Error> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = find_library()?;
            let environment = ort::init_from(&path)
                .map(|builder| builder.with_name("stylize").build())
                .map_err(|e| e.to_string())
                .and_then(|built| built.map_err(|e| e.to_string()))
                .map_err(|message| LibraryError::LoadFailed {
                    path: path.clone(),
                    message,
                })?;
            tracing::info!(library = %path.display(), "loaded ONNX Runtime");
            Ok(environment)
        })
        .as_ref()
        .map_err(|e| Error::LibraryMissing(e.clone()))
}

/// The ONNX Runtime library [`environment`] loads: `ORT_DYLIB_PATH`, else the one in the project's `.venv`.
pub fn find_library() -> Result<PathBuf, LibraryError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(LibraryError::NotAFile(path));
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
    Err(LibraryError::NotFound)
}

/// A session opened by [`open_session`].
pub struct Opened {
    /// The session.
    pub session: Session,
    /// Where it runs.
    pub backend: Backend,
    /// Why CUDA did not start when [`Device::Auto`] fell back to the CPU; the caller tells the user.
    pub fallback: Option<CudaError>,
}

/// Opens one ONNX model file as a session on the configured device.
pub fn open_session(path: &Path, config: &SessionConfig) -> Result<Opened, Error> {
    let environment = environment()?;
    let open = |eps: Vec<ExecutionProviderDispatch>| -> Result<Session, String> {
        Session::builder(environment)
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| e.to_string())?
            .with_intra_threads(config.threads)
            .map_err(|e| e.to_string())?
            .with_execution_providers(eps)
            .map_err(|e| e.to_string())?
            .commit_from_file(path)
            .map_err(|e| e.to_string())
    };
    let on_cuda = |n: i32| {
        cuda::prepare(n)?;
        open(vec![CUDA::default()
            .with_device_id(n)
            .with_tf32(config.tf32)
            .build()
            .error_on_failure()])
        .map_err(CudaError::ProviderFailed)
    };
    let on_cpu = || {
        open(Vec::new()).map_err(|message| Error::BadGraph {
            path: path.to_path_buf(),
            message,
        })
    };
    let opened = |session, backend, fallback| Opened {
        session,
        backend,
        fallback,
    };
    match config.device {
        Device::Cpu => Ok(opened(on_cpu()?, Backend::Cpu, None)),
        Device::Cuda(n) => match on_cuda(n) {
            Ok(session) => Ok(opened(session, Backend::Cuda(n), None)),
            Err(reason) => Err(Error::CudaUnavailable { device: n, reason }),
        },
        Device::Auto => match on_cuda(0) {
            Ok(session) => Ok(opened(session, Backend::Cuda(0), None)),
            Err(reason) => {
                tracing::debug!("CUDA unavailable: {reason}");
                Ok(opened(on_cpu()?, Backend::Cpu, Some(reason)))
            }
        },
    }
}

/// Set by [`interrupt_runs`].
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The options of the runs [`interrupt_runs`] ends; made once ONNX Runtime is loaded.
static RUN_OPTIONS: OnceLock<Result<RunOptions, String>> = OnceLock::new();

/// The options to run the long graphs with (the loss and the optimizer's): runs with them end
/// within one operator of [`interrupt_runs`], with [`Error::Interrupted`].
pub fn run_options() -> Result<&'static RunOptions, Error> {
    environment()?;
    let options = RUN_OPTIONS
        .get_or_init(|| RunOptions::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|message| Error::Internal(format!("cannot make run options: {message}")))?;
    // An interrupt that came before the options existed.
    if INTERRUPTED.load(Ordering::SeqCst) {
        let _ = options.terminate();
    }
    Ok(options)
}

/// Ends the runs in progress and every later one made with [`run_options`] (on Ctrl-C or
/// SIGTERM, from any thread): the process is stopping.
pub fn interrupt_runs() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    if let Some(Ok(options)) = RUN_OPTIONS.get() {
        let _ = options.terminate();
    }
}

/// ONNX Runtime's error of a run, typed [`Error::Interrupted`] when [`interrupt_runs`] ended it
/// and [`Error::OutOfMemory`] when the device ran out of memory.
pub fn run_error(e: ort::Error) -> anyhow::Error {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Error::Interrupted.into();
    }
    out_of_memory(e)
}

/// Whether `error` is a run ended by [`interrupt_runs`].
pub fn is_interrupt(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| matches!(e.downcast_ref(), Some(Error::Interrupted)))
}

/// ONNX Runtime's error, typed [`Error::OutOfMemory`] when the device ran out of memory.
pub fn out_of_memory(e: ort::Error) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("Failed to allocate memory")
        || text.contains("out of memory")
        || text.contains("bad_alloc")
    {
        Error::OutOfMemory.into()
    } else {
        anyhow::anyhow!("{text}")
    }
}
