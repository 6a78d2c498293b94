//! `absent(v)` and `absent_over_time(v[d])`: a single sample of value 1 when the argument
//! has no sample, labelled from the selector's equality matchers.

use pier_tsdb::Labels;
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

use super::args::sample;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// `absent(v)`: `{labels} 1` if the instant vector is empty, else nothing.
pub(super) fn absent(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    if !call.vector(0)?.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![sample(
        labels_for(call.arg_exprs.first().map(|e| e.as_ref())),
        call.ts,
        1.0,
        false,
    )])
}

/// `absent_over_time(v[d])`: `{labels} 1` if no series has a sample in the window.
pub(super) fn absent_over_time(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    if call.matrix(0)?.iter().any(|s| !s.points.is_empty()) {
        return Ok(Vec::new());
    }
    Ok(vec![sample(
        labels_for(call.arg_exprs.first().map(|e| e.as_ref())),
        call.ts,
        1.0,
        false,
    )])
}

/// The labels fixed by a selector argument: one per label name matched with `=` exactly
/// once and by no other matcher (`__name__` excluded). Any other expression gives `{}`.
fn labels_for(expr: Option<&Expr>) -> Labels {
    let matchers = match expr {
        Some(Expr::VectorSelector(vs)) => &vs.matchers.matchers,
        Some(Expr::MatrixSelector(ms)) => &ms.vs.matchers.matchers,
        _ => return Labels::empty(),
    };
    // Prometheus's historic rule: the first `=` matcher of a name sets it; any later
    // matcher of that name (or any non-`=` matcher) removes it.
    let mut set: Vec<(&str, &str)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == "__name__" {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            set.retain(|(n, _)| *n != m.name);
            set.push((&m.name, &m.value));
            seen.push(&m.name);
        } else {
            set.retain(|(n, _)| *n != m.name);
        }
    }
    Labels::from_pairs(set).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;
    use promql_parser::parser::{Expr, parse};

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::{Sample, Series};

    fn arg_of(query: &str) -> Box<Expr> {
        match parse(query).unwrap() {
            Expr::Call(c) => c.args.args[0].clone(),
            other => panic!("not a call: {other:?}"),
        }
    }

    fn absent_labels(query: &str) -> String {
        let exprs = [arg_of(query)];
        let args = [Arg::Vector(&[])];
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name: "absent",
            args: &args,
            arg_exprs: &exprs,
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].v, 1.0);
        out[0].labels.to_string()
    }

    #[test]
    fn labels_from_equality_matchers() {
        assert_eq!(absent_labels("absent(nonexistent)"), "{}");
        assert_eq!(
            absent_labels(
                r#"absent(nonexistent{job="testjob", instance="testinstance", method=~".x"})"#
            ),
            r#"{instance="testinstance", job="testjob"}"#
        );
        assert_eq!(
            absent_labels(r#"absent(nonexistent{job="testjob",job="testjob2",foo="bar"})"#),
            r#"{foo="bar"}"#
        );
        assert_eq!(
            absent_labels(r#"absent(nonexistent{job="a",job="b",job="c",foo="bar"})"#),
            r#"{foo="bar"}"#
        );
        assert_eq!(
            absent_labels(r#"absent(nonexistent{job="testjob",job=~"testjob2",foo="bar"})"#),
            r#"{foo="bar"}"#
        );
        assert_eq!(absent_labels(r#"absent(sum(nonexistent{job="x"}))"#), "{}");
    }

    #[test]
    fn nothing_when_present() {
        let s = [Sample {
            labels: Labels::from_pairs([("__name__", "x")]).unwrap(),
            t: 0,
            v: 1.0,
            drop_name: false,
        }];
        let args = [Arg::Vector(&s)];
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name: "absent",
            args: &args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .unwrap();
        assert!(out.is_empty());

        let m = [Series {
            labels: Labels::from_pairs([("__name__", "x")]).unwrap(),
            points: vec![(1, 1.0)],
            drop_name: false,
        }];
        let exprs = [arg_of(r#"absent_over_time(x{job="a"}[5m])"#)];
        for (matrix, want) in [(&m[..], 0), (&[][..], 1)] {
            let views = super::super::views(matrix);
            let args = [Arg::Matrix(&views)];
            let out = call(FnCall {
                name: "absent_over_time",
                args: &args,
                arg_exprs: &exprs,
                ts: 0,
                window: Some((-1, 0)),
                annotations: &mut ann,
            })
            .unwrap();
            assert_eq!(out.len(), want);
            if want == 1 {
                assert_eq!(out[0].labels.to_string(), r#"{job="a"}"#);
            }
        }
    }
}
