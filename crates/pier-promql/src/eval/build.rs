//! Turns a parsed expression into a [`Node`] tree, resolving `@ start()`/`@ end()`, offsets
//! and subquery steps, and selecting every selector's series once for the whole range of
//! times the node will be evaluated at.

use promql_parser::parser::Expr;

use super::aggregate::AggregateNode;
use super::binary::BinaryNode;
use super::call::CallNode;
use super::ctx::Ctx;
use super::matrix_selector::MatrixSelectorNode;
use super::node::Node;
use super::subquery::SubqueryNode;
use super::time::Times;
use super::vector_selector::VectorSelectorNode;
use crate::error::QueryError;

/// Builds the evaluator for `expr`, to be evaluated at times within `times`.
pub(super) fn build(ctx: &mut Ctx<'_>, expr: &Expr, times: Times) -> Result<Node, QueryError> {
    Ok(match expr {
        Expr::NumberLiteral(n) => Node::Number(n.val),
        Expr::StringLiteral(s) => Node::String(s.val.clone()),
        Expr::Paren(p) => build(ctx, &p.expr, times)?,
        Expr::Unary(u) => Node::Negate(Box::new(build(ctx, &u.expr, times)?)),
        Expr::VectorSelector(vs) => Node::Vector(VectorSelectorNode::build(ctx, vs, times, false)?),
        Expr::MatrixSelector(ms) => Node::Matrix(MatrixSelectorNode::build(ctx, ms, times)?),
        Expr::Subquery(sq) => Node::Subquery(Box::new(SubqueryNode::build(ctx, sq, times)?)),
        Expr::Binary(b) => Node::Binary(Box::new(BinaryNode::build(ctx, b, times)?)),
        Expr::Aggregate(a) => Node::Aggregate(Box::new(AggregateNode::build(ctx, a, times)?)),
        Expr::Call(c) => Node::Call(Box::new(CallNode::build(ctx, c, times)?)),
        Expr::Extension(e) => {
            return Err(QueryError::Execution(format!(
                "unsupported expression extension {}",
                e.expr.name()
            )));
        }
    })
}

/// Removes any parentheses around `expr`.
pub(super) fn unparen(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}
