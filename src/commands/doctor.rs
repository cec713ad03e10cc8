//! `stylize doctor`: what ONNX Runtime and the GPU look like from here, and why `--device cuda` would
//! or would not start.

use std::ffi::{c_char, c_int, CStr};
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use libloading::os::unix::{Library, RTLD_NOW};
use ort::ep::CUDA;
use ort::session::Session;

use super::model_errors;
use crate::model::cuda::{self, CudaError, Driver, SearchEnv, LIBRARIES};
use crate::model::runtime;

/// Prints the report on stdout; fails only when stdout does.
pub fn run() -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "stylize {}", env!("CARGO_PKG_VERSION"))?;

    let loaded = runtime::find_library()
        .map_err(|e| model_errors::library(&e))
        .and_then(|path| {
            runtime::environment()
                .map(|_| path)
                .map_err(|e| model_errors::message(&e))
        });
    match &loaded {
        Ok(path) => {
            let version = ort_version(path).unwrap_or_else(|| "(version unknown)".to_string());
            writeln!(out, "ONNX Runtime {version}: {}", path.display())?;
            let providers = providers().unwrap_or_else(|e| vec![format!("unknown ({e})")]);
            writeln!(out, "execution providers: {}", providers.join(", "))?;
        }
        Err(e) => {
            writeln!(out, "ONNX Runtime: not loaded: {e}")?;
        }
    }

    match Driver::load() {
        Ok(driver) => {
            let version = cuda::cuda_version(driver.version);
            writeln!(out, "NVIDIA driver: CUDA {version}")?;
            match driver.gpus() {
                Ok(gpus) if gpus.is_empty() => writeln!(out, "GPUs: none")?,
                Ok(gpus) => {
                    for (n, name) in gpus.iter().enumerate() {
                        writeln!(out, "GPU cuda:{n}: {name}")?;
                    }
                }
                Err(e) => writeln!(out, "GPUs: none: {e}")?,
            }
        }
        Err(e) => {
            writeln!(out, "NVIDIA driver: none: {e}")?;
            writeln!(out, "GPUs: none")?;
        }
    }

    let places = cuda::places(&SearchEnv::from_process());
    writeln!(
        out,
        "CUDA libraries (looked in {}):",
        cuda::looked_in(&places)
    )?;
    for library in &LIBRARIES {
        let optional = if library.required { "" } else { " (optional)" };
        match cuda::load(library, &places) {
            Ok(path) => writeln!(out, "  {:<18} {}", library.name, path.display())?,
            Err(CudaError::NotFound { .. }) => {
                writeln!(out, "  {:<18} not found{optional}", library.name)?;
            }
            Err(e) => writeln!(
                out,
                "  {:<18} {}{optional}",
                library.name,
                model_errors::cuda_reason(&e)
            )?,
        }
    }

    let ready = match &loaded {
        Ok(_) => try_cuda_provider(),
        Err(e) => Err(format!("ONNX Runtime is not loaded: {e}")),
    };
    match ready.map_err(|e| e.lines().next().unwrap_or_default().to_string()) {
        Ok(()) => writeln!(
            out,
            "--device cuda: ready (the CUDA provider registered on cuda:0)"
        )?,
        Err(e) => writeln!(out, "--device cuda: cannot start: {e}")?,
    }
    Ok(())
}

/// The version ONNX Runtime's library at `path` reports (`OrtGetApiBase()->GetVersionString()`).
fn ort_version(path: &Path) -> Option<String> {
    // SAFETY: the ONNX Runtime library `environment` has already loaded; opening it again only
    // counts a reference. OrtGetApiBase returns a static struct whose GetVersionString returns a
    // static NUL-terminated string.
    unsafe {
        let library = Library::open(Some(path), RTLD_NOW).ok()?;
        let base = library
            .get::<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase>(b"OrtGetApiBase\0")
            .ok()?();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        (!version.is_null()).then(|| CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

/// The execution providers this ONNX Runtime was built with (`GetAvailableProviders`).
fn providers() -> Result<Vec<String>, String> {
    let api = ort::api();
    let mut list: *mut *mut c_char = std::ptr::null_mut();
    let mut count: c_int = 0;
    // SAFETY: the C API's documented contract: on success `list` holds `count` NUL-terminated
    // strings until ReleaseAvailableProviders; a returned status is freed with ReleaseStatus.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut list, &mut count);
        if !status.0.is_null() {
            let message = CStr::from_ptr((api.GetErrorMessage)(status.0))
                .to_string_lossy()
                .into_owned();
            (api.ReleaseStatus)(status.0);
            return Err(message);
        }
        if list.is_null() {
            return Ok(Vec::new());
        }
        let names = (0..usize::try_from(count).unwrap_or(0))
            .map(|i| CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned())
            .collect();
        let status = (api.ReleaseAvailableProviders)(list, count);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
        }
        Ok(names)
    }
}

/// Readies the CUDA provider and registers it on a session builder, as `--device cuda` does before
/// opening a model.
fn try_cuda_provider() -> Result<(), String> {
    let environment = runtime::environment().map_err(|e| model_errors::message(&e))?;
    cuda::prepare(0).map_err(|e| model_errors::cuda_reason(&e))?;
    Session::builder(environment)
        .map_err(|e| e.to_string())?
        .with_execution_providers([CUDA::default().with_device_id(0).build().error_on_failure()])
        .map(|_| ())
        .map_err(|e| e.to_string())
}
