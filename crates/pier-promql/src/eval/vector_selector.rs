//! Instant vector selectors: at each reference time `r` (evaluation time, or the `@` time,
//! minus the offset) each series yields its newest sample in the left-open lookback window
//! `(r - lookback, r]`, unless that sample is a stale marker. The store is read once for
//! the node's whole range of reference times; each series' cursor then only moves forward.

use pier_tsdb::{SeriesCursor, is_stale};
use promql_parser::parser::VectorSelector;

use super::ctx::Ctx;
use super::select::{cursor_error, select};
use super::step::StepValue;
use super::time::{Times, at_millis, offset_millis, reference, reference_range};
use crate::error::QueryError;
use crate::value::Sample;

/// One series' walk: samples up to the last reference time are consumed.
struct Walk {
    cursor: SeriesCursor,
    /// Newest consumed sample (at or before the last reference time).
    last: Option<(i64, f64)>,
    /// A sample read past the last reference time, not consumed yet.
    pending: Option<(i64, f64)>,
}

impl Walk {
    fn new(cursor: SeriesCursor) -> Self {
        Self {
            cursor,
            last: None,
            pending: None,
        }
    }

    /// The newest sample at or before `r` and after `r - lookback`, stale markers hidden.
    /// `r` never decreases between calls.
    fn at(&mut self, r: i64, lookback: i64) -> Result<Option<(i64, f64)>, QueryError> {
        let from = r.saturating_sub(lookback).saturating_add(1);
        if self.pending.is_none() && self.last.is_none_or(|l| l.0 < from) {
            // Everything consumed is out of the window: jump, skipping whole chunks.
            self.last = None;
            self.pending = self.cursor.seek(from);
        }
        loop {
            let head = match self.pending {
                Some(h) => h,
                None => match self.cursor.next() {
                    Some(s) => {
                        self.pending = Some(s);
                        s
                    }
                    None => break,
                },
            };
            if head.0 > r {
                break;
            }
            self.last = Some(head);
            self.pending = None;
        }
        cursor_error(&self.cursor)?;
        Ok(self
            .last
            .filter(|&(t, v)| t >= from && t <= r && !is_stale(v)))
    }
}

/// An instant vector selector with its series.
pub(super) struct VectorSelectorNode {
    walks: Vec<Walk>,
    at: Option<i64>,
    offset: i64,
    /// Samples carry their own timestamp (the argument of `timestamp()`).
    sample_time: bool,
    /// The last reference time and its output, reused while `@` pins the time.
    cache: Option<(i64, Vec<Sample>)>,
}

impl VectorSelectorNode {
    pub fn build(
        ctx: &mut Ctx<'_>,
        vs: &VectorSelector,
        times: Times,
        sample_time: bool,
    ) -> Result<Self, QueryError> {
        let at = at_millis(vs.at.as_ref(), ctx.query_start, ctx.query_end);
        let offset = offset_millis(vs.offset.as_ref());
        let refs = reference_range(times, at, offset);
        let mint = refs.min.saturating_sub(ctx.lookback).saturating_add(1);
        let cursors = select(ctx, vs, mint, refs.max)?;
        Ok(Self {
            walks: cursors.into_iter().map(Walk::new).collect(),
            at,
            offset,
            sample_time,
            cache: None,
        })
    }

    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        let r = reference(ts, self.at, self.offset);
        if let Some((cr, out)) = &self.cache
            && *cr == r
        {
            let mut out = out.clone();
            if !self.sample_time {
                out.iter_mut().for_each(|s| s.t = ts);
            }
            ctx.add_step_samples(out.len())?;
            return Ok(StepValue::Vector(out));
        }
        let mut out = Vec::new();
        for w in &mut self.walks {
            ctx.tick()?;
            if let Some((t, v)) = w.at(r, ctx.lookback)? {
                out.push(Sample {
                    labels: w.cursor.labels.clone(),
                    t: if self.sample_time { t } else { ts },
                    v,
                    drop_name: false,
                });
            }
        }
        ctx.add_step_samples(out.len())?;
        if self.at.is_some() {
            self.cache = Some((r, out.clone()));
        }
        Ok(StepValue::Vector(out))
    }
}
