//! stylize: neural style transfer for images and video on ONNX Runtime.

pub mod optim;
