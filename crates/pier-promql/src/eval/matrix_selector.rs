//! Range vector selectors (`x[5m]`): at each reference time `r` each series yields its
//! samples in the left-open window `(r - range, r]`, stale markers removed. The store is read
//! once for the node's whole range; each series keeps only its current window in memory and
//! slides it forward ([`Window`]). A function call reads the windows in place
//! ([`MatrixSelectorNode::views`]); only a range vector returned as a query result is copied.

use promql_parser::parser::MatrixSelector;

use super::ctx::Ctx;
use super::select::select;
use super::step::StepValue;
use super::time::{Times, at_millis, millis, offset_millis, reference, reference_range};
use super::window::Window;
use crate::error::QueryError;
use crate::functions::RangeSeries;
use crate::value::Series;

/// A range vector selector with its series.
pub(super) struct MatrixSelectorNode {
    windows: Vec<Window>,
    at: Option<i64>,
    offset: i64,
    range: i64,
    last_ref: Option<i64>,
}

impl MatrixSelectorNode {
    pub fn build(ctx: &mut Ctx<'_>, ms: &MatrixSelector, times: Times) -> Result<Self, QueryError> {
        let vs = &ms.vs;
        let at = at_millis(vs.at.as_ref(), ctx.query_start, ctx.query_end);
        let offset = offset_millis(vs.offset.as_ref());
        let range = millis(&ms.range);
        let refs = reference_range(times, at, offset);
        let mint = refs.min.saturating_sub(range).saturating_add(1);
        let cursors = select(ctx, vs, mint, refs.max)?;
        Ok(Self {
            windows: cursors.into_iter().map(Window::new).collect(),
            at,
            offset,
            range,
            last_ref: None,
        })
    }

    /// Slides every window to the step at `ts`; returns the window `(start, end]` (ms).
    pub fn advance(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<(i64, i64), QueryError> {
        let r = reference(ts, self.at, self.offset);
        let from = r.saturating_sub(self.range).saturating_add(1);
        if self.last_ref != Some(r) {
            for w in &mut self.windows {
                ctx.tick()?;
                let (added, dropped) = w.slide(from, r)?;
                ctx.release(dropped);
                ctx.hold(added)?;
            }
            self.last_ref = Some(r);
        }
        Ok((from - 1, r))
    }

    /// Appends the current windows that hold points, borrowed (after [`Self::advance`]).
    pub fn views<'a>(&'a self, out: &mut Vec<RangeSeries<'a>>) {
        out.extend(
            self.windows
                .iter()
                .filter(|w| !w.points().is_empty())
                .map(|w| RangeSeries {
                    labels: &w.cursor.labels,
                    points: w.points(),
                    drop_name: false,
                    resets: Some(w.resets()),
                }),
        );
    }

    /// The windows at `ts`, copied (a range vector as a query result).
    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        let window = self.advance(ctx, ts)?;
        let series = self
            .windows
            .iter()
            .filter(|w| !w.points().is_empty())
            .map(|w| Series {
                labels: w.cursor.labels.clone(),
                points: w.points().to_vec(),
                drop_name: false,
            })
            .collect();
        Ok(StepValue::Matrix { series, window })
    }
}
