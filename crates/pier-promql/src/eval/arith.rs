//! The element-wise operators: arithmetic and comparisons on two floats, as Prometheus
//! computes them (Go's `math.Pow`/`math.Mod` agree with Rust's `powf` and `%`).

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LSS, T_LTE, T_MOD, T_MUL, T_NEQ, T_POW, T_SUB,
    TokenId,
};

/// Whether `op` is arithmetic (its result is no longer the input metric, so the name goes).
pub(super) fn is_arithmetic(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW | T_ATAN2)
}

/// Whether `op` is a comparison.
pub(super) fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Applies `op` to two floats: the value and whether a filtering comparison keeps it (for
/// a comparison the value is the left operand).
pub(super) fn apply(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// A scalar-scalar operation: comparisons give 0 or 1.
pub(super) fn scalar_op(op: TokenId, l: f64, r: f64) -> f64 {
    let (v, keep) = apply(op, l, r);
    if is_comparison(op) {
        if keep { 1.0 } else { 0.0 }
    } else {
        v
    }
}
