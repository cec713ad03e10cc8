//! The subcommands, each wiring settings, a source, the stylizer and sinks for one use.

mod doctor;
mod engine;
mod fingerprint;
mod image;
mod interrupt;
mod join;
mod live;
mod media_flags;
mod metrics;
mod model_errors;
mod outputs;
mod pictures;
mod plan;
mod segment;
mod video;

use anyhow::Result;

use crate::cli::Command;
use engine::{check_memory, frame_stylizer, level_sizes, load_model, solver};
use interrupt::install_interrupt_handler;
use outputs::check_files;
use pictures::{first_frame, load_picture, load_styles, style_features};

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// All the work was done.
    Done,
    /// The user interrupted it; what was done is kept (exit code 130).
    Interrupted,
}

/// Runs one parsed command line.
pub fn run(command: Command) -> Result<Finished> {
    match command {
        Command::Image(args) => image::run(&args).map(|()| Finished::Done),
        Command::Video(args) => video::run(&args),
        Command::Plan(args) => plan::run(&args).map(|()| Finished::Done),
        Command::Join(args) => join::run(&args).map(|()| Finished::Done),
        Command::Metrics(args) => metrics::run(&args).map(|()| Finished::Done),
        Command::Live(args) => live::run(&args),
        Command::Doctor => doctor::run().map(|()| Finished::Done),
    }
    .map_err(model_errors::explain)
}
