//! Running a parsed script against the engine over a [`MemStorage`], one outcome (pass,
//! fail or skip) per eval, as upstream's `promql/promqltest/test.go` runs it.
//!
//! For an instant eval, as upstream, the query is also (a) re-run with `@ t` set on every
//! selector and subquery at the times [`super::ast::at_variant_times`] gives (not for
//! queries calling time-dependent functions), and (b) re-run as a range query over
//! `[t-1m, t+1m]` at step 1m whose middle step must equal the expectation (not for
//! `expect ordered`/`string`/`range vector`, nor for queries calling `start`/`end`/
//! `range`/`step`). Either can be switched off in [`RunOptions`].
//!
//! Native histograms: pier has none. A load item `{{…}}` is not loaded and its series is
//! remembered (so are the histograms `load_with_nhcb` would build from `_bucket` series);
//! an eval whose expected values hold a histogram is skipped with the reason "native
//! histogram". One whose selectors match such a series is run all the same (the float part
//! may be all it checks, e.g. `sort` drops histograms): if it passes it counts as passed,
//! if it fails it is skipped with that reason ([`RunOptions::try_histogram_evals`]).

use std::panic::{AssertUnwindSafe, catch_unwind};

use pier_tsdb::Labels;
use promql_parser::parser::Expr;

use super::ast;
use super::compare::{self, Range, fmt_time, message_matches};
use super::script::{AnnotationExpect, Command, Eval, EvalTime, MsgMatch, parse_script};
use super::series::SeqValue;
use super::skips::SkipList;
use super::{Failure, FileReport, Skip};
use crate::engine::{Engine, QueryOutput};
use crate::error::QueryError;
use crate::mem::MemStorage;
use crate::value::Value;

/// Which of upstream's extra checks run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// (a) re-run instant evals with `@` on every selector at several times.
    pub at_modifier_variants: bool,
    /// (b) re-run instant evals as a range query and compare the middle step.
    pub range_mode_check: bool,
    /// Run files the skip list skips whole (to see how far a phase-2 file is).
    pub ignore_file_skips: bool,
    /// Also run evals the skip list skips by line, and list those that pass in
    /// [`FileReport::unneeded_skips`].
    pub check_line_skips: bool,
    /// Run evals whose selectors match a native-histogram series (whose histogram samples
    /// were not loaded) anyway: a pass counts as a pass, a failure as a skip.
    pub try_histogram_evals: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            at_modifier_variants: true,
            range_mode_check: true,
            ignore_file_skips: false,
            check_line_skips: true,
            try_histogram_evals: true,
        }
    }
}

/// The outcome of one eval.
enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// Runs the script `text` of the file named `file` (its base name, as the skip list names
/// it).
pub fn run(
    file: &str,
    text: &str,
    engine: &Engine,
    skips: &SkipList,
    options: &RunOptions,
) -> FileReport {
    let mut report = FileReport {
        file: file.to_string(),
        ..FileReport::default()
    };
    let commands = parse_script(text);
    let file_skip = if options.ignore_file_skips {
        None
    } else {
        skips.file_reason(file)
    };
    let mut state = State {
        engine,
        options,
        storage: MemStorage::new(),
        histogram_series: Vec::new(),
    };
    for cmd in &commands {
        match cmd {
            Command::Clear { .. } => {
                state.storage.clear();
                state.histogram_series.clear();
            }
            Command::Load(load) => {
                for (_, desc) in &load.series {
                    if desc.has_histogram() {
                        state.histogram_series.push(desc.labels.clone());
                    }
                    if load.with_nhcb
                        && let Some(nhcb) = nhcb_labels(&desc.labels)
                    {
                        state.histogram_series.push(nhcb);
                    }
                    for (k, v) in desc.values.iter().enumerate() {
                        if let SeqValue::Float(f) = v {
                            let t = k as i64 * load.interval_ms;
                            state.storage.add(&desc.labels, t, *f);
                        }
                    }
                }
            }
            Command::Invalid { line, reason } => {
                if let Some(reason) = file_skip {
                    report.skipped.push(Skip {
                        line: *line,
                        query: String::new(),
                        reason: reason.to_string(),
                    });
                } else {
                    report.failed.push(Failure {
                        line: *line,
                        query: String::new(),
                        reason: format!("invalid test block: {reason}"),
                    });
                }
            }
            Command::Eval(eval) => {
                if let Some(reason) = file_skip {
                    report.skipped.push(Skip {
                        line: eval.line,
                        query: eval.query.clone(),
                        reason: reason.to_string(),
                    });
                    continue;
                }
                if let Some(reason) = skips.line_reason(file, eval.line) {
                    if options.check_line_skips && matches!(state.run_eval(eval), Outcome::Pass) {
                        report.unneeded_skips.push(eval.line);
                    }
                    report.skipped.push(Skip {
                        line: eval.line,
                        query: eval.query.clone(),
                        reason: reason.to_string(),
                    });
                    continue;
                }
                match state.run_eval(eval) {
                    Outcome::Pass => report.passed += 1,
                    Outcome::Fail(reason) => report.failed.push(Failure {
                        line: eval.line,
                        query: eval.query.clone(),
                        reason,
                    }),
                    Outcome::Skip(reason) => report.skipped.push(Skip {
                        line: eval.line,
                        query: eval.query.clone(),
                        reason,
                    }),
                }
            }
        }
    }
    report
}

/// The labels of the native histogram with custom buckets that `load_with_nhcb` makes from
/// a classic `_bucket` series: the base name, without `le`.
fn nhcb_labels(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?.strip_suffix("_bucket")?;
    labels.get("le")?;
    Labels::from_pairs(labels.iter().filter(|l| l.name != "le").map(|l| {
        if l.name == "__name__" {
            (l.name, name)
        } else {
            (l.name, l.value)
        }
    }))
    .ok()
}

struct State<'a> {
    engine: &'a Engine,
    options: &'a RunOptions,
    storage: MemStorage,
    histogram_series: Vec<Labels>,
}

/// Runs `f`, turning a panic into an execution error so one bad eval does not end the run.
fn guarded(f: impl FnOnce() -> Result<QueryOutput, QueryError>) -> Result<QueryOutput, QueryError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(QueryError::Execution(format!("evaluator panicked: {msg}")))
        }
    }
}

impl State<'_> {
    fn run_eval(&self, eval: &Eval) -> Outcome {
        if eval.expects_histogram() {
            return Outcome::Skip("native histogram".into());
        }
        let expr = match promql_parser::parser::parse(&eval.query) {
            Ok(e) => e,
            Err(e) => {
                let e = e.replace('\n', " ");
                // Upstream's parser accepts every query of its files; a parse error here is
                // a gap of promql-parser, except where the query is expected to fail and
                // the message matches.
                if eval.fail {
                    return match check_failure(eval, &e) {
                        Ok(()) => Outcome::Pass,
                        Err(r) => Outcome::Fail(format!("promql-parser cannot parse: {e} ({r})")),
                    };
                }
                return Outcome::Fail(format!("promql-parser cannot parse: {e}"));
            }
        };
        let reads_histograms = self.reads_histograms(&expr);
        if reads_histograms && !self.options.try_histogram_evals {
            return Outcome::Skip("native histogram".into());
        }
        let result = match eval.time {
            EvalTime::Range {
                start_ms,
                end_ms,
                step_ms,
            } => self.run_range(eval, &expr, start_ms, end_ms, step_ms),
            EvalTime::Instant { at_ms } => self.run_instant_all(eval, &expr, at_ms),
        };
        match result {
            Ok(()) => Outcome::Pass,
            Err(_) if reads_histograms => Outcome::Skip("native histogram".into()),
            Err(reason) => Outcome::Fail(reason),
        }
    }

    fn reads_histograms(&self, expr: &Expr) -> bool {
        if self.histogram_series.is_empty() {
            return false;
        }
        ast::selectors(expr).iter().any(|vs| {
            self.histogram_series
                .iter()
                .any(|l| ast::selector_matches(vs, l))
        })
    }

    fn run_range(
        &self,
        eval: &Eval,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<(), String> {
        let res = guarded(|| {
            self.engine
                .range_expr(&self.storage, expr, start, end, step)
        });
        let out = match res {
            Err(e) if eval.fail => return check_failure(eval, &e.to_string()),
            Err(e) => return Err(format!("error evaluating query: {e}")),
            Ok(_) if eval.fail => return Err("expected the query to fail, but it succeeded".into()),
            Ok(out) => out,
        };
        check_annotations(eval, &out)?;
        compare::compare(eval, &out.value, Some((start, end, step)))
    }

    /// The instant eval, then upstream's `@` variants.
    fn run_instant_all(&self, eval: &Eval, expr: &Expr, t: i64) -> Result<(), String> {
        self.run_instant(eval, expr, t)?;
        if !self.options.at_modifier_variants {
            return Ok(());
        }
        let Some(variant) = ast::at_variant(expr, t) else {
            return Ok(());
        };
        for et in ast::at_variant_times(t) {
            self.run_instant(eval, &variant, et).map_err(|e| {
                format!(
                    "in the @ variant `{variant}` evaluated at {}: {e}",
                    fmt_time(et)
                )
            })?;
        }
        Ok(())
    }

    /// One instant query (upstream's `runInstantQuery`), with the range-mode check.
    fn run_instant(&self, eval: &Eval, expr: &Expr, t: i64) -> Result<(), String> {
        let res = guarded(|| self.engine.instant_expr(&self.storage, expr, t));
        let out = match res {
            Err(e) if eval.fail => return check_failure(eval, &e.to_string()),
            Err(e) => return Err(format!("error evaluating query: {e}")),
            Ok(_) if eval.fail => return Err("expected the query to fail, but it succeeded".into()),
            Ok(out) => out,
        };
        check_annotations(eval, &out)?;
        let range: Option<Range> = eval.range_vector.or(Some((t, t, 0)));
        compare::compare(eval, &out.value, range)?;

        if !self.options.range_mode_check
            || eval.ordered
            || eval.expect_string.is_some()
            || eval.range_vector.is_some()
            || matches!(out.value, Value::Matrix(_) | Value::String { .. })
            || ast::called_functions(expr)
                .iter()
                .any(|f| matches!(*f, "start" | "end" | "range" | "step"))
        {
            return Ok(());
        }
        let ctx = "in range mode [t-1m, t+1m] step 1m";
        let res = guarded(|| {
            self.engine
                .range_expr(&self.storage, expr, t - 60_000, t + 60_000, 60_000)
        });
        let out = res.map_err(|e| format!("{ctx}: error evaluating query: {e}"))?;
        let Value::Matrix(series) = &out.value else {
            return Err(format!(
                "{ctx}: a range query returned a {}, not a matrix",
                out.value.type_name()
            ));
        };
        let mut vector = Vec::new();
        for s in series {
            if let Some(&(pt, v)) = s.points.iter().find(|(pt, _)| *pt == t) {
                vector.push(crate::value::Sample {
                    labels: s.labels.clone(),
                    t: pt,
                    v,
                    drop_name: false,
                });
            }
        }
        let value = if eval.expect_scalar.is_some() {
            match vector.first() {
                Some(s) => Value::Scalar { t, v: s.v },
                None => return Err(format!("{ctx}: no point at t for a scalar expression")),
            }
        } else {
            Value::Vector(vector)
        };
        compare::compare(eval, &value, None).map_err(|e| format!("{ctx}: {e}"))
    }
}

/// With `expect fail`: the error text must satisfy the `msg:`/`regex:` if any.
fn check_failure(eval: &Eval, error: &str) -> Result<(), String> {
    match &eval.fail_match {
        None => Ok(()),
        Some(m) if message_matches(m, error) => Ok(()),
        Some(MsgMatch::Exact(exp)) => Err(format!("expected error {exp:?} but got {error:?}")),
        Some(MsgMatch::Regex(re)) => Err(format!(
            "expected error matching /{}/ but got {error:?}",
            re.as_str()
        )),
    }
}

fn check_annotations(eval: &Eval, out: &QueryOutput) -> Result<(), String> {
    check_kind("warn", &eval.warn, &out.annotations.warnings)?;
    check_kind("info", &eval.info, &out.annotations.infos)
}

fn check_kind(kind: &str, exp: &AnnotationExpect, actual: &[String]) -> Result<(), String> {
    if exp.forbidden && !actual.is_empty() {
        return Err(format!("unexpected {kind} annotations: {actual:?}"));
    }
    if exp.expected && actual.is_empty() {
        return Err(format!("expected a {kind} annotation, got none"));
    }
    if exp.matches.is_empty() {
        return Ok(());
    }
    for m in &exp.matches {
        if !actual.iter().any(|a| message_matches(m, a)) {
            let want = match m {
                MsgMatch::Exact(s) => format!("{s:?}"),
                MsgMatch::Regex(r) => format!("/{}/", r.as_str()),
            };
            return Err(format!(
                "expected {kind} annotation {want} (position ignored), got {actual:?}"
            ));
        }
    }
    for a in actual {
        if !exp.matches.iter().any(|m| message_matches(m, a)) {
            return Err(format!("unexpected {kind} annotation {a:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_text(text: &str, skips: &SkipList) -> FileReport {
        run(
            "t.test",
            text,
            &super::super::test_engine(),
            skips,
            &RunOptions::default(),
        )
    }

    #[test]
    fn native_histograms_are_skipped() {
        let text = "load 1m\n  h {{schema:0 sum:1 count:1}}\n  f 1\n\n\
                    eval instant at 0 h\n  h {{schema:0 sum:1 count:1}}\n\n\
                    eval instant at 0 rate({__name__=~\"h|f\"}[5m])\n\n\
                    clear\n\n\
                    load_with_nhcb 1m\n  x_bucket{le=\"1\"} 1\n  x_bucket{le=\"+Inf\"} 2\n\n\
                    eval instant at 0 histogram_count(x)\n\n\
                    eval instant at 0 count({__name__=~\"x|x_bucket\"})\n  {} 3\n";
        let skipped = |options: &RunOptions| -> Vec<(usize, String)> {
            let r = run(
                "t.test",
                text,
                &super::super::test_engine(),
                &SkipList::new(),
                options,
            );
            r.skipped
                .iter()
                .map(|s| (s.line, s.reason.clone()))
                .collect()
        };
        let nh = |line: usize| (line, "native histogram".to_string());
        let never = RunOptions {
            try_histogram_evals: false,
            ..RunOptions::default()
        };
        assert_eq!(skipped(&never), vec![nh(5), nh(8), nh(16), nh(18)]);
        // Tried: the count cannot be 3 without the histogram, so it stays skipped.
        let tried = skipped(&RunOptions::default());
        assert!(
            tried.contains(&nh(5)) && tried.contains(&nh(18)),
            "{tried:?}"
        );
    }

    #[test]
    fn skip_list_and_invalid_blocks() {
        let text = "eval instant at 0 1\n  1\n\neval instant at 0 2\n  2\n\nbogus line\n";
        let skips = SkipList::parse("t.test:4 experimental\n").unwrap();
        let r = run_text(text, &skips);
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].reason, "experimental");
        assert!(
            r.failed
                .iter()
                .any(|f| f.line == 7 && f.reason.contains("invalid")),
            "{r}"
        );
        let skips = SkipList::parse("t.test * phase 2\n").unwrap();
        let r = run_text(text, &skips);
        assert_eq!((r.passed, r.failed.len(), r.skipped.len()), (0, 0, 3));
    }

    #[test]
    fn expected_failures() {
        // A parse error is a failure, which `expect fail` accepts when the message matches.
        let text = "eval instant at 0 sum(\n  expect fail\n\n\
                    eval instant at 0 sum(\n  expect fail regex: unclosed\n\n\
                    eval instant at 0 sum(\n  expect fail msg: something else\n\n\
                    eval instant at 0 sum(\n";
        let r = run_text(text, &SkipList::new());
        assert_eq!(r.passed, 2, "{r}");
        let lines: Vec<usize> = r.failed.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![7, 10], "{r}");
        assert!(
            r.failed[1].reason.contains("promql-parser cannot parse"),
            "{r}"
        );
    }

    #[test]
    fn nhcb_labels_drop_le_and_suffix() {
        let l = Labels::from_pairs([("__name__", "x_bucket"), ("le", "1"), ("job", "a")]).unwrap();
        assert_eq!(
            nhcb_labels(&l).unwrap().to_string(),
            r#"{__name__="x", job="a"}"#
        );
        let l = Labels::from_pairs([("__name__", "x_count"), ("job", "a")]).unwrap();
        assert!(nhcb_labels(&l).is_none());
    }
}
