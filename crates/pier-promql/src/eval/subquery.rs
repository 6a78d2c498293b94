//! Subqueries (`expr[range:step]`): the inner expression is evaluated at absolute multiples
//! of the step, and at each reference time `r` every inner series yields its points in the
//! left-open window `(r - range, r]`. Inner results are computed once each, in time order,
//! and kept only while some later window still needs them.

use std::collections::{HashMap, VecDeque};

use pier_tsdb::Labels;
use promql_parser::parser::SubqueryExpr;

use super::build::build;
use super::ctx::Ctx;
use super::node::Node;
use super::step::StepValue;
use super::time::{
    Times, at_millis, first_step_after, millis, offset_millis, reference, reference_range,
};
use crate::error::QueryError;
use crate::value::{Series, without_metric_name};

/// One inner series' points still inside some window.
struct Buffer {
    labels: Labels,
    drop_name: bool,
    points: VecDeque<(i64, f64)>,
}

/// A subquery with its inner expression's evaluator.
pub(super) struct SubqueryNode {
    inner: Node,
    at: Option<i64>,
    offset: i64,
    range: i64,
    step: i64,
    /// The next inner evaluation time not computed yet.
    next: Option<i64>,
    buffers: Vec<Buffer>,
    index: HashMap<Labels, usize>,
    last_ref: Option<i64>,
}

impl SubqueryNode {
    pub fn build(ctx: &mut Ctx<'_>, sq: &SubqueryExpr, times: Times) -> Result<Self, QueryError> {
        let at = at_millis(sq.at.as_ref(), ctx.query_start, ctx.query_end);
        let offset = offset_millis(sq.offset.as_ref());
        let range = millis(&sq.range);
        let step = match &sq.step {
            Some(s) if millis(s) > 0 => millis(s),
            _ => ctx.default_subquery_step,
        };
        let refs = reference_range(times, at, offset);
        let inner_times = Times {
            min: first_step_after(refs.min.saturating_sub(range), step),
            max: refs.max,
        };
        let inner = build(ctx, &sq.expr, inner_times)?;
        Ok(Self {
            inner,
            at,
            offset,
            range,
            step,
            next: None,
            buffers: Vec::new(),
            index: HashMap::new(),
            last_ref: None,
        })
    }

    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        let r = reference(ts, self.at, self.offset);
        let window_start = r.saturating_sub(self.range);
        if self.last_ref != Some(r) {
            self.advance(ctx, window_start, r)?;
            self.last_ref = Some(r);
        }
        let series = self
            .buffers
            .iter()
            .filter(|b| !b.points.is_empty())
            .map(|b| Series {
                // A name the inner expression dropped is gone before any function sees it.
                labels: if b.drop_name {
                    without_metric_name(&b.labels)
                } else {
                    b.labels.clone()
                },
                points: b.points.iter().copied().collect(),
                drop_name: false,
            })
            .collect();
        Ok(StepValue::Matrix {
            series,
            window: (window_start, r),
        })
    }

    /// Evaluates the inner expression at the step times up to `r` not done yet, and drops
    /// points at or before `window_start`.
    fn advance(&mut self, ctx: &mut Ctx<'_>, window_start: i64, r: i64) -> Result<(), QueryError> {
        let first = first_step_after(window_start, self.step);
        let mut t = self.next.map_or(first, |n| n.max(first));
        while t <= r {
            ctx.check_deadline()?;
            let mark = ctx.step_mark();
            let value = self.inner.eval(ctx, t)?;
            ctx.reset_step(mark);
            let samples = value.into_vector();
            ctx.hold(samples.len())?;
            for s in samples {
                let i = match self.index.get(&s.labels) {
                    Some(&i) => i,
                    None => {
                        self.index.insert(s.labels.clone(), self.buffers.len());
                        self.buffers.push(Buffer {
                            labels: s.labels.clone(),
                            drop_name: s.drop_name,
                            points: VecDeque::new(),
                        });
                        self.buffers.len() - 1
                    }
                };
                let b = &mut self.buffers[i];
                if b.points.back().is_some_and(|p| p.0 == t) {
                    return Err(QueryError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                b.points.push_back((t, s.v));
            }
            t = t.saturating_add(self.step);
        }
        self.next = Some(t);
        let mut dropped = 0;
        for b in &mut self.buffers {
            while b.points.front().is_some_and(|p| p.0 <= window_start) {
                b.points.pop_front();
                dropped += 1;
            }
        }
        ctx.release(dropped);
        if self.buffers.iter().filter(|b| b.points.is_empty()).count() > 64 {
            self.buffers.retain(|b| !b.points.is_empty());
            self.index = self
                .buffers
                .iter()
                .enumerate()
                .map(|(i, b)| (b.labels.clone(), i))
                .collect();
        }
        Ok(())
    }
}
