//! Ctrl-C and SIGTERM for the long commands.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::files;

/// Ctrl-C or SIGTERM: the first sets `flag`, on which a command stops soon, and ends ONNX
/// Runtime's evaluation in progress (`video` writes the frame in hand as it stands and finishes
/// the output, which plays); the second aborts at once, removing the unfinished outputs, so that
/// what was at each destination before stays as it was.
pub(super) fn install_interrupt_handler(flag: Arc<AtomicBool>, quiet: bool) -> Result<()> {
    let count = AtomicUsize::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            flag.store(true, Ordering::SeqCst);
            crate::model::runtime::interrupt_runs();
            if !quiet {
                eprintln!("stopping; what is done is kept (Ctrl-C again to abort)");
            }
        } else {
            files::abort_cleanup();
            eprintln!("aborted");
            std::process::exit(130);
        }
    });
    match installed {
        Ok(()) | Err(ctrlc::Error::MultipleHandlers) => Ok(()),
        Err(e) => bail!("cannot install the Ctrl-C handler: {e}"),
    }
}
