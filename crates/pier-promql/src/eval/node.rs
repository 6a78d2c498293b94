//! [`Node`]: the evaluator's form of an expression. Each node keeps the state it needs
//! between steps (cursors, windows, subquery buffers) and is evaluated at non-decreasing
//! times, one step at a time.

use super::aggregate::AggregateNode;
use super::binary::BinaryNode;
use super::call::CallNode;
use super::ctx::Ctx;
use super::matrix_selector::MatrixSelectorNode;
use super::step::StepValue;
use super::subquery::SubqueryNode;
use super::vector_selector::VectorSelectorNode;
use crate::error::QueryError;

/// An expression ready to evaluate.
pub(super) enum Node {
    /// A number literal.
    Number(f64),
    /// A string literal.
    String(String),
    /// An instant vector selector.
    Vector(VectorSelectorNode),
    /// A range vector selector.
    Matrix(MatrixSelectorNode),
    /// A subquery.
    Subquery(Box<SubqueryNode>),
    /// Unary minus.
    Negate(Box<Node>),
    /// A binary operator.
    Binary(Box<BinaryNode>),
    /// An aggregation.
    Aggregate(Box<AggregateNode>),
    /// A function call.
    Call(Box<CallNode>),
}

impl Node {
    /// The node's value at `ts` (ms). Calls must come in non-decreasing `ts` order.
    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        match self {
            Self::Number(v) => Ok(StepValue::Scalar(*v)),
            Self::String(s) => Ok(StepValue::String(s.clone())),
            Self::Vector(n) => n.eval(ctx, ts),
            Self::Matrix(n) => n.eval(ctx, ts),
            Self::Subquery(n) => n.eval(ctx, ts),
            Self::Negate(inner) => Ok(match inner.eval(ctx, ts)? {
                StepValue::Scalar(v) => StepValue::Scalar(-v),
                StepValue::Vector(mut samples) => {
                    for s in &mut samples {
                        s.v = -s.v;
                        s.drop_name = true;
                    }
                    StepValue::Vector(samples)
                }
                other => other,
            }),
            Self::Binary(n) => n.eval(ctx, ts),
            Self::Aggregate(n) => n.eval(ctx, ts),
            Self::Call(n) => n.eval(ctx, ts),
        }
    }
}
