//! What ONNX Runtime's CUDA provider needs besides itself: an NVIDIA driver for CUDA 13, and the
//! CUDA 13 and cuDNN 9 libraries.
//!
//! The provider links `libcudart.so.13`, `libcublasLt.so.13`, `libcublas.so.13` and `libcurand.so.10`
//! and opens cuDNN later, all by name, so the loader would look for them only on its own path. As
//! onnxruntime's Python package does (`onnxruntime.preload_dlls()`), they are loaded here first, by
//! absolute path and globally, from the first of the [`places`] that has them; the provider then
//! finds them already loaded.

use std::ffi::{c_char, c_void, CStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
use thiserror::Error;

use crate::project;

mod driver;

pub use driver::{check_driver_version, cuda_version, Driver, NEEDED_DRIVER_CUDA};

/// Why the CUDA provider cannot start; each is one line (the caller adds what to do).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CudaError {
    /// `libcuda.so.1` does not load (the loader's message).
    #[error("no NVIDIA driver found ({0})")]
    NoDriver(String),
    /// The driver is older than CUDA 13.
    #[error("the NVIDIA driver supports CUDA {} but ONNX Runtime's GPU build needs CUDA 13: update the driver (580 or newer)", cuda_version(*.0))]
    DriverTooOld(i32),
    /// The driver sees no GPU (the driver's error).
    #[error("the NVIDIA driver sees no GPU ({0})")]
    NoGpu(String),
    /// `cuda:N` beyond the GPUs there are.
    #[error("there is no GPU {device}: the NVIDIA driver sees {count} (cuda:0 to cuda:{})", count - 1)]
    NoSuchGpu {
        /// The GPU asked for.
        device: i32,
        /// How many there are (at least one).
        count: i32,
    },
    /// The ONNX Runtime library is a build without the CUDA provider.
    #[error("this ONNX Runtime has no CUDA provider (the CPU build)")]
    NoProvider,
    /// A library is in none of the places.
    #[error("{library} not found (looked in {looked_in})")]
    NotFound {
        /// Its file name.
        library: &'static str,
        /// The places, in words ([`looked_in`]).
        looked_in: String,
    },
    /// A library was found but does not load (the loader's message).
    #[error("cannot load {library}: {message}")]
    LoadFailed {
        /// Its file name.
        library: &'static str,
        /// The loader's message, which names the file.
        message: String,
    },
    /// Everything loaded, but the provider did not start on the GPU (ONNX Runtime's message).
    #[error("{0}")]
    ProviderFailed(String),
}

/// One library the CUDA provider needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CudaLibrary {
    /// The file name the provider asks for.
    pub name: &'static str,
    /// Whether the provider cannot start without it (the others are used by a few operators only).
    pub required: bool,
}

const fn library(name: &'static str, required: bool) -> CudaLibrary {
    CudaLibrary { name, required }
}

/// The libraries, in the order they are loaded: each after those it links. onnxruntime's Python
/// package loads the same ones (cuDNN's sub-libraries are opened by `libcudnn.so.9` from its folder).
pub const LIBRARIES: [CudaLibrary; 7] = [
    library("libcudart.so.13", true),
    library("libcublasLt.so.13", true),
    library("libcublas.so.13", true),
    library("libcurand.so.10", true),
    library("libcufft.so.12", false),
    library("libnvrtc.so.13", false),
    library("libcudnn.so.9", true),
];

/// A place searched for the libraries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// How messages name it: `STYLIZE_CUDA_LIBS`, `/x/.venv/lib/python*/site-packages/nvidia/*/lib`, …
    pub label: String,
    /// Its folders, searched in order.
    pub dirs: Vec<PathBuf>,
}

/// What decides where the libraries are looked for.
#[derive(Clone, Debug, Default)]
pub struct SearchEnv {
    /// `STYLIZE_CUDA_LIBS`: colon-separated folders.
    pub cuda_libs: Option<OsString>,
    /// Virtualenvs whose `nvidia/*/lib` folders are searched: the project's `.venv`, `VIRTUAL_ENV`.
    pub virtualenvs: Vec<PathBuf>,
    /// CUDA toolkits: `CUDA_HOME`, `CUDA_PATH`.
    pub toolkits: Vec<PathBuf>,
    /// The file system's root, under which `usr/local/cuda*/lib64` is searched (`/`; tests use a
    /// folder of their own).
    pub root: PathBuf,
}

impl SearchEnv {
    /// This process's environment and project.
    pub fn from_process() -> SearchEnv {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut virtualenvs = Vec::new();
        virtualenvs.extend(project::find(Path::new(".venv")));
        virtualenvs.extend(var("VIRTUAL_ENV").map(PathBuf::from));
        SearchEnv {
            cuda_libs: var("STYLIZE_CUDA_LIBS"),
            virtualenvs,
            toolkits: ["CUDA_HOME", "CUDA_PATH"]
                .into_iter()
                .filter_map(|name| var(name).map(PathBuf::from))
                .collect(),
            root: PathBuf::from("/"),
        }
    }
}

/// The places, in search order: `STYLIZE_CUDA_LIBS`, the virtualenvs' `nvidia/*/lib`, the toolkits'
/// `lib64` and `lib`, `/usr/local/cuda*/lib64`. The loader's own search comes after them all.
pub fn places(env: &SearchEnv) -> Vec<Place> {
    let mut places = Vec::new();
    if let Some(list) = &env.cuda_libs {
        places.push(Place {
            label: "STYLIZE_CUDA_LIBS".to_string(),
            dirs: std::env::split_paths(list)
                .filter(|d| !d.as_os_str().is_empty())
                .collect(),
        });
    }
    let mut seen: Vec<PathBuf> = Vec::new();
    for venv in &env.virtualenvs {
        let key = venv.canonicalize().unwrap_or_else(|_| venv.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        places.push(Place {
            label: format!("{}/lib/python*/site-packages/nvidia/*/lib", venv.display()),
            dirs: nvidia_dirs(venv),
        });
    }
    for toolkit in &env.toolkits {
        places.push(Place {
            label: format!("{0}/lib64, {0}/lib", toolkit.display()),
            dirs: vec![toolkit.join("lib64"), toolkit.join("lib")],
        });
    }
    let local = env.root.join("usr/local");
    places.push(Place {
        label: "/usr/local/cuda*/lib64".to_string(),
        dirs: sorted_children(&local)
            .into_iter()
            .filter(|d| {
                d.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("cuda"))
            })
            .map(|d| d.join("lib64"))
            .filter(|d| d.is_dir())
            .collect(),
    });
    places
}

/// A virtualenv's `lib/python*/site-packages/nvidia/*/lib` folders, sorted.
fn nvidia_dirs(venv: &Path) -> Vec<PathBuf> {
    sorted_children(&venv.join("lib"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python"))
        })
        .flat_map(|python| sorted_children(&python.join("site-packages/nvidia")))
        .map(|package| package.join("lib"))
        .filter(|lib| lib.is_dir())
        .collect()
}

/// The entries of `dir`, sorted; none when it cannot be read.
fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    children.sort();
    children
}

/// The first file called `name` in the places' folders, in order.
pub fn locate(name: &str, places: &[Place]) -> Option<PathBuf> {
    places
        .iter()
        .flat_map(|place| &place.dirs)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// The places in words, the loader's own path last: "STYLIZE_CUDA_LIBS, /usr/local/cuda*/lib64 and
/// the loader's path".
pub fn looked_in(places: &[Place]) -> String {
    let labels: Vec<&str> = places.iter().map(|p| p.label.as_str()).collect();
    if labels.is_empty() {
        "the loader's path".to_string()
    } else {
        format!("{} and the loader's path", labels.join(", "))
    }
}

/// Loads one library globally: from the first place that has it, else by name through the loader's
/// own search (`LD_LIBRARY_PATH`, the system's folders). Returns the file it came from.
pub fn load(library: &CudaLibrary, places: &[Place]) -> Result<PathBuf, CudaError> {
    let found = locate(library.name, places);
    let target = found.clone().unwrap_or_else(|| PathBuf::from(library.name));
    // SAFETY: a CUDA library the provider would load anyway; its initialisers only set up its own
    // state. It stays loaded for the life of the process (never closed).
    match unsafe { Library::open(Some(&target), RTLD_NOW | RTLD_GLOBAL) } {
        Ok(loaded) => {
            let path = loaded_path(loaded).unwrap_or(target);
            tracing::debug!(library = library.name, path = %path.display(), "loaded CUDA library");
            Ok(path)
        }
        Err(e) => {
            let message = loader_message(&e);
            let absent = format!("{}: cannot open shared object file", library.name);
            if found.is_none() && message.starts_with(&absent) {
                Err(CudaError::NotFound {
                    library: library.name,
                    looked_in: looked_in(places),
                })
            } else {
                Err(CudaError::LoadFailed {
                    library: library.name,
                    message,
                })
            }
        }
    }
}

/// The file a loaded library came from (glibc's link map), keeping the library loaded.
fn loaded_path(library: Library) -> Option<PathBuf> {
    /// The head of glibc's `struct link_map`.
    #[repr(C)]
    struct LinkMap {
        addr: usize,
        name: *const c_char,
    }
    let handle = library.into_raw();
    let mut map: *const LinkMap = std::ptr::null();
    // SAFETY: `handle` is a live dlopen handle (never closed); RTLD_DI_LINKMAP stores a pointer to
    // its link map, whose `l_name` is a NUL-terminated path owned by the loader.
    unsafe {
        if libc::dlinfo(
            handle,
            libc::RTLD_DI_LINKMAP,
            (&raw mut map).cast::<c_void>(),
        ) != 0
            || map.is_null()
            || (*map).name.is_null()
        {
            return None;
        }
        let name = CStr::from_ptr((*map).name).to_string_lossy().into_owned();
        (!name.is_empty()).then(|| PathBuf::from(name))
    }
}

/// The loader's own words for a failed `dlopen`/`dlsym`.
fn loader_message(error: &libloading::Error) -> String {
    std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_else(|| error.to_string())
}

/// Whether this ONNX Runtime has the CUDA provider (the GPU build); it must be loaded already.
pub fn check_provider() -> Result<(), CudaError> {
    use ort::ep::ExecutionProvider;
    match ort::ep::CUDA::is_available() {
        Ok(true) => Ok(()),
        _ => Err(CudaError::NoProvider),
    }
}

/// Readies the CUDA provider on GPU `device`, checking in this order: a driver for CUDA 13, that it
/// sees the GPU, the provider in this ONNX Runtime (which must be loaded), every library it needs
/// (loaded). The work is done once; later calls give the same answers.
pub fn prepare(device: i32) -> Result<(), CudaError> {
    static GPUS: OnceLock<Result<i32, CudaError>> = OnceLock::new();
    static LOADED: OnceLock<Result<(), CudaError>> = OnceLock::new();
    let count = GPUS
        .get_or_init(|| {
            let driver = Driver::load()?;
            tracing::debug!(cuda = %cuda_version(driver.version), "NVIDIA driver");
            check_driver_version(driver.version)?;
            match driver.gpus()?.len() {
                0 => Err(CudaError::NoGpu("cuDeviceGetCount: 0".to_string())),
                n => Ok(i32::try_from(n).unwrap_or(i32::MAX)),
            }
        })
        .clone()?;
    if device >= count {
        return Err(CudaError::NoSuchGpu { device, count });
    }
    LOADED
        .get_or_init(|| {
            check_provider()?;
            let places = places(&SearchEnv::from_process());
            for library in LIBRARIES {
                match load(&library, &places) {
                    Ok(_) => {}
                    Err(e) if !library.required => tracing::debug!("optional: {e}"),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .clone()
}

#[cfg(test)]
mod tests;
