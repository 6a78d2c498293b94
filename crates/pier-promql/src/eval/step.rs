//! [`StepValue`]: what one node produces at one evaluation time.

use crate::value::{Sample, Series};

/// The value of a node at one evaluation time.
#[derive(Debug, Clone)]
pub(super) enum StepValue {
    /// A number.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector; samples carry the evaluation time, except for the plain selector
    /// under `timestamp()`, whose samples carry their own.
    Vector(Vec<Sample>),
    /// A range vector: each series' points in the window `(start, end]` (ms), stale markers
    /// removed, series without points left out.
    Matrix {
        series: Vec<Series>,
        window: (i64, i64),
    },
}

impl StepValue {
    /// The scalar value; a non-scalar reads as NaN (the parser rules that out).
    pub fn scalar(&self) -> f64 {
        match self {
            Self::Scalar(v) => *v,
            _ => f64::NAN,
        }
    }

    /// The instant vector; anything else reads as empty (the parser rules that out).
    pub fn into_vector(self) -> Vec<Sample> {
        match self {
            Self::Vector(v) => v,
            _ => Vec::new(),
        }
    }
}
