//! Limited-memory BFGS with a strong-Wolfe line search.

use std::collections::VecDeque;
use std::mem::swap;

mod step_length;

use step_length::{extrapolate, interpolate, Bound, Point};

use super::{alloc_many, evaluate, Algebra, Cache, ConfigError, Host, Objective, Optimizer, Step};

/// Sufficient-decrease (Armijo) constant.
const C1: f64 = 1e-4;
/// Curvature constant of the strong Wolfe condition (the usual value for quasi-Newton).
const C2: f64 = 0.9;
/// A curvature pair is kept only if sᵀy > this · ‖s‖‖y‖ (keeps H positive definite).
const MIN_COSINE: f64 = f32::EPSILON as f64;

/// Settings of [`Lbfgs`].
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsConfig {
    /// Number of curvature pairs kept.
    ///
    /// Default 20: memory is 2·history·n·4 bytes (20 → 380 MB for a 1024×768 RGB image,
    /// where neural-style's 100 would need 1.9 GB) and the two-loop recursion costs about
    /// 4·history passes over x per step. Gains beyond 10–20 pairs are small (Nocedal &
    /// Wright suggest 3–20).
    pub history: usize,
    /// Largest per-element change |Δxᵢ| of the first trial step taken without history
    /// (first step, or after a history reset). Default 0.1, for images in [0, 1]; the
    /// line search grows or shrinks it as needed.
    pub initial_step: f32,
    /// Most objective evaluations per line search. Default 20.
    pub max_line_search_evaluations: usize,
    /// Converged when ‖∇f‖∞ ≤ this. Default 0: the loss scale is unknown (a loss averaged
    /// over pixels has tiny per-pixel gradients), so by default only a vanishing gradient
    /// or a line search that cannot decrease f stops.
    pub grad_tolerance: f32,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            history: 20,
            initial_step: 0.1,
            max_line_search_evaluations: 20,
            grad_tolerance: 0.0,
        }
    }
}

impl LbfgsConfig {
    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check(
            self.history >= 1,
            "history",
            self.history as f64,
            "at least 1",
        )?;
        ConfigError::check(
            self.initial_step.is_finite() && self.initial_step > 0.0,
            "initial_step",
            f64::from(self.initial_step),
            "finite and positive",
        )?;
        ConfigError::check(
            self.max_line_search_evaluations >= 1,
            "max_line_search_evaluations",
            self.max_line_search_evaluations as f64,
            "at least 1",
        )?;
        ConfigError::check(
            self.grad_tolerance.is_finite() && self.grad_tolerance >= 0.0,
            "grad_tolerance",
            f64::from(self.grad_tolerance),
            "finite and non-negative",
        )
    }
}

/// One curvature pair: s = Δx, y = Δ∇f.
#[derive(Debug)]
struct Pair<V> {
    s: V,
    y: V,
    /// 1 / sᵀy.
    rho: f64,
    /// sᵀy / yᵀy: initial inverse-Hessian scale when this is the newest pair.
    gamma: f64,
}

/// The work vectors of one problem size: the search direction (and its spare for updates that
/// cannot be done in place), the trial point and gradient, the best trial point and gradient.
#[derive(Debug)]
struct Work<V> {
    d: V,
    spare: V,
    xt: V,
    gt: V,
    xl: V,
    gl: V,
}

/// L-BFGS minimizer (two-loop recursion, strong-Wolfe line search, monotone in f).
///
/// Working memory is (2·history + 8)·n floats; buffers are kept across [`Optimizer::reset`]
/// so that successive frames of the same size allocate nothing.
#[derive(Debug)]
pub struct Lbfgs<A: Algebra = Host> {
    config: LbfgsConfig,
    algebra: A,
    /// Current point x₀ with f and ∇f there.
    cache: Cache<A::Vector>,
    /// Curvature pairs, oldest first.
    pairs: VecDeque<Pair<A::Vector>>,
    /// Pair buffers not in use, kept to avoid reallocation.
    unused: Vec<Pair<A::Vector>>,
    /// Two-loop coefficients αᵢ.
    alpha: Vec<f64>,
    work: Option<Work<A::Vector>>,
    /// Set by [`Optimizer::retarget`]: the next step keeps the pairs though `x` is new.
    retargeted: bool,
}

impl Lbfgs<Host> {
    /// Creates the optimizer on the host after validating `config`.
    pub fn new(config: LbfgsConfig) -> Result<Self, ConfigError> {
        Self::with_algebra(config, Host)
    }
}

impl<A: Algebra> Lbfgs<A> {
    /// Creates the optimizer over `algebra` after validating `config`.
    pub fn with_algebra(config: LbfgsConfig, algebra: A) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            alpha: Vec::with_capacity(config.history),
            config,
            algebra,
            cache: Cache::default(),
            pairs: VecDeque::new(),
            unused: Vec::new(),
            work: None,
            retargeted: false,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &LbfgsConfig {
        &self.config
    }

    /// The algebra the optimizer runs on.
    pub fn algebra(&mut self) -> &mut A {
        &mut self.algebra
    }

    /// Number of curvature pairs currently held.
    pub fn history_len(&self) -> usize {
        self.pairs.len()
    }

    /// Sizes the work vectors like `x`, dropping pair buffers of another size.
    fn ensure_buffers(&mut self, x: &A::Vector) -> Result<(), A::Error> {
        let n = self.algebra.len(x);
        if matches!(&self.work, Some(w) if self.algebra.len(&w.d) == n) {
            return Ok(());
        }
        self.pairs.clear();
        self.unused.clear();
        self.work = None;
        let [d, spare, xt, gt, xl, gl] = alloc_many(&mut self.algebra, x)?;
        self.work = Some(Work {
            d,
            spare,
            xt,
            gt,
            xl,
            gl,
        });
        Ok(())
    }

    /// Forgets the curvature pairs, keeping their buffers for reuse.
    fn clear_history(&mut self) {
        self.unused.extend(self.pairs.drain(..));
    }

    /// Sets d = −H∇f by the two-loop recursion and returns ∇fᵀd (< 0). Falls back to
    /// steepest descent (clearing the history) when that is not a descent direction.
    ///
    /// Each update of d goes to the spare vector and the two are swapped, and is fused with the
    /// dot product the next update needs.
    fn direction(&mut self) -> Result<f64, A::Error> {
        let (a, work, pairs) = (&mut self.algebra, work(&mut self.work), &self.pairs);
        let (_, g) = self.cache.vectors();
        let Some(newest) = pairs.back() else {
            a.combine(-1.0, g, 0.0, g, &mut work.d)?;
            return Ok(-a.dot(g, g)?);
        };
        let m = pairs.len();
        self.alpha.clear();
        self.alpha.resize(m, 0.0);
        // First loop, newest to oldest: αᵢ = ρᵢ sᵢᵀd, d −= αᵢ yᵢ.
        let mut sd = a.combine_dot(-1.0, g, 0.0, g, &newest.s, &mut work.d)?;
        for i in (0..m).rev() {
            let pair = &pairs[i];
            self.alpha[i] = pair.rho * sd;
            let next = if i > 0 { &pairs[i - 1].s } else { &newest.y };
            sd = a.combine_dot(
                1.0,
                &work.d,
                -self.alpha[i] as f32,
                &pair.y,
                next,
                &mut work.spare,
            )?;
            swap(&mut work.d, &mut work.spare);
        }
        // d *= γ, and yᵀd for the oldest pair.
        let gamma = newest.gamma as f32;
        let mut yd = a.combine_dot(gamma, &work.d, 0.0, &work.d, &pairs[0].y, &mut work.spare)?;
        swap(&mut work.d, &mut work.spare);
        // Second loop, oldest to newest: βᵢ = ρᵢ yᵢᵀd, d += (αᵢ − βᵢ) sᵢ.
        for i in 0..m {
            let pair = &pairs[i];
            let beta = pair.rho * yd;
            let next = if i + 1 < m { &pairs[i + 1].y } else { g };
            yd = a.combine_dot(
                1.0,
                &work.d,
                (self.alpha[i] - beta) as f32,
                &pair.s,
                next,
                &mut work.spare,
            )?;
            swap(&mut work.d, &mut work.spare);
        }
        let gtd = yd;
        if gtd < 0.0 && gtd.is_finite() {
            return Ok(gtd);
        }
        tracing::debug!(
            gtd,
            "L-BFGS direction is not a descent direction; clearing history"
        );
        a.combine(-1.0, g, 0.0, g, &mut work.d)?;
        self.unused.extend(self.pairs.drain(..));
        Ok(-a.dot(g, g)?)
    }

    /// Searches along d for a step satisfying the strong Wolfe conditions.
    ///
    /// On success returns f at the new point, which is left in `xl`/`gl`; the point always
    /// satisfies the Armijo condition (if the evaluation budget runs out, the best such
    /// point found is returned). Returns `None` if no trial point decreased f.
    fn line_search<O: Objective<A::Vector>>(
        &mut self,
        objective: &mut O,
        t_init: f64,
        gtd: f64,
        evaluations: &mut usize,
    ) -> Result<Option<f32>, O::Error>
    where
        O::Error: From<A::Error>,
    {
        let (a, work) = (&mut self.algebra, work(&mut self.work));
        let (x0, _) = self.cache.vectors();
        let f0 = f64::from(self.cache.loss);
        let start = Point {
            t: 0.0,
            f: f0,
            dphi: gtd,
        };
        let (mut prev, mut lo, mut lo_loss) = (start, start, self.cache.loss);
        let mut hi: Option<Bound> = None;
        // Step-length differences below this no longer change x in f32.
        let d_max = f64::from(a.norm_inf(&work.d)?);
        let x_scale = f64::from(a.norm_inf(x0)?).max(f64::from(f32::MIN_POSITIVE));
        let resolution = f64::from(f32::EPSILON) * x_scale / d_max;
        let mut t = t_init;
        for _ in 0..self.config.max_line_search_evaluations {
            a.combine(1.0, x0, t as f32, &work.d, &mut work.xt)?;
            let loss = evaluate(a, objective, &work.xt, &mut work.gt)?;
            *evaluations += 1;
            let (f, dphi) = (f64::from(loss), a.dot(&work.gt, &work.d)?);
            let trial = Point { t, f, dphi };
            if !(f.is_finite() && dphi.is_finite()) {
                hi = Some(Bound { t, point: None });
            } else if f > f0 + C1 * t * gtd || f >= lo.f {
                hi = Some(Bound {
                    t,
                    point: Some(trial),
                });
            } else {
                swap(&mut work.xt, &mut work.xl);
                swap(&mut work.gt, &mut work.gl);
                (prev, lo, lo_loss) = (lo, trial, loss);
                if dphi.abs() <= -C2 * gtd {
                    return Ok(Some(loss));
                }
                let slope_turned = match hi {
                    Some(bound) => dphi * (bound.t - t) >= 0.0,
                    None => dphi >= 0.0,
                };
                if slope_turned {
                    hi = Some(Bound {
                        t: prev.t,
                        point: Some(prev),
                    });
                }
            }
            t = match hi {
                None => extrapolate(prev, lo),
                Some(bound) => {
                    if (bound.t - lo.t).abs() <= resolution {
                        break;
                    }
                    interpolate(lo, bound)
                }
            };
        }
        Ok((lo.t > 0.0).then_some(lo_loss))
    }

    /// Adds the pair from the accepted point (`xl`, `gl`) if its curvature is positive.
    fn update_history(&mut self) -> Result<(), A::Error> {
        let (a, work) = (&mut self.algebra, work(&mut self.work));
        let mut pair = match (self.pairs.len() >= self.config.history)
            .then(|| self.pairs.pop_front())
            .flatten()
            .or_else(|| self.unused.pop())
        {
            Some(pair) => pair,
            None => Pair {
                s: a.alloc_like(&work.d)?,
                y: a.alloc_like(&work.d)?,
                rho: 0.0,
                gamma: 0.0,
            },
        };
        let (x0, g0) = self.cache.vectors();
        let (ss, sy, yy) = a.pair(&work.xl, x0, &work.gl, g0, &mut pair.s, &mut pair.y)?;
        if sy.is_finite() && yy.is_finite() && sy > MIN_COSINE * (ss * yy).sqrt() {
            (pair.rho, pair.gamma) = (1.0 / sy, sy / yy);
            self.pairs.push_back(pair);
        } else {
            tracing::debug!(sy, yy, "L-BFGS skipped a curvature pair");
            self.unused.push(pair);
        }
        Ok(())
    }
}

/// The work vectors, once [`Lbfgs::ensure_buffers`] has made them.
fn work<V>(work: &mut Option<Work<V>>) -> &mut Work<V> {
    work.as_mut().expect("ensure_buffers ran first")
}

impl<A: Algebra> Optimizer<A> for Lbfgs<A> {
    fn step<O: Objective<A::Vector>>(
        &mut self,
        x: &mut A::Vector,
        objective: &mut O,
    ) -> Result<Step, O::Error>
    where
        O::Error: From<A::Error>,
    {
        let (mut evaluations, reused) = self.cache.ensure(&mut self.algebra, x, objective)?;
        if !reused && !std::mem::take(&mut self.retargeted) {
            self.clear_history();
        }
        self.ensure_buffers(x)?;
        let converged = |loss, evaluations| Step {
            loss,
            evaluations,
            converged: true,
        };
        if !self.cache.is_finite(&mut self.algebra)? {
            tracing::warn!(
                loss = self.cache.loss,
                "L-BFGS: loss or gradient at x is not finite"
            );
            return Ok(converged(self.cache.loss, evaluations));
        }
        let g_max = self.algebra.norm_inf(self.cache.vectors().1)?;
        if g_max <= self.config.grad_tolerance {
            return Ok(converged(self.cache.loss, evaluations));
        }
        loop {
            let gtd = self.direction()?;
            let t_init = if self.pairs.is_empty() {
                f64::from(self.config.initial_step) / f64::from(g_max)
            } else {
                1.0
            };
            match self.line_search(objective, t_init, gtd, &mut evaluations)? {
                Some(loss) => {
                    self.update_history()?;
                    let work = work(&mut self.work);
                    let (cx, cg) = self.cache.vectors.as_mut().expect("cache is filled");
                    swap(cx, &mut work.xl);
                    swap(cg, &mut work.gl);
                    self.cache.loss = loss;
                    self.algebra.assign(x, cx)?;
                    return Ok(Step {
                        loss,
                        evaluations,
                        converged: false,
                    });
                }
                None if !self.pairs.is_empty() => {
                    tracing::debug!("L-BFGS line search failed; retrying along the gradient");
                    self.clear_history();
                }
                None => return Ok(converged(self.cache.loss, evaluations)),
            }
        }
    }

    fn reset(&mut self) {
        self.cache.valid = false;
        self.retargeted = false;
        self.clear_history();
    }

    fn retarget(&mut self) {
        self.cache.valid = false;
        self.retargeted = true;
    }
}

#[cfg(test)]
mod tests;
