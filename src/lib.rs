//! stylize: paint images and video in the style of an artwork by neural style transfer (Gatys et al.),
//! with the VGG19 network and its hand-written backward pass running on ONNX Runtime.

pub mod cli;
pub mod commands;
pub mod config;
pub mod files;
pub mod media;
pub mod model;
pub mod optim;
pub mod picture;
pub mod pipeline;
pub mod preview;
pub mod progress;
pub mod project;
pub mod render;
pub mod sink;
pub mod source;
pub mod stats;
pub mod stylize;
pub mod temporal;
