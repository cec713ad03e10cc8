//! Tests shared by the optimizers: test functions, and the properties every optimizer has.

use super::*;
use ndarray::Array1;

/// The error of a [`Counted`] objective (or of the algebra under it).
#[derive(Debug, PartialEq)]
pub(super) struct Failure(pub String);

impl From<std::convert::Infallible> for Failure {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure(e.to_string())
    }
}

/// The error a [`Counted`] objective injects.
pub(super) fn injected() -> Failure {
    Failure("injected failure".into())
}

/// Test objective over slices that counts evaluations and can fail on demand.
pub(super) struct Counted<F> {
    pub f: F,
    pub evaluations: usize,
    /// Evaluation number (0-based) at which to return an error.
    pub fail_at: Option<usize>,
}

impl<F: FnMut(&[f32], &mut [f32]) -> f32> Counted<F> {
    pub fn new(f: F) -> Self {
        Self {
            f,
            evaluations: 0,
            fail_at: None,
        }
    }
}

impl<F: FnMut(&[f32], &mut [f32]) -> f32> Counted<F> {
    fn call(&mut self, x: &[f32], grad: &mut [f32]) -> Result<f32, Failure> {
        if self.fail_at == Some(self.evaluations) {
            return Err(injected());
        }
        self.evaluations += 1;
        Ok((self.f)(x, grad))
    }
}

impl<F: FnMut(&[f32], &mut [f32]) -> f32> Objective<Array1<f32>> for Counted<F> {
    type Error = Failure;

    fn evaluate(&mut self, x: &Array1<f32>, grad: &mut Array1<f32>) -> Result<f32, Failure> {
        let x = x.as_slice().expect("contiguous x");
        self.call(x, grad.as_slice_mut().expect("contiguous grad"))
    }
}

impl<F: FnMut(&[f32], &mut [f32]) -> f32> Objective<DeviceVector> for Counted<F> {
    type Error = Failure;

    fn evaluate(&mut self, x: &DeviceVector, grad: &mut DeviceVector) -> Result<f32, Failure> {
        let x = x.host_slice()?.to_vec();
        self.call(&x, grad.host_slice_mut()?)
    }
}

/// Extended Rosenbrock: Σ 100(x₂ᵢ₊₁ − x₂ᵢ²)² + (1 − x₂ᵢ)², minimum 0 at all ones.
pub(super) fn rosenbrock(x: &[f32], g: &mut [f32]) -> f32 {
    let mut f = 0.0f64;
    for (x, g) in x.chunks_exact(2).zip(g.chunks_exact_mut(2)) {
        let (a, b) = (f64::from(x[0]), f64::from(x[1]));
        let (r, s) = (b - a * a, 1.0 - a);
        f += 100.0 * r * r + s * s;
        g[0] = (-400.0 * a * r - 2.0 * s) as f32;
        g[1] = (200.0 * r) as f32;
    }
    f as f32
}

/// Chained Rosenbrock: Σ 100(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)², minimum 0 at all ones.
pub(super) fn chained_rosenbrock(x: &[f32], g: &mut [f32]) -> f32 {
    g.fill(0.0);
    let mut f = 0.0f64;
    for i in 0..x.len() - 1 {
        let (a, b) = (f64::from(x[i]), f64::from(x[i + 1]));
        let (r, s) = (b - a * a, 1.0 - a);
        f += 100.0 * r * r + s * s;
        g[i] += (-400.0 * a * r - 2.0 * s) as f32;
        g[i + 1] += (200.0 * r) as f32;
    }
    f as f32
}

/// Standard start (−1.2, 1, −1.2, 1, …).
pub(super) fn rosenbrock_start(n: usize) -> Array1<f32> {
    Array1::from_shape_fn(n, |i| if i % 2 == 0 { -1.2 } else { 1.0 })
}

/// Diagonal quadratic ½Σλᵢ(xᵢ − cᵢ)², λ log-spaced over [1, cond]; returns (f, c).
pub(super) fn quadratic(
    n: usize,
    cond: f64,
) -> (impl FnMut(&[f32], &mut [f32]) -> f32, Array1<f32>) {
    let lambda: Vec<f64> = (0..n)
        .map(|i| cond.powf(i as f64 / (n - 1) as f64))
        .collect();
    let c = Array1::from_shape_fn(n, |i| (0.5 + 0.4 * (i as f64 * 0.7).sin()) as f32);
    let center = c.to_vec();
    let f = move |x: &[f32], g: &mut [f32]| {
        let mut f = 0.0f64;
        for (((x, g), &l), &c) in x.iter().zip(g.iter_mut()).zip(&lambda).zip(&center) {
            let r = f64::from(*x) - f64::from(c);
            f += 0.5 * l * r * r;
            *g = (l * r) as f32;
        }
        f as f32
    };
    (f, c)
}

#[test]
fn config_validation() {
    assert!(OptimizerKind::default().build().is_ok());
    let bad_history = OptimizerKind::Lbfgs(LbfgsConfig {
        history: 0,
        ..Default::default()
    });
    assert!(matches!(
        bad_history.build(),
        Err(ConfigError::OutOfRange {
            name: "history",
            ..
        })
    ));
    let bad_beta = OptimizerKind::Adam(AdamConfig {
        beta2: 1.0,
        ..Default::default()
    });
    assert!(matches!(
        bad_beta.build(),
        Err(ConfigError::OutOfRange { name: "beta2", .. })
    ));
    let bad_lr = OptimizerKind::Adam(AdamConfig {
        learning_rate: f32::NAN,
        ..Default::default()
    });
    assert!(bad_lr.build().is_err());
}

#[test]
fn any_optimizer_dispatches() {
    for kind in [
        OptimizerKind::default(),
        OptimizerKind::Adam(AdamConfig {
            learning_rate: 0.05,
            ..Default::default()
        }),
    ] {
        let mut opt = kind.build().expect("valid config");
        let (f, c) = quadratic(10, 10.0);
        let mut objective = Counted::new(f);
        let mut x = Array1::zeros(10);
        let mut last = f32::INFINITY;
        for _ in 0..300 {
            last = opt.step(&mut x, &mut objective).expect("no error").loss;
        }
        assert!(last < 1e-4, "{kind:?}: loss {last}");
        assert!((&x - &c).iter().all(|e| e.abs() < 1e-2), "{kind:?}: x {x}");
    }
}
