//! Time arithmetic of the evaluator: durations, `offset` and `@` in milliseconds, the range
//! of reference times a selector will be read at, and subquery step alignment.

use std::time::{Duration, SystemTime};

use promql_parser::parser::{AtModifier, Offset};

/// The evaluation times a node will be called at: every call has `min <= ts <= max`, and
/// successive calls never go back in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Times {
    pub min: i64,
    pub max: i64,
}

/// A duration in ms (saturating).
pub(super) fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An `offset` in ms: positive looks back, negative forward.
pub(super) fn offset_millis(o: Option<&Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

/// An `@` modifier as a fixed time in ms; `start()`/`end()` are the query's.
pub(super) fn at_millis(at: Option<&AtModifier>, query_start: i64, query_end: i64) -> Option<i64> {
    match at? {
        AtModifier::Start => Some(query_start),
        AtModifier::End => Some(query_end),
        AtModifier::At(t) => Some(system_time_millis(*t)),
    }
}

fn system_time_millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

/// The time a selector or subquery reads at for evaluation time `ts`.
pub(super) fn reference(ts: i64, at: Option<i64>, offset: i64) -> i64 {
    at.unwrap_or(ts).saturating_sub(offset)
}

/// The range of reference times over `times`.
pub(super) fn reference_range(times: Times, at: Option<i64>, offset: i64) -> Times {
    Times {
        min: reference(times.min, at, offset),
        max: reference(times.max, at, offset),
    }
}

/// The first multiple of `step` strictly after `t` (subquery steps are aligned to absolute
/// multiples of the step, as Prometheus does).
pub(super) fn first_step_after(t: i64, step: i64) -> i64 {
    t.div_euclid(step).saturating_mul(step).saturating_add(step)
}
