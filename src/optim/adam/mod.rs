//! Adam (Kingma & Ba) with bias correction.

use std::mem::swap;

use super::{
    alloc_many, evaluate, AdamStep, Algebra, Cache, ConfigError, Host, Objective, Optimizer, Step,
};

/// Settings of [`Adam`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdamConfig {
    /// Step size. Default 0.01: a few 1/255 intensity levels per step for images in [0, 1].
    pub learning_rate: f32,
    /// Decay of the first-moment (mean) estimate. Default 0.9.
    pub beta1: f32,
    /// Decay of the second-moment estimate. Default 0.999.
    pub beta2: f32,
    /// Added to the denominator for stability. Default 1e-8.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamConfig {
    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let unit = |v: f32| (0.0..1.0).contains(&v);
        ConfigError::check(
            positive(self.learning_rate),
            "learning_rate",
            f64::from(self.learning_rate),
            "finite and positive",
        )?;
        ConfigError::check(
            unit(self.beta1),
            "beta1",
            f64::from(self.beta1),
            "in [0, 1)",
        )?;
        ConfigError::check(
            unit(self.beta2),
            "beta2",
            f64::from(self.beta2),
            "in [0, 1)",
        )?;
        ConfigError::check(
            positive(self.eps),
            "eps",
            f64::from(self.eps),
            "finite and positive",
        )
    }
}

/// Adam's vectors for one problem size: the moments, their updated copies, the trial point and
/// its gradient.
#[derive(Debug)]
struct Work<V> {
    m: V,
    v: V,
    m_next: V,
    v_next: V,
    xt: V,
    gt: V,
}

/// Adam minimizer: one objective evaluation per step (two on the first).
///
/// A step whose new point has a non-finite loss or gradient is rejected: `x` and the
/// moments stay unchanged and the step reports `converged`.
#[derive(Debug)]
pub struct Adam<A: Algebra = Host> {
    config: AdamConfig,
    algebra: A,
    /// Current point with f and ∇f there.
    cache: Cache<A::Vector>,
    work: Option<Work<A::Vector>>,
    /// Steps taken since the last reset.
    steps: i32,
}

impl Adam<Host> {
    /// Creates the optimizer on the host after validating `config`.
    pub fn new(config: AdamConfig) -> Result<Self, ConfigError> {
        Self::with_algebra(config, Host)
    }
}

impl<A: Algebra> Adam<A> {
    /// Creates the optimizer over `algebra` after validating `config`.
    pub fn with_algebra(config: AdamConfig, algebra: A) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            algebra,
            cache: Cache::default(),
            work: None,
            steps: 0,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// The algebra the optimizer runs on.
    pub fn algebra(&mut self) -> &mut A {
        &mut self.algebra
    }

    /// Sizes the work vectors like `x` with zero moments when they have another size or `fresh`.
    fn ensure_buffers(&mut self, x: &A::Vector, fresh: bool) -> Result<(), A::Error> {
        let a = &mut self.algebra;
        let n = a.len(x);
        if !matches!(&self.work, Some(w) if a.len(&w.m) == n) {
            self.work = None;
            let [m, v, m_next, v_next, xt, gt] = alloc_many(a, x)?;
            self.work = Some(Work {
                m,
                v,
                m_next,
                v_next,
                xt,
                gt,
            });
        } else if !fresh {
            return Ok(());
        }
        let w = self.work.as_mut().expect("made above");
        a.combine(0.0, x, 0.0, x, &mut w.m)?;
        a.combine(0.0, x, 0.0, x, &mut w.v)?;
        self.steps = 0;
        Ok(())
    }
}

impl<A: Algebra> Optimizer<A> for Adam<A> {
    fn step<O: Objective<A::Vector>>(
        &mut self,
        x: &mut A::Vector,
        objective: &mut O,
    ) -> Result<Step, O::Error>
    where
        O::Error: From<A::Error>,
    {
        let (mut evaluations, reused) = self.cache.ensure(&mut self.algebra, x, objective)?;
        self.ensure_buffers(x, !reused)?;
        let converged = |loss, evaluations| Step {
            loss,
            evaluations,
            converged: true,
        };
        let a = &mut self.algebra;
        if !self.cache.is_finite(a)? {
            tracing::warn!(
                loss = self.cache.loss,
                "Adam: loss or gradient at x is not finite"
            );
            return Ok(converged(self.cache.loss, evaluations));
        }
        let (cx, cg) = self.cache.vectors();
        if a.norm_inf(cg)? == 0.0 {
            return Ok(converged(self.cache.loss, evaluations));
        }

        let AdamConfig {
            learning_rate,
            beta1,
            beta2,
            eps,
        } = self.config;
        let k = self.steps.saturating_add(1);
        let step = AdamStep {
            beta1,
            c1: 1.0 - beta1,
            beta2,
            c2: 1.0 - beta2,
            step: (f64::from(learning_rate) / (1.0 - f64::from(beta1).powi(k))) as f32,
            inv_sqrt_bc2: (1.0 - f64::from(beta2).powi(k)).sqrt().recip() as f32,
            eps,
        };
        let w = self.work.as_mut().expect("ensure_buffers ran");
        // Trial point from the updated moments, kept aside until the trial is accepted.
        a.adam(
            &step,
            cx,
            cg,
            (&w.m, &w.v),
            (&mut w.m_next, &mut w.v_next),
            &mut w.xt,
        )?;
        let loss = evaluate(a, objective, &w.xt, &mut w.gt)?;
        evaluations += 1;
        if !(loss.is_finite() && a.all_finite(&w.gt)?) {
            tracing::warn!(
                loss,
                "Adam: loss or gradient at the new point is not finite; step rejected"
            );
            return Ok(converged(self.cache.loss, evaluations));
        }
        swap(&mut w.m, &mut w.m_next);
        swap(&mut w.v, &mut w.v_next);
        self.steps = k;
        let (cx, cg) = self.cache.vectors.as_mut().expect("cache is filled");
        swap(cx, &mut w.xt);
        swap(cg, &mut w.gt);
        self.cache.loss = loss;
        a.assign(x, cx)?;
        Ok(Step {
            loss,
            evaluations,
            converged: false,
        })
    }

    fn reset(&mut self) {
        self.cache.valid = false;
    }
}

#[cfg(test)]
mod tests;
