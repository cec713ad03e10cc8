//! Optimizers for the image being stylized: L-BFGS and Adam.
//!
//! The optimizers are written once over an [`Algebra`]: the few vector operations they need
//! (combinations, dot products, norms). [`Host`] does them in Rust on `ndarray` vectors — the
//! reference; [`Graphs`] runs them as small ONNX graphs on the model's device, so that a GPU keeps
//! the image, its gradient and the history in its own memory and only scalars cross to the host.
//! Both follow the same iterates (dot products accumulate in `f64` on both).
//!
//! The caller drives one [`Optimizer::step`] at a time. Each optimizer caches the
//! loss and gradient at the point it left `x`, so the first evaluation of a step is
//! never repeated; call [`Optimizer::reset`] when the objective changes (e.g. a new
//! video frame). A change to `x` made by the caller is detected and also resets.

mod adam;
mod bands;
mod graphs;
mod host;
mod lbfgs;

pub use adam::{Adam, AdamConfig};
pub use bands::{Bands, BANDS};
pub use graphs::{DeviceVector, GraphFiles, Graphs};
pub use host::Host;
pub use lbfgs::{Lbfgs, LbfgsConfig};

/// The vector operations the optimizers need, done where the vectors live.
pub trait Algebra: std::fmt::Debug {
    /// A vector of unknowns (the image, its gradient, a direction, a history entry).
    type Vector: std::fmt::Debug;
    /// What a failed operation reports (nothing can fail on the host).
    type Error;

    /// A new vector of `like`'s shape; its contents are unspecified.
    fn alloc_like(&mut self, like: &Self::Vector) -> Result<Self::Vector, Self::Error>;
    /// Number of elements.
    fn len(&self, v: &Self::Vector) -> usize;
    /// Host↔device traffic and time inside ONNX Runtime so far (none on the host).
    fn traffic(&self) -> Traffic {
        Traffic::default()
    }
    /// z = a·x + b·y.
    fn combine(
        &mut self,
        a: f32,
        x: &Self::Vector,
        b: f32,
        y: &Self::Vector,
        z: &mut Self::Vector,
    ) -> Result<(), Self::Error>;
    /// z = a·x + b·y, returning wᵀz.
    fn combine_dot(
        &mut self,
        a: f32,
        x: &Self::Vector,
        b: f32,
        y: &Self::Vector,
        w: &Self::Vector,
        z: &mut Self::Vector,
    ) -> Result<f64, Self::Error>;
    /// xᵀy.
    fn dot(&mut self, x: &Self::Vector, y: &Self::Vector) -> Result<f64, Self::Error>;
    /// max |xᵢ|.
    fn norm_inf(&mut self, x: &Self::Vector) -> Result<f32, Self::Error>;
    /// Whether every element is finite.
    fn all_finite(&mut self, x: &Self::Vector) -> Result<bool, Self::Error>;
    /// s = x₁ − x₀ and y = g₁ − g₀ (an L-BFGS curvature pair); returns (sᵀs, sᵀy, yᵀy).
    #[allow(clippy::too_many_arguments)]
    fn pair(
        &mut self,
        x1: &Self::Vector,
        x0: &Self::Vector,
        g1: &Self::Vector,
        g0: &Self::Vector,
        s: &mut Self::Vector,
        y: &mut Self::Vector,
    ) -> Result<(f64, f64, f64), Self::Error>;
    /// Adam's step: the moments `next` = (m', v') updated from `moments` and g, and the trial
    /// point xt = x − step·m' / (√v'·inv_sqrt_bc2 + eps).
    fn adam(
        &mut self,
        step: &AdamStep,
        x: &Self::Vector,
        g: &Self::Vector,
        moments: (&Self::Vector, &Self::Vector),
        next: (&mut Self::Vector, &mut Self::Vector),
        xt: &mut Self::Vector,
    ) -> Result<(), Self::Error>;
    /// dst = src.
    fn assign(&mut self, dst: &mut Self::Vector, src: &Self::Vector) -> Result<(), Self::Error>;
    /// Whether `a` and `b` hold the same values.
    fn same(&mut self, a: &Self::Vector, b: &Self::Vector) -> Result<bool, Self::Error>;
}

/// Host↔device traffic and time inside ONNX Runtime, for the statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Traffic {
    /// Bytes copied from the host to the device.
    pub to_device: u64,
    /// Bytes copied from the device to the host.
    pub to_host: u64,
    /// Seconds inside ONNX Runtime's runs.
    pub run_seconds: f64,
}

impl Traffic {
    /// Both directions together.
    pub fn bytes(&self) -> u64 {
        self.to_device + self.to_host
    }
}

/// The scalars of one Adam step (see [`Algebra::adam`]).
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// Decay of the first moment.
    pub beta1: f32,
    /// 1 − `beta1`.
    pub c1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// 1 − `beta2`.
    pub c2: f32,
    /// The bias-corrected learning rate.
    pub step: f32,
    /// 1 / √(1 − β₂ᵏ).
    pub inv_sqrt_bc2: f32,
    /// Added to the denominator.
    pub eps: f32,
}

/// The function being minimized, over the vectors of an [`Algebra`].
pub trait Objective<V> {
    /// Error returned by an evaluation; passed through by the optimizers.
    type Error;

    /// Writes ∇f(x) into `grad` (same shape as `x`, filled in place) and returns f(x).
    ///
    /// A non-finite loss or gradient is allowed: optimizers treat it as a failed trial point.
    fn evaluate(&mut self, x: &V, grad: &mut V) -> Result<f32, Self::Error>;
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

/// A minimizer driven one step at a time, over the vectors of an [`Algebra`].
pub trait Optimizer<A: Algebra> {
    /// Performs one iteration, updating `x` in place.
    ///
    /// On an objective error `x` is left as it was before the step.
    fn step<O: Objective<A::Vector>>(
        &mut self,
        x: &mut A::Vector,
        objective: &mut O,
    ) -> Result<Step, O::Error>
    where
        O::Error: From<A::Error>;

    /// Forgets all state (cached evaluation, history, moments). Call it when the
    /// objective changes, e.g. before optimizing a new frame warm-started from the last.
    fn reset(&mut self);

    /// Forgets the cached evaluation but keeps what was learnt of the objective's curvature, for
    /// an objective that changed only a little (the next frame of a live view): L-BFGS keeps its
    /// curvature pairs, so that the new frame's first step is a quasi-Newton one. Others reset.
    fn retarget(&mut self) {
        self.reset();
    }
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
    /// Validates the settings and creates the optimizer on the host.
    pub fn build(&self) -> Result<AnyOptimizer<Host>, ConfigError> {
        self.build_with(Host)
    }

    /// Validates the settings and creates the optimizer over `algebra`.
    pub fn build_with<A: Algebra>(&self, algebra: A) -> Result<AnyOptimizer<A>, ConfigError> {
        Ok(match self {
            Self::Lbfgs(config) => {
                AnyOptimizer::Lbfgs(Lbfgs::with_algebra(config.clone(), algebra)?)
            }
            Self::Adam(config) => AnyOptimizer::Adam(Adam::with_algebra(config.clone(), algebra)?),
        })
    }
}

/// Any of the optimizers, chosen at run time.
#[derive(Debug)]
pub enum AnyOptimizer<A: Algebra = Host> {
    /// See [`Lbfgs`].
    Lbfgs(Lbfgs<A>),
    /// See [`Adam`].
    Adam(Adam<A>),
}

impl<A: Algebra> AnyOptimizer<A> {
    /// The algebra the optimizer runs on.
    pub fn algebra(&mut self) -> &mut A {
        match self {
            Self::Lbfgs(opt) => opt.algebra(),
            Self::Adam(opt) => opt.algebra(),
        }
    }
}

impl<A: Algebra> Optimizer<A> for AnyOptimizer<A> {
    fn step<O: Objective<A::Vector>>(
        &mut self,
        x: &mut A::Vector,
        objective: &mut O,
    ) -> Result<Step, O::Error>
    where
        O::Error: From<A::Error>,
    {
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

    fn retarget(&mut self) {
        match self {
            Self::Lbfgs(opt) => opt.retarget(),
            Self::Adam(opt) => opt.retarget(),
        }
    }
}

/// A cached evaluation: the point, its loss and gradient.
#[derive(Debug)]
struct Cache<V> {
    /// The point and the gradient there, once allocated.
    vectors: Option<(V, V)>,
    loss: f32,
    valid: bool,
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Self {
            vectors: None,
            loss: 0.0,
            valid: false,
        }
    }
}

impl<V> Cache<V> {
    /// Makes the cache hold an evaluation at `x`, evaluating only if needed.
    /// Returns the number of evaluations used (0 or 1) and whether the cache was reused.
    fn ensure<A: Algebra<Vector = V>, O: Objective<V>>(
        &mut self,
        algebra: &mut A,
        x: &V,
        objective: &mut O,
    ) -> Result<(usize, bool), O::Error>
    where
        O::Error: From<A::Error>,
    {
        if let (true, Some((cx, _))) = (self.valid, &self.vectors) {
            if algebra.len(cx) == algebra.len(x) && algebra.same(cx, x)? {
                return Ok((0, true));
            }
        }
        self.valid = false;
        let fits = matches!(&self.vectors, Some((cx, _)) if algebra.len(cx) == algebra.len(x));
        if !fits {
            self.vectors = Some((algebra.alloc_like(x)?, algebra.alloc_like(x)?));
        }
        let Some((cx, cg)) = self.vectors.as_mut() else {
            unreachable!("allocated above")
        };
        algebra.assign(cx, x)?;
        self.loss = evaluate(algebra, objective, cx, cg)?;
        self.valid = true;
        Ok((1, false))
    }

    /// The cached point and gradient (after [`Cache::ensure`]).
    fn vectors(&self) -> (&V, &V) {
        let (x, g) = self.vectors.as_ref().expect("Cache::ensure ran first");
        (x, g)
    }

    /// Whether the cached loss and gradient are finite.
    fn is_finite<A: Algebra<Vector = V>>(&self, algebra: &mut A) -> Result<bool, A::Error> {
        Ok(self.loss.is_finite() && algebra.all_finite(self.vectors().1)?)
    }
}

/// `N` new vectors of `like`'s shape.
fn alloc_many<A: Algebra, const N: usize>(
    algebra: &mut A,
    like: &A::Vector,
) -> Result<[A::Vector; N], A::Error> {
    let mut vectors = Vec::with_capacity(N);
    for _ in 0..N {
        vectors.push(algebra.alloc_like(like)?);
    }
    Ok(vectors
        .try_into()
        .unwrap_or_else(|_| unreachable!("N vectors were made")))
}

/// Calls the objective and checks that it kept `grad` the size of `x`.
fn evaluate<A: Algebra, O: Objective<A::Vector>>(
    algebra: &A,
    objective: &mut O,
    x: &A::Vector,
    grad: &mut A::Vector,
) -> Result<f32, O::Error> {
    let loss = objective.evaluate(x, grad)?;
    assert!(
        algebra.len(grad) == algebra.len(x),
        "Objective::evaluate must fill `grad` in place (expected {} elements, got {})",
        algebra.len(x),
        algebra.len(grad)
    );
    Ok(loss)
}

#[cfg(test)]
mod tests;
