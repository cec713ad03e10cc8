//! The subcommands, each wiring the library's stages for one use.

mod image;

use anyhow::Result;

use crate::cli::{Command, EngineArgs, OptimArgs, OptimizerChoice};
use crate::model::SessionConfig;
use crate::optim::{AdamConfig, LbfgsConfig, OptimizerKind};

/// Runs one parsed command line.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Image(args) => image::run(&args),
    }
}

/// The session settings that `--device` and `--threads` ask for.
fn session_config(engine: &EngineArgs, quiet: bool) -> SessionConfig {
    let threads = engine.threads.map(|t| t as usize).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    SessionConfig {
        device: engine.device,
        threads,
        quiet,
    }
}

/// The optimizer that `--optimizer`, `--learning-rate` and `--lbfgs-history` ask for.
fn optimizer_kind(optim: &OptimArgs) -> OptimizerKind {
    match optim.optimizer {
        OptimizerChoice::Lbfgs => OptimizerKind::Lbfgs(LbfgsConfig {
            history: optim.lbfgs_history as usize,
            ..LbfgsConfig::default()
        }),
        OptimizerChoice::Adam => OptimizerKind::Adam(AdamConfig {
            learning_rate: optim.learning_rate,
            ..AdamConfig::default()
        }),
    }
}
