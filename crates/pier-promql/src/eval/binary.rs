//! Binary expressions: scalar/scalar, vector/scalar (either side) and vector/vector, with
//! `bool`, and the name-dropping rules of Prometheus 3 (arithmetic and `bool` set
//! `drop_name` on vector/scalar results; vector/vector arithmetic drops the name at once).

use promql_parser::parser::BinaryExpr;
use promql_parser::parser::token::{T_LAND, T_LOR, T_LUNLESS, TokenId};

use super::arith::{apply, is_arithmetic, is_comparison, scalar_op};
use super::build::build;
use super::ctx::Ctx;
use super::matching::{Matching, and, or, unless, vector_op};
use super::node::Node;
use super::step::StepValue;
use super::time::Times;
use crate::error::QueryError;
use crate::value::Sample;

/// A binary operator with its operands.
pub(super) struct BinaryNode {
    op: TokenId,
    return_bool: bool,
    matching: Matching,
    lhs: Node,
    rhs: Node,
}

impl BinaryNode {
    pub fn build(ctx: &mut Ctx<'_>, b: &BinaryExpr, times: Times) -> Result<Self, QueryError> {
        Ok(Self {
            op: b.op.id(),
            return_bool: b.return_bool(),
            matching: Matching::new(b.modifier.as_ref()),
            lhs: build(ctx, &b.lhs, times)?,
            rhs: build(ctx, &b.rhs, times)?,
        })
    }

    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        let lhs = self.lhs.eval(ctx, ts)?;
        let rhs = self.rhs.eval(ctx, ts)?;
        let out = match (lhs, rhs) {
            (StepValue::Scalar(l), StepValue::Scalar(r)) => {
                return Ok(StepValue::Scalar(scalar_op(self.op, l, r)));
            }
            (StepValue::Vector(l), StepValue::Scalar(r)) => self.vector_scalar(l, r, false),
            (StepValue::Scalar(l), StepValue::Vector(r)) => self.vector_scalar(r, l, true),
            (StepValue::Vector(l), StepValue::Vector(r)) => match self.op {
                T_LAND => and(&self.matching, l, &r),
                T_LOR => or(&self.matching, l, r),
                T_LUNLESS => unless(&self.matching, l, &r),
                op => vector_op(op, &self.matching, self.return_bool, &l, &r, ts)?,
            },
            _ => {
                return Err(QueryError::Execution(
                    "binary expression must contain only scalar and instant vector types".into(),
                ));
            }
        };
        ctx.add_step_samples(out.len())?;
        Ok(StepValue::Vector(out))
    }

    /// A vector and a scalar; `swapped` when the scalar is the left operand.
    fn vector_scalar(&self, vector: Vec<Sample>, scalar: f64, swapped: bool) -> Vec<Sample> {
        let op = self.op;
        vector
            .into_iter()
            .filter_map(|mut s| {
                let (l, r) = if swapped {
                    (scalar, s.v)
                } else {
                    (s.v, scalar)
                };
                let (mut v, mut keep) = apply(op, l, r);
                if is_comparison(op) && swapped {
                    // A comparison keeps the vector element's value.
                    v = r;
                }
                if self.return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if !keep {
                    return None;
                }
                s.v = v;
                if is_arithmetic(op) || self.return_bool {
                    s.drop_name = true;
                }
                Some(s)
            })
            .collect()
    }
}
