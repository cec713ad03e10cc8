//! The model layer's errors in the user's words: each with the flag it concerns and what to do.

use crate::model::cuda::CudaError;
use crate::model::error::{BadManifest, LibraryError, Missing};
use crate::model::Error;

/// `error` with any [`model::Error`](Error) in its chain said as [`message`] does; other errors
/// are returned as they are.
pub fn explain(error: anyhow::Error) -> anyhow::Error {
    if !error.chain().any(|cause| cause.is::<Error>()) {
        return error;
    }
    let causes: Vec<String> = error
        .chain()
        .map(|cause| match cause.downcast_ref::<Error>() {
            Some(e) => message(e),
            None => cause.to_string(),
        })
        .collect();
    anyhow::anyhow!("{}", causes.join(": "))
}

/// The one-line message for a model error, with its remedy.
pub fn message(error: &Error) -> String {
    const EXPORT_AGAIN: &str = "run scripts/setup.sh to export the model again";
    match error {
        Error::LibraryMissing(e) => library(e),
        Error::CudaUnavailable { device, reason } => {
            let remedy = match reason {
                CudaError::ProviderFailed(_) => "; install the GPU build of ONNX Runtime (scripts/setup.sh --gpu) with a working NVIDIA driver, or use --device cpu",
                _ => "",
            };
            format!(
                "cannot use --device cuda:{device}: {}{remedy}",
                cuda_reason(reason)
            )
        }
        Error::ModelMissing(Missing::Directory(_)) => {
            format!("{error}: run scripts/setup.sh to export the models, or pass --model DIR")
        }
        Error::ModelMissing(Missing::Manifest { path, message }) => format!(
            "cannot read '{}': run scripts/setup.sh to export the model: {message}",
            path.display()
        ),
        Error::ModelMissing(Missing::Graph(_)) => format!("{error}: {EXPORT_AGAIN}"),
        Error::BadManifest(BadManifest::Invalid { path, message }) => format!(
            "'{}' is not a valid model manifest: {EXPORT_AGAIN}: {message}",
            path.display()
        ),
        Error::BadManifest(BadManifest::Format { .. }) => format!("{error}: {EXPORT_AGAIN}"),
        Error::BadManifest(BadManifest::NoStyleLayers(_)) => error.to_string(),
        Error::MismatchedGraph { .. } => {
            format!("{error}; run scripts/setup.sh to export it again")
        }
        Error::BadGraph { .. } => format!("{error}; run scripts/setup.sh to regenerate it"),
        Error::OutOfMemory => {
            format!("{error}: try a smaller --size or a shorter --lbfgs-history")
        }
        Error::Interrupted | Error::Internal(_) => error.to_string(),
    }
}

/// Why ONNX Runtime is not loaded, with what to do.
pub fn library(error: &LibraryError) -> String {
    let remedy = match error {
        LibraryError::NotAFile(_) => {
            ": point it at libonnxruntime.so, or unset it to use the project's .venv"
        }
        LibraryError::NotFound => ": run scripts/setup.sh (it installs one into .venv), or set ORT_DYLIB_PATH to a libonnxruntime.so (1.31 or newer)",
        LibraryError::LoadFailed { .. } => {
            "; run scripts/setup.sh, or point ORT_DYLIB_PATH at libonnxruntime.so 1.31 or newer"
        }
    };
    format!("{error}{remedy}")
}

/// Why the CUDA provider cannot start, with what to do when the fix is an install.
pub fn cuda_reason(reason: &CudaError) -> String {
    let remedy = match reason {
        CudaError::NoProvider => {
            ": run scripts/setup.sh --gpu, or point ORT_DYLIB_PATH at a GPU build"
        }
        CudaError::NotFound { .. } => ": run scripts/setup.sh --gpu, or set STYLIZE_CUDA_LIBS",
        _ => "",
    };
    format!("{reason}{remedy}")
}

/// The notice that `--device auto` runs on the CPU, and why (the reason's first line).
pub fn fallback_notice(reason: &CudaError) -> String {
    let reason = cuda_reason(reason);
    let first = reason.lines().next().unwrap_or_default();
    format!("note: running on the CPU: {first}")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn cuda_messages_name_the_flag_and_the_setup_script() {
        let no_provider = Error::CudaUnavailable {
            device: 0,
            reason: CudaError::NoProvider,
        };
        assert_eq!(
            message(&no_provider),
            "cannot use --device cuda:0: this ONNX Runtime has no CUDA provider (the CPU build): run scripts/setup.sh --gpu, or point ORT_DYLIB_PATH at a GPU build"
        );
        let not_found = CudaError::NotFound {
            library: "libcudnn.so.9",
            looked_in: "the loader's path".to_string(),
        };
        assert_eq!(
            cuda_reason(&not_found),
            "libcudnn.so.9 not found (looked in the loader's path): run scripts/setup.sh --gpu, or set STYLIZE_CUDA_LIBS"
        );
        let failed = CudaError::ProviderFailed("no kernel image\nat line 2".to_string());
        assert_eq!(
            fallback_notice(&failed),
            "note: running on the CPU: no kernel image"
        );
        assert!(message(&Error::CudaUnavailable {
            device: 1,
            reason: failed
        })
        .ends_with("at line 2; install the GPU build of ONNX Runtime (scripts/setup.sh --gpu) with a working NVIDIA driver, or use --device cpu"));
    }

    #[test]
    fn a_model_error_deep_in_a_chain_is_said_in_place() {
        let error = anyhow::Error::from(Error::OutOfMemory).context("frame 3");
        assert_eq!(
            format!("{:#}", explain(error)),
            "frame 3: out of memory on the device: try a smaller --size or a shorter --lbfgs-history"
        );
        let missing = Error::ModelMissing(Missing::Directory(PathBuf::from("m")));
        assert_eq!(
            format!("{:#}", explain(missing.into())),
            "model directory 'm' does not exist: run scripts/setup.sh to export the models, or pass --model DIR"
        );
        let other = anyhow::anyhow!("cause").context("outer");
        assert_eq!(format!("{:#}", explain(other)), "outer: cause");
    }
}
