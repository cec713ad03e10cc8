//! Optimizers for the image being stylized: L-BFGS and Adam, pure ndarray, no I/O.
