//! Function calls: every argument is evaluated at the step and handed to
//! [`crate::functions::call`]; a range-vector argument comes with its window. The plain
//! selector under `timestamp()` keeps its samples' own timestamps, and a function whose
//! return type is scalar yields a scalar.

use std::collections::HashSet;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr, FunctionArgs};

use super::build::{build, unparen};
use super::ctx::Ctx;
use super::node::Node;
use super::step::StepValue;
use super::time::Times;
use super::vector_selector::VectorSelectorNode;
use crate::error::QueryError;
use crate::functions::{Arg, FnCall, RangeSeries, call};

/// A function call with its argument evaluators.
pub(super) struct CallNode {
    name: &'static str,
    returns_scalar: bool,
    args: Vec<Node>,
    arg_exprs: FunctionArgs,
}

impl CallNode {
    pub fn build(ctx: &mut Ctx<'_>, c: &Call, times: Times) -> Result<Self, QueryError> {
        let name = c.func.name;
        if ctx.query_step > 0
            && matches!(
                name,
                "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
            )
        {
            ctx.annotations.warn(
                "sort is ineffective for range queries since results are always ordered by labels",
            );
        }
        let mut args = Vec::with_capacity(c.args.args.len());
        for (i, a) in c.args.args.iter().enumerate() {
            let node = match unparen(a) {
                Expr::VectorSelector(vs) if name == "timestamp" && i == 0 => {
                    Node::Vector(VectorSelectorNode::build(ctx, vs, times, true)?)
                }
                _ => build(ctx, a, times)?,
            };
            args.push(node);
        }
        Ok(Self {
            name,
            returns_scalar: c.func.return_type == ValueType::Scalar,
            args,
            arg_exprs: c.args.clone(),
        })
    }

    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        // The query's own bounds and step, in seconds.
        let query_value = match self.name {
            "start" => Some(ctx.query_start),
            "end" => Some(ctx.query_end),
            "range" => Some(ctx.query_end - ctx.query_start),
            "step" => Some(ctx.query_step),
            _ => None,
        };
        if let Some(ms) = query_value {
            return Ok(StepValue::Scalar(ms as f64 / 1000.0));
        }
        // A range selector argument is slid in place and read without a copy (`None`
        // below); every other argument is evaluated to a value.
        let mut values = Vec::with_capacity(self.args.len());
        let mut window = None;
        for a in &mut self.args {
            values.push(match a {
                Node::Matrix(m) => {
                    window = Some(m.advance(ctx, ts)?);
                    None
                }
                other => Some(other.eval(ctx, ts)?),
            });
        }
        let mut views: Vec<RangeSeries<'_>> = Vec::new();
        for (a, v) in self.args.iter().zip(&values) {
            match (a, v) {
                (Node::Matrix(m), None) => m.views(&mut views),
                (_, Some(StepValue::Matrix { series, window: w })) => {
                    window = Some(*w);
                    views.extend(series.iter().map(RangeSeries::of));
                }
                _ => {}
            }
        }
        let args: Vec<Arg<'_>> = values
            .iter()
            .map(|v| match v {
                Some(StepValue::Scalar(f)) => Arg::Scalar(*f),
                Some(StepValue::String(s)) => Arg::String(s),
                Some(StepValue::Vector(samples)) => Arg::Vector(samples),
                Some(StepValue::Matrix { .. }) | None => Arg::Matrix(&views),
            })
            .collect();
        let out = call(FnCall {
            name: self.name,
            args: &args,
            arg_exprs: &self.arg_exprs.args,
            ts,
            window,
            annotations: &mut ctx.annotations,
        })?;
        if self.returns_scalar {
            return Ok(StepValue::Scalar(out.first().map_or(f64::NAN, |s| s.v)));
        }
        if matches!(self.name, "label_replace" | "label_join") {
            let mut seen = HashSet::with_capacity(out.len());
            if !out.iter().all(|s| seen.insert(&s.labels)) {
                return Err(QueryError::Execution(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
        }
        ctx.add_step_samples(out.len())?;
        Ok(StepValue::Vector(out))
    }
}
