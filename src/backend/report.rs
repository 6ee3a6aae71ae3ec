//! What a run reports about itself: the backend that ran and, for [`crate::Auto`], how it was
//! chosen. It travels back as `sum_chunks`' return value, so no lower layer learns about Auto.

use std::time::Duration;

use super::BackendInfo;

/// What [`crate::Backend::sum_chunks`] ran.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Ran {
    /// The backend that summed the chunks (for [`crate::Auto`], the one it chose).
    pub backend: BackendInfo,
    /// How [`crate::Auto`] chose it; `None` for a backend run directly.
    pub selection: Option<Selection>,
}

impl Ran {
    /// A backend that ran itself.
    pub fn new(backend: BackendInfo) -> Self {
        Self {
            backend,
            selection: None,
        }
    }

    /// A backend chosen by a selector.
    pub fn chosen(backend: BackendInfo, selection: Selection) -> Self {
        Self {
            backend,
            selection: Some(selection),
        }
    }
}

/// How the backend of one sum was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChosenBy {
    /// The lowest predicted time for the request.
    Auto,
    /// Run to learn: a candidate that could be faster but is not measured enough at this size,
    /// or one of the bounded re-checks of a slower one.
    Explore,
    /// `PARSUM_BACKEND` / [`crate::AutoOptions::force`].
    Override,
}

impl ChosenBy {
    /// `auto`, `explore` or `PARSUM_BACKEND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Explore => "explore",
            Self::Override => "PARSUM_BACKEND",
        }
    }
}

/// What a prediction rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Basis {
    /// Enough runs of this backend at this size bucket.
    Measured,
    /// Between measured buckets of this backend, or in a bucket with too few runs yet.
    Interpolated,
    /// Beyond the sizes this backend was measured at, from a latency + n ÷ rate line fitted to
    /// its largest measured buckets.
    Extrapolated,
    /// Only a model the caller gave ([`crate::Auto::with_models`]): nothing measured yet.
    Prior,
}

impl Basis {
    /// `measured`, `interpolated`, `extrapolated` or `prior`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Interpolated => "interpolated",
            Self::Extrapolated => "extrapolated",
            Self::Prior => "prior",
        }
    }
}

/// What [`crate::Auto`] did for one sum; found in [`crate::SumReport::selection`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Selection {
    /// How the backend that ran was chosen.
    pub chosen_by: ChosenBy,
    /// Its predicted time for this request, and what the prediction rests on.
    pub predicted: Option<(Duration, Basis)>,
    /// When the first choice failed: what failed, and that the sum was redone.
    pub fallback: Option<String>,
}

impl Selection {
    /// A selection with no fallback.
    pub fn new(chosen_by: ChosenBy, predicted: Option<(Duration, Basis)>) -> Self {
        Self {
            chosen_by,
            predicted,
            fallback: None,
        }
    }
}
