//! Optimizers for the image being stylized: L-BFGS and Adam, pure ndarray, no I/O.
//!
//! The caller drives one [`Optimizer::step`] at a time. Each optimizer caches the
//! loss and gradient at the point it left `x`, so the first evaluation of a step is
//! never repeated; call [`Optimizer::reset`] when the objective changes (e.g. a new
//! video frame). A change to `x` made by the caller is detected and also resets.
//!
//! Vectors are stored as `f32`; dot products and norms accumulate in `f64`.

mod adam;
mod lbfgs;

pub use adam::{Adam, AdamConfig};
pub use lbfgs::{Lbfgs, LbfgsConfig};

use ndarray::Array1;

/// The function being minimized.
pub trait Objective {
    /// Error returned by an evaluation; passed through by the optimizers.
    type Error;

    /// Writes ∇f(x) into `grad` (same length as `x`, filled in place) and returns f(x).
    ///
    /// A non-finite loss or gradient is allowed: optimizers treat it as a failed trial point.
    /// Replacing `grad` by an array of another length is a bug and makes the optimizer panic.
    fn evaluate(&mut self, x: &Array1<f32>, grad: &mut Array1<f32>) -> Result<f32, Self::Error>;
}

/// Outcome of one optimizer step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// f at the point `x` holds after the step.
    pub loss: f32,
    /// Objective evaluations used by this step.
    pub evaluations: usize,
    /// No further progress is possible: the gradient vanished, the loss or gradient at
    /// `x` is not finite, or no trial point decreased the loss (`x` is left unchanged).
    pub converged: bool,
}

/// A minimizer driven one step at a time.
pub trait Optimizer {
    /// Performs one iteration, updating `x` in place.
    ///
    /// On an objective error `x` is left as it was before the step.
    fn step<O: Objective>(
        &mut self,
        x: &mut Array1<f32>,
        objective: &mut O,
    ) -> Result<Step, O::Error>;

    /// Forgets all state (cached evaluation, history, moments). Call it when the
    /// objective changes, e.g. before optimizing a new frame warm-started from the last.
    fn reset(&mut self);
}

/// An invalid optimizer setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A parameter is outside its valid range.
    #[error("invalid optimizer setting {name} = {value}: {expected}")]
    OutOfRange {
        /// Parameter name.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// Description of the valid range.
        expected: &'static str,
    },
}

impl ConfigError {
    fn check(ok: bool, name: &'static str, value: f64, expected: &'static str) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self::OutOfRange {
                name,
                value,
                expected,
            })
        }
    }
}

/// Which optimizer to use, with its settings (built from the command line).
#[derive(Debug, Clone, PartialEq)]
pub enum OptimizerKind {
    /// Limited-memory BFGS with a strong-Wolfe line search (the default).
    Lbfgs(LbfgsConfig),
    /// Adam with bias correction.
    Adam(AdamConfig),
}

impl Default for OptimizerKind {
    fn default() -> Self {
        Self::Lbfgs(LbfgsConfig::default())
    }
}

impl OptimizerKind {
    /// Validates the settings and creates the optimizer.
    pub fn build(&self) -> Result<AnyOptimizer, ConfigError> {
        Ok(match self {
            Self::Lbfgs(config) => AnyOptimizer::Lbfgs(Lbfgs::new(config.clone())?),
            Self::Adam(config) => AnyOptimizer::Adam(Adam::new(config.clone())?),
        })
    }
}

/// Any of the optimizers, chosen at run time.
#[derive(Debug)]
pub enum AnyOptimizer {
    /// See [`Lbfgs`].
    Lbfgs(Lbfgs),
    /// See [`Adam`].
    Adam(Adam),
}

impl Optimizer for AnyOptimizer {
    fn step<O: Objective>(
        &mut self,
        x: &mut Array1<f32>,
        objective: &mut O,
    ) -> Result<Step, O::Error> {
        match self {
            Self::Lbfgs(opt) => opt.step(x, objective),
            Self::Adam(opt) => opt.step(x, objective),
        }
    }

    fn reset(&mut self) {
        match self {
            Self::Lbfgs(opt) => opt.reset(),
            Self::Adam(opt) => opt.reset(),
        }
    }
}

/// A cached evaluation: the point, its loss and gradient.
#[derive(Debug, Default)]
struct Cache {
    x: Array1<f32>,
    grad: Array1<f32>,
    loss: f32,
    valid: bool,
}

impl Cache {
    /// Makes the cache hold an evaluation at `x`, evaluating only if needed.
    /// Returns the number of evaluations used (0 or 1) and whether the cache was reused.
    fn ensure<O: Objective>(
        &mut self,
        x: &Array1<f32>,
        objective: &mut O,
    ) -> Result<(usize, bool), O::Error> {
        if self.valid && self.x.len() == x.len() && self.x == *x {
            return Ok((0, true));
        }
        self.valid = false;
        if self.x.len() != x.len() {
            self.x = Array1::zeros(x.len());
            self.grad = Array1::zeros(x.len());
        }
        self.x.assign(x);
        self.loss = evaluate(objective, &self.x, &mut self.grad)?;
        self.valid = true;
        Ok((1, false))
    }

    /// Whether the cached loss and gradient are finite.
    fn is_finite(&self) -> bool {
        self.loss.is_finite() && all_finite(&self.grad)
    }
}

/// Calls the objective and checks that it kept `grad` a contiguous vector of the right length.
fn evaluate<O: Objective>(
    objective: &mut O,
    x: &Array1<f32>,
    grad: &mut Array1<f32>,
) -> Result<f32, O::Error> {
    let loss = objective.evaluate(x, grad)?;
    assert!(
        grad.len() == x.len() && grad.is_standard_layout(),
        "Objective::evaluate must fill `grad` in place (expected {} contiguous elements, got {})",
        x.len(),
        grad.len()
    );
    Ok(loss)
}

/// Contiguous view of an optimizer-owned vector (they are always created contiguous).
fn sl(a: &Array1<f32>) -> &[f32] {
    a.as_slice().expect("optimizer vectors are contiguous")
}

/// Mutable contiguous view of an optimizer-owned vector.
fn sl_mut(a: &mut Array1<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("optimizer vectors are contiguous")
}

/// Number of independent accumulators: lets the compiler vectorize f64 reductions.
const LANES: usize = 8;

/// Reduces `a` (and `b`) with `term`, summing in `f64` over [`LANES`] independent lanes.
#[inline(always)]
fn reduce2(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&u, &v)| term(u, v))
        .sum();
    for (u, v) in ca.zip(cb) {
        for ((s, &u), &v) in acc.iter_mut().zip(u).zip(v) {
            *s += term(u, v);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// aᵀb accumulated in f64.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    reduce2(a, b, |u, v| f64::from(u) * f64::from(v))
}

/// max |aᵢ|; NaN elements are ignored (check finiteness separately).
fn norm_inf(a: &[f32]) -> f32 {
    a.iter().fold(0.0f32, |m, &v| m.max(v.abs()))
}

/// Whether every element is finite (vectorizable: no early exit).
fn all_finite(a: &Array1<f32>) -> bool {
    a.fold(true, |ok, v| ok & v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    impl<F: FnMut(&[f32], &mut [f32]) -> f32> Objective for Counted<F> {
        type Error = &'static str;

        fn evaluate(
            &mut self,
            x: &Array1<f32>,
            grad: &mut Array1<f32>,
        ) -> Result<f32, Self::Error> {
            if self.fail_at == Some(self.evaluations) {
                return Err("injected failure");
            }
            self.evaluations += 1;
            let x = x.as_slice().expect("contiguous x");
            Ok((self.f)(x, grad.as_slice_mut().expect("contiguous grad")))
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
    fn dot_and_norms() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.5).sin()).collect();
        let naive: f64 = a
            .iter()
            .zip(&b)
            .map(|(&u, &v)| f64::from(u) * f64::from(v))
            .sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-9);
        assert_eq!(norm_inf(&a), 18.0);
        assert!(all_finite(&Array1::from(a.clone())));
        assert!(!all_finite(&Array1::from(vec![1.0, f32::NAN])));
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
}
