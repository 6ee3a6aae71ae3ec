//! The choice for one request, from each candidate's prediction — pure: numbers in, a choice out,
//! no clock, no threads, so tests drive it through thousands of requests in virtual time.
//!
//! - **Leader**: the lowest pessimistic time, prediction × e^doubt: of two backends alike, the one
//!   measured more surely wins.
//! - **Explore**: a candidate that *could win* — its optimistic time, prediction ÷ e^doubt, beats
//!   the leader's prediction — and has fewer than [`EXPLORE_RUNS`] samples at the footprint runs
//!   instead, to be measured. Each sample shrinks its doubt, so a slower one stops being tried
//!   after a run or two (cubecl drops a candidate once it is clearly behind).
//! - **Re-check**: every decision at a footprint earns [`SHARE`] of the leader's predicted time,
//!   split evenly between the other candidates; one whose share covers its price is run once and
//!   pays it. So re-checks cost at most [`SHARE`] of the predicted time at a footprint. A candidate
//!   never measured anywhere is priced at most [`PRIOR_PRICE`] × the leader's time, so a prior
//!   that hides the fastest backend is tried within ⌈[`PRIOR_PRICE`] × (k − 1) ÷ [`SHARE`]⌉
//!   decisions at a footprint (k candidates) while the leader's prediction holds steady.

use super::history::Basis;

/// Share of a footprint's predicted time that re-checks of other candidates may take.
pub(crate) const SHARE: f64 = 0.01;
/// Samples at a footprint below which a candidate that could win is explored.
pub(crate) const EXPLORE_RUNS: f64 = 3.0;
/// Most a never-measured candidate is priced at, in leader times.
pub(crate) const PRIOR_PRICE: f64 = 2.0;

/// One candidate's prediction for a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prediction {
    pub seconds: f64,
    /// ln of the factor it may be off by.
    pub doubt: f64,
    /// Samples at the request's footprint.
    pub samples: f64,
    /// What it rests on: [`Basis::Prior`] when nothing of this candidate was ever measured.
    pub basis: Basis,
    /// Re-check credit the candidate has spent at the footprint.
    pub spent: f64,
}

impl Prediction {
    fn pessimistic(&self) -> f64 {
        self.seconds * self.doubt.exp()
    }

    fn optimistic(&self) -> f64 {
        self.seconds / self.doubt.exp()
    }
}

/// How a candidate came to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChosenBy {
    /// The lowest predicted time.
    Predicted,
    /// To be measured: it could be faster here, or its bounded re-check was due.
    Explored,
    /// `PARSUM_BACKEND` or [`AutoOptions::force`](crate::AutoOptions::force).
    Forced,
}

impl ChosenBy {
    /// `predicted`, `explored` or `forced`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Predicted => "predicted",
            Self::Explored => "explored",
            Self::Forced => "forced",
        }
    }
}

/// The choice for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    pub index: usize,
    pub leader: usize,
    pub chosen_by: ChosenBy,
    /// What a re-check pays out of its candidate's credit (0 otherwise).
    pub price: f64,
    /// Credit (the footprint's `earned`, see [`decide`]) at which the next re-check falls due.
    pub due: f64,
}

/// Chooses among `predictions` (`None`: not usable); `earned` is what the footprint has earned.
pub(crate) fn decide(predictions: &[Option<Prediction>], earned: f64) -> Option<Decision> {
    let usable = || {
        predictions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p)))
    };
    let (leader, lead) = usable().min_by(|a, b| a.1.pessimistic().total_cmp(&b.1.pessimistic()))?;
    let others = || usable().filter(move |&(i, _)| i != leader);
    let decision = |index, chosen_by, price, due| Decision {
        index,
        leader,
        chosen_by,
        price,
        due,
    };
    let explore = others()
        .filter(|(_, p)| p.samples < EXPLORE_RUNS && p.optimistic() < lead.seconds)
        .min_by(|a, b| a.1.optimistic().total_cmp(&b.1.optimistic()));
    if let Some((i, _)) = explore {
        return Some(decision(i, ChosenBy::Explored, 0.0, f64::INFINITY));
    }
    // Each of the others gets an even part of what the footprint earned.
    let parts = others().count().max(1) as f64;
    let price = |p: &Prediction| {
        if p.basis == Basis::Prior {
            p.seconds.min(PRIOR_PRICE * lead.seconds)
        } else {
            p.seconds
        }
    };
    let due = |p: &Prediction| (price(p) + p.spent) * parts;
    if let Some((i, p)) = others()
        .filter(|(_, p)| due(p) <= earned)
        .min_by(|a, b| price(&a.1).total_cmp(&price(&b.1)))
    {
        return Some(decision(i, ChosenBy::Explored, price(&p), f64::INFINITY));
    }
    let next = others().map(|(_, p)| due(&p)).fold(f64::INFINITY, f64::min);
    Some(decision(leader, ChosenBy::Predicted, 0.0, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::history::PRIOR_DOUBT;

    fn p(seconds: f64, doubt: f64, samples: f64) -> Option<Prediction> {
        let basis = if samples > 0.0 {
            Basis::Measured
        } else {
            Basis::Prior
        };
        Some(Prediction {
            seconds,
            doubt,
            samples,
            basis,
            spent: 0.0,
        })
    }

    #[test]
    fn the_surest_fastest_leads() {
        let d = decide(&[p(1.0, 0.01, 32.0), p(2.0, 0.01, 32.0)], 0.0).unwrap();
        assert_eq!((d.index, d.chosen_by), (0, ChosenBy::Predicted));
        // Slightly faster but far less sure: the sure one leads, the other is explored.
        let d = decide(&[p(1.0, 0.01, 32.0), p(0.9, 0.3, 1.0)], 0.0).unwrap();
        assert_eq!((d.leader, d.index, d.chosen_by), (0, 1, ChosenBy::Explored));
        // Measured enough at the footprint: no more exploring, whatever the doubt.
        let d = decide(&[p(1.0, 0.01, 32.0), p(0.9, 0.3, 3.0)], 0.0).unwrap();
        assert_eq!((d.index, d.chosen_by), (0, ChosenBy::Predicted));
        assert!(decide(&[None, None], 0.0).is_none());
        assert_eq!(decide(&[None, p(5.0, 0.1, 9.0)], 0.0).unwrap().index, 1);
    }

    #[test]
    fn rechecks_fall_due_when_the_share_covers_them() {
        let mut preds = [p(1.0, 0.01, 32.0), p(3.0, 0.01, 32.0)];
        let d = decide(&preds, 0.5).unwrap();
        assert_eq!((d.index, d.due), (0, 3.0));
        let d = decide(&preds, 3.0).unwrap();
        assert_eq!(
            (d.index, d.chosen_by, d.price),
            (1, ChosenBy::Explored, 3.0)
        );
        // Once paid, the next one is due after as much again.
        preds[1].as_mut().unwrap().spent = 3.0;
        let d = decide(&preds, 3.5).unwrap();
        assert_eq!((d.index, d.due), (0, 6.0));
    }

    #[test]
    fn a_never_measured_candidate_is_priced_at_most_the_cap() {
        let preds = [
            p(1.0, 0.01, 32.0),
            p(1e6, PRIOR_DOUBT, 0.0),
            p(2.0, 0.01, 32.0),
        ];
        let d = decide(&preds, 0.0).unwrap();
        // Two others share the earnings: the hidden one is due at 2 × PRIOR_PRICE.
        assert_eq!(d.due, 2.0 * PRIOR_PRICE);
        let d = decide(&preds, 2.0 * PRIOR_PRICE).unwrap();
        assert_eq!((d.index, d.price), (1, PRIOR_PRICE));
    }
}
