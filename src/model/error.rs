//! The model layer's errors that its callers tell apart. Each says what is wrong; what to do about it
//! (a flag, a setup script) is the caller's to add.

use std::path::PathBuf;

use thiserror::Error;

use super::cuda::CudaError;

/// Why the model cannot be opened or run.
#[derive(Clone, Debug, Error)]
pub enum Error {
    /// ONNX Runtime's shared library is not found or does not load.
    #[error("{0}")]
    LibraryMissing(LibraryError),
    /// The CUDA provider cannot start on the GPU asked for.
    #[error("cannot use cuda:{device}: {reason}")]
    CudaUnavailable {
        /// The GPU asked for.
        device: i32,
        /// Why not.
        reason: CudaError,
    },
    /// The model directory, its manifest or a graph the manifest names is missing.
    #[error("{0}")]
    ModelMissing(Missing),
    /// The manifest is not one this build reads.
    #[error("{0}")]
    BadManifest(BadManifest),
    /// A graph does not have an input or output its manifest implies.
    #[error("model '{}' does not match its manifest: {file} has no {kind} '{name}'", dir.display())]
    MismatchedGraph {
        /// The model directory.
        dir: PathBuf,
        /// The graph's file name.
        file: String,
        /// `input` or `output`.
        kind: &'static str,
        /// The name it lacks.
        name: String,
    },
    /// A graph file does not load (ONNX Runtime's message).
    #[error("cannot load model '{}': {message}", path.display())]
    BadGraph {
        /// The graph file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The device ran out of memory.
    #[error("out of memory on the device")]
    OutOfMemory,
    /// A run was ended by [`interrupt_runs`](super::runtime::interrupt_runs).
    #[error("interrupted")]
    Interrupted,
    /// ONNX Runtime failed where it should not (its message).
    #[error("internal: {0}")]
    Internal(String),
}

/// Why ONNX Runtime's shared library is not loaded.
#[derive(Clone, Debug, Error)]
pub enum LibraryError {
    /// `ORT_DYLIB_PATH` names no file.
    #[error("ORT_DYLIB_PATH is '{}', which is not a file", .0.display())]
    NotAFile(PathBuf),
    /// Neither `ORT_DYLIB_PATH` nor the project's `.venv` has one.
    #[error("cannot find the ONNX Runtime library")]
    NotFound,
    /// The file does not load (the loader's or ONNX Runtime's message).
    #[error("cannot load ONNX Runtime from '{}': {message}", path.display())]
    LoadFailed {
        /// The library file.
        path: PathBuf,
        /// Why it did not load.
        message: String,
    },
}

/// What part of an exported model is missing.
#[derive(Clone, Debug, Error)]
pub enum Missing {
    /// The model directory.
    #[error("model directory '{}' does not exist", .0.display())]
    Directory(PathBuf),
    /// Its `manifest.json` cannot be read (the system's message).
    #[error("cannot read '{}': {message}", path.display())]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
    /// A graph file the manifest names.
    #[error("model file '{}' is missing", .0.display())]
    Graph(PathBuf),
}

/// Why a manifest that was read cannot be used.
#[derive(Clone, Debug, Error)]
pub enum BadManifest {
    /// Not JSON of the manifest's shape (the parser's message).
    #[error("'{}' is not a valid model manifest: {message}", path.display())]
    Invalid {
        /// The manifest's path.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Another format version than [`FORMAT`](super::manifest::FORMAT).
    #[error("'{}' has format {found}, this stylize reads format {}", path.display(), super::manifest::FORMAT)]
    Format {
        /// The manifest's path.
        path: PathBuf,
        /// The version it has.
        found: u32,
    },
    /// It names no style layers.
    #[error("'{}' names no style layers", .0.display())]
    NoStyleLayers(PathBuf),
}
