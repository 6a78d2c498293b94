//! Expression-tree helpers the runner needs: the selectors of a query (to tell whether it
//! reads a native-histogram series), the functions it calls, and upstream's `@`-modifier
//! variant (`atModifierTestCases` in `promql/promqltest/test.go`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pier_tsdb::Labels;
use promql_parser::parser::{AtModifier, Expr, VectorSelector};

/// Functions whose result depends on the evaluation time even when their arguments do not,
/// so upstream does not build the `@` variant of a query that calls them (Prometheus's
/// `AtModifierUnsafeFunctions`, plus the duration-expression functions).
const AT_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    "start",
    "end",
    "range",
    "step",
];

/// Calls `f` on every sub-expression, parents first.
pub fn visit<'a>(expr: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    f(expr);
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                visit(p, f);
            }
            visit(&a.expr, f);
        }
        Expr::Unary(u) => visit(&u.expr, f),
        Expr::Binary(b) => {
            visit(&b.lhs, f);
            visit(&b.rhs, f);
        }
        Expr::Paren(p) => visit(&p.expr, f),
        Expr::Subquery(s) => visit(&s.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                visit(a, f);
            }
        }
        Expr::Extension(e) => {
            for c in e.expr.children() {
                visit(c, f);
            }
        }
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_) => {}
    }
}

/// Every vector selector of `expr`, those inside matrix selectors included.
pub fn selectors(expr: &Expr) -> Vec<&VectorSelector> {
    let mut out = Vec::new();
    visit(expr, &mut |e| match e {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        _ => {}
    });
    out
}

/// The names of the functions `expr` calls.
pub fn called_functions(expr: &Expr) -> Vec<&'static str> {
    let mut out = Vec::new();
    visit(expr, &mut |e| {
        if let Expr::Call(c) = e {
            out.push(c.func.name);
        }
    });
    out
}

/// True if the selector matches the series `labels`.
pub fn selector_matches(vs: &VectorSelector, labels: &Labels) -> bool {
    let get = |n: &str| labels.get(n).unwrap_or("");
    if let Some(name) = &vs.name
        && get("__name__") != name
    {
        return false;
    }
    let all = |ms: &[promql_parser::label::Matcher]| ms.iter().all(|m| m.is_match(get(&m.name)));
    if !all(&vs.matchers.matchers) {
        return false;
    }
    vs.matchers.or_matchers.is_empty() || vs.matchers.or_matchers.iter().any(|g| all(g))
}

fn system_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Upstream's `@` variant of `expr`: `@ at_ms` set on every selector and subquery that has
/// no `@` yet, except inside a subquery (whose own `@` fixes them). `None` when the query
/// calls a function that is not step-invariant (see [`AT_UNSAFE_FUNCTIONS`]).
pub fn at_variant(expr: &Expr, at_ms: i64) -> Option<Expr> {
    if called_functions(expr)
        .iter()
        .any(|f| AT_UNSAFE_FUNCTIONS.contains(f))
    {
        return None;
    }
    let mut out = expr.clone();
    set_at(&mut out, &AtModifier::At(system_time(at_ms)));
    Some(out)
}

fn set_at(expr: &mut Expr, at: &AtModifier) {
    match expr {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() {
                vs.at = Some(at.clone());
            }
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.at.is_none() {
                ms.vs.at = Some(at.clone());
            }
        }
        Expr::Subquery(s) => {
            // Selectors inside keep their own time: the subquery's `@` (set here or already
            // present) fixes the whole subquery.
            if s.at.is_none() {
                s.at = Some(at.clone());
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                set_at(p, at);
            }
            set_at(&mut a.expr, at);
        }
        Expr::Unary(u) => set_at(&mut u.expr, at),
        Expr::Binary(b) => {
            set_at(&mut b.lhs, at);
            set_at(&mut b.rhs, at);
        }
        Expr::Paren(p) => set_at(&mut p.expr, at),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                set_at(a, at);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Upstream's evaluation times for the `@` variants of an instant eval at `t`.
pub fn at_variant_times(t: i64) -> Vec<i64> {
    if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Expr {
        promql_parser::parser::parse(q).unwrap()
    }

    #[test]
    fn at_variant_sets_selectors_not_inside_subqueries() {
        let e = parse("sum(rate(x[5m])) + y @ 10 + max_over_time(z[10m:1m])");
        let v = at_variant(&e, 60_000).unwrap();
        let s = v.to_string();
        assert!(s.contains("x[5m] @ 60"), "{s}");
        assert!(s.contains("y @ 10"), "{s}");
        assert!(s.contains("z[10m:1m] @ 60"), "{s}");
        assert!(!s.contains("z @"), "{s}");
        assert!(at_variant(&parse("time() + x"), 1000).is_none());
        assert!(at_variant(&parse("timestamp(x)"), 1000).is_none());
    }

    #[test]
    fn selectors_match_series() {
        let e =
            parse(r#"rate(h_bucket{le="1"}[5m]) / on() group_left {__name__=~"a|b", job!="x"}"#);
        let sels = selectors(&e);
        assert_eq!(sels.len(), 2);
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied()).unwrap();
        assert!(selector_matches(
            sels[0],
            &l(&[("__name__", "h_bucket"), ("le", "1")])
        ));
        assert!(!selector_matches(
            sels[0],
            &l(&[("__name__", "h_bucket"), ("le", "2")])
        ));
        assert!(selector_matches(sels[1], &l(&[("__name__", "a")])));
        assert!(!selector_matches(
            sels[1],
            &l(&[("__name__", "a"), ("job", "x")])
        ));
        assert!(at_variant_times(0) == vec![-1000, 0, 1000]);
        assert!(at_variant_times(50) == vec![-500, 0, 10, 50, 500]);
    }
}
