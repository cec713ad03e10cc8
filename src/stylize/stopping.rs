//! The stopping rule: an iteration cap, and optionally a stop when the loss stops falling.

use std::ops::ControlFlow;

use anyhow::Result;
use ndarray::Array4;
use serde::Serialize;

use super::{optimize, Iteration, Outcome, Solver};
use crate::model::{LossWeights, Model, Targets};

/// Why an optimization (an image, a level of the pyramid, a video frame) stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stop {
    /// The optimizer could make no more progress (L-BFGS found no step that lowers the loss).
    Converged,
    /// The loss fell by less than the tolerance over the last iterations.
    Tolerance,
    /// It ran all the iterations it was given.
    Iterations,
    /// The caller cut it short (Ctrl-C).
    Interrupted,
}

impl Stop {
    /// The word `--stats` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Converged => "converged",
            Stop::Tolerance => "tolerance",
            Stop::Iterations => "iterations",
            Stop::Interrupted => "interrupted",
        }
    }
}

/// Stop when the total loss fell by less than `relative` of itself over the last `window`
/// iterations: `(L[i − window] − L[i]) / L[i − window] < relative`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// The smallest relative decrease that keeps the optimization going.
    pub relative: f32,
    /// Over how many iterations the decrease is measured.
    pub window: usize,
}

impl Tolerance {
    /// Whether the rule stops after the iterations whose total losses are `losses` (in order).
    pub fn reached(&self, losses: &[f32]) -> bool {
        let n = losses.len();
        if self.window == 0 || n <= self.window {
            return false;
        }
        let (before, now) = (losses[n - 1 - self.window], losses[n - 1]);
        (before - now) < self.relative * before.abs()
    }
}

/// How long one optimization may run, and whether it runs preconditioned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// At most this many iterations.
    pub iterations: usize,
    /// Fewer when the loss stops falling, if set.
    pub tolerance: Option<Tolerance>,
    /// Optimize through the band preconditioner ([`crate::optim::Bands`]): a cold start reaches
    /// a given loss in a third to a half of the iterations (docs/COARSE_TO_FINE.md).
    pub precondition: bool,
}

/// [`optimize`] within `budget`: the outcome's [`Stop`] says `tolerance` when the rule ended it.
pub fn optimize_within(
    model: &mut Model,
    targets: &Targets,
    weights: &LossWeights,
    image: &mut Array4<f32>,
    solver: &mut Solver,
    budget: Budget,
    mut on_iteration: impl FnMut(&Iteration) -> ControlFlow<()>,
) -> Result<Outcome> {
    let mut losses = Vec::with_capacity(budget.iterations);
    let mut tolerated = false;
    let mut outcome = optimize(model, targets, weights, image, solver, budget, |it| {
        on_iteration(it)?;
        losses.push(it.loss.total);
        if budget.tolerance.is_some_and(|t| t.reached(&losses)) {
            tolerated = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    if tolerated && outcome.stop == Stop::Interrupted {
        outcome.stop = Stop::Tolerance;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_waits_for_a_full_window() {
        let rule = Tolerance {
            relative: 0.01,
            window: 3,
        };
        assert!(!rule.reached(&[]));
        assert!(!rule.reached(&[100.0, 100.0, 100.0]));
        assert!(rule.reached(&[100.0, 100.0, 100.0, 100.0]));
    }

    #[test]
    fn tolerance_stops_when_the_decrease_over_the_window_is_small() {
        let rule = Tolerance {
            relative: 0.01,
            window: 2,
        };
        // 100 → 98: 2% over two iterations, go on; 98.5 → 98.0: 0.5%, stop.
        assert!(!rule.reached(&[100.0, 99.0, 98.0]));
        assert!(rule.reached(&[100.0, 99.0, 98.5, 98.2, 98.0]));
        // A loss that went up over the window stops too.
        assert!(rule.reached(&[100.0, 99.0, 101.0]));
    }

    #[test]
    fn zero_tolerance_stops_only_on_a_rise() {
        let rule = Tolerance {
            relative: 0.0,
            window: 1,
        };
        assert!(!rule.reached(&[2.0, 1.999]));
        assert!(!rule.reached(&[2.0, 2.0]));
        assert!(rule.reached(&[2.0, 2.001]));
    }

    #[test]
    fn stop_reasons_have_their_stats_words() {
        let words: Vec<_> = [
            Stop::Converged,
            Stop::Tolerance,
            Stop::Iterations,
            Stop::Interrupted,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            words,
            [
                "\"converged\"",
                "\"tolerance\"",
                "\"iterations\"",
                "\"interrupted\""
            ]
        );
        assert_eq!(Stop::Tolerance.as_str(), "tolerance");
    }
}
