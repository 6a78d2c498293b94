//! Range vector selectors (`x[5m]`): at each reference time `r` each series yields its
//! samples in the left-open window `(r - range, r]`, stale markers removed. The store is read
//! once for the node's whole range; each series keeps only its current window in memory and
//! slides it forward.

use std::collections::VecDeque;

use pier_tsdb::{SeriesCursor, is_stale};
use promql_parser::parser::MatrixSelector;

use super::ctx::Ctx;
use super::select::{cursor_error, select};
use super::step::StepValue;
use super::time::{Times, at_millis, millis, offset_millis, reference, reference_range};
use crate::error::QueryError;
use crate::value::Series;

/// One series' sliding window.
struct Window {
    cursor: SeriesCursor,
    points: VecDeque<(i64, f64)>,
    /// A sample read past the window's end, not consumed yet.
    pending: Option<(i64, f64)>,
}

impl Window {
    /// Moves the window to `(from - 1, r]`; returns (points added, points dropped).
    fn slide(&mut self, from: i64, r: i64) -> Result<(usize, usize), QueryError> {
        let mut dropped = 0;
        while self.points.front().is_some_and(|p| p.0 < from) {
            self.points.pop_front();
            dropped += 1;
        }
        if self.points.is_empty() && self.pending.is_none_or(|p| p.0 < from) {
            // Nothing to keep: jump, skipping whole chunks.
            self.pending = self.cursor.seek(from);
        }
        let mut added = 0;
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
            self.pending = None;
            if head.0 >= from && !is_stale(head.1) {
                self.points.push_back(head);
                added += 1;
            }
        }
        cursor_error(&self.cursor)?;
        Ok((added, dropped))
    }
}

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
            windows: cursors
                .into_iter()
                .map(|cursor| Window {
                    cursor,
                    points: VecDeque::new(),
                    pending: None,
                })
                .collect(),
            at,
            offset,
            range,
            last_ref: None,
        })
    }

    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
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
        let series = self
            .windows
            .iter()
            .filter(|w| !w.points.is_empty())
            .map(|w| Series {
                labels: w.cursor.labels.clone(),
                points: w.points.iter().copied().collect(),
                drop_name: false,
            })
            .collect();
        Ok(StepValue::Matrix {
            series,
            window: (from - 1, r),
        })
    }
}
