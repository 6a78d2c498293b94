//! Reading series from the store for a selector: converts the parser's matchers (including
//! `or` alternatives and the metric name) to the store's, and selects once for the whole
//! window the query needs.

use pier_tsdb::{MatchOp, Matcher, SeriesCursor};
use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use promql_parser::parser::VectorSelector;

use super::ctx::Ctx;
use crate::error::QueryError;

fn convert(m: &PMatcher) -> Result<Matcher, QueryError> {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::RegexMatch,
        PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).or_else(|e| {
        // Go's regexes accept a literal `{` that Rust's reject; the parser escaped those in
        // its own compiled pattern, `^(?:…)$`: retry with that.
        let escaped = match &m.op {
            PMatchOp::Re(re) | PMatchOp::NotRe(re) => re
                .as_str()
                .strip_prefix("^(?:")
                .and_then(|p| p.strip_suffix(")$"))
                .filter(|p| *p != m.value),
            _ => None,
        };
        match escaped {
            Some(p) => Matcher::new(op, m.name.clone(), p),
            None => Err(e),
        }
        .map_err(|e| QueryError::Execution(e.to_string()))
    })
}

/// The matcher sets of a selector: one set, or one per `or` alternative; each includes the
/// metric-name matcher when the name is written outside the braces.
fn matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let name = vs
        .name
        .as_ref()
        .map(|n| Matcher::equal("__name__", n.clone()));
    let mut groups: Vec<&[PMatcher]> = Vec::new();
    if !vs.matchers.matchers.is_empty() || vs.matchers.or_matchers.is_empty() {
        groups.push(&vs.matchers.matchers);
    }
    for g in &vs.matchers.or_matchers {
        groups.push(g);
    }
    groups
        .into_iter()
        .map(|g| {
            let mut set = Vec::with_capacity(g.len() + 1);
            set.extend(name.clone());
            for m in g {
                set.push(convert(m)?);
            }
            Ok(set)
        })
        .collect()
}

/// Cursors over every series the selector matches with a sample in `[mint, maxt]`, sorted by
/// labels.
pub(super) fn select(
    ctx: &mut Ctx<'_>,
    vs: &VectorSelector,
    mint: i64,
    maxt: i64,
) -> Result<Vec<SeriesCursor>, QueryError> {
    ctx.check_deadline()?;
    let sets = matcher_sets(vs)?;
    if mint > maxt {
        return Ok(Vec::new());
    }
    let mut out: Vec<SeriesCursor> = Vec::new();
    for set in &sets {
        out.extend(ctx.storage.select(set, mint, maxt)?);
    }
    if sets.len() > 1 {
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out.dedup_by(|a, b| a.labels == b.labels);
    }
    Ok(out)
}

/// Fails if a cursor stopped early on a read error.
pub(super) fn cursor_error(cursor: &SeriesCursor) -> Result<(), QueryError> {
    match cursor.error() {
        Some(e) => Err(QueryError::Storage(e.to_string())),
        None => Ok(()),
    }
}
