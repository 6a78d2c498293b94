//! Parsing a promqltest script into commands (`load`, `clear`, `eval`), as upstream's
//! `promql/promqltest/test.go` does: lines are trimmed, `#` lines are comments, `clear` is
//! one line, `load` and `eval` blocks run to the next blank line, the command word is
//! case-insensitive. A block that does not parse becomes
//! [`Command::Invalid`] (reported as a failure at its line) and parsing goes on with the next
//! block, so one bad block does not hide the rest of a file.

use std::sync::LazyLock;

use regex::Regex;

use super::series::{SeqValue, SeriesDesc, parse_duration, parse_number, parse_series_line};

/// One command of a script, with its 1-based line number.
#[derive(Debug, Clone)]
pub enum Command {
    /// `clear`: drop all loaded data.
    Clear { line: usize },
    /// `load <interval>` and its series lines.
    Load(Load),
    /// `eval …` and its expectations.
    Eval(Box<Eval>),
    /// A block that does not parse.
    Invalid { line: usize, reason: String },
}

/// A `load` block.
#[derive(Debug, Clone)]
pub struct Load {
    /// Line of the `load` header.
    pub line: usize,
    /// Step between values (ms).
    pub interval_ms: i64,
    /// `load_with_nhcb`: the `_bucket` series also make native histograms (which pier does
    /// not have; the runner only notes their names, to skip the evals that read them).
    pub with_nhcb: bool,
    /// The series, each with its line.
    pub series: Vec<(usize, SeriesDesc)>,
}

/// How an expected message is matched.
#[derive(Debug, Clone)]
pub enum MsgMatch {
    /// `msg: <text>`: exact.
    Exact(String),
    /// `regex: <re>`: unanchored pattern.
    Regex(Regex),
}

/// The expectations about one kind of annotation (`warn` or `info`).
#[derive(Debug, Clone, Default)]
pub struct AnnotationExpect {
    /// `expect warn` / `expect info` given: at least one must appear.
    pub expected: bool,
    /// `expect no_warn` / `expect no_info` given: none may appear.
    pub forbidden: bool,
    /// The `msg:`/`regex:` texts; when any is given every annotation must match one.
    pub matches: Vec<MsgMatch>,
}

/// When an eval runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalTime {
    /// `eval instant at <t>`.
    Instant { at_ms: i64 },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// One expected series line.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// Its line in the file.
    pub line: usize,
    /// 1-based position among the expected series (for `expect ordered`).
    pub pos: usize,
    /// Labels and values.
    pub desc: SeriesDesc,
}

/// An `eval` block.
#[derive(Debug, Clone)]
pub struct Eval {
    /// Line of the `eval` header.
    pub line: usize,
    /// The query text.
    pub query: String,
    /// Instant or range.
    pub time: EvalTime,
    /// `expect fail` (or `eval_fail`): the query must fail.
    pub fail: bool,
    /// The `msg:`/`regex:` of `expect fail` (or `expected_fail_message`/`_regexp`).
    pub fail_match: Option<MsgMatch>,
    /// Warning expectations.
    pub warn: AnnotationExpect,
    /// Info expectations.
    pub info: AnnotationExpect,
    /// `expect ordered` (or `eval_ordered`).
    pub ordered: bool,
    /// `expect string "<s>"`.
    pub expect_string: Option<String>,
    /// `expect range vector from <s> to <e> step <d>` (ms).
    pub range_vector: Option<(i64, i64, i64)>,
    /// A bare number line: a scalar result.
    pub expect_scalar: Option<f64>,
    /// The expected series lines (empty with no scalar/string: an empty result).
    pub expected: Vec<ExpectedSeries>,
}

impl Eval {
    /// True when an expected value is a native histogram.
    pub fn expects_histogram(&self) -> bool {
        self.expected.iter().any(|e| e.desc.has_histogram())
    }
}

static LOAD_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").expect("valid regex"));
static INSTANT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
        .expect("valid regex")
});
static RANGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )
    .expect("valid regex")
});
static EXPECT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
        .expect("valid regex")
});
static RANGE_VECTOR_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect\s+range\s+vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
        .expect("valid regex")
});
static STRING_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^expect\s+string\s+(.+)$").expect("valid regex"));

/// Parses a whole script.
pub fn parse_script(text: &str) -> Vec<Command> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].is_empty() {
            i += 1;
            continue;
        }
        // `clear` is one line; `load` and `eval` run to the next blank line.
        let start = i;
        let word = lines[i]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        i += 1;
        if word != "clear" {
            while i < lines.len() && !lines[i].is_empty() {
                i += 1;
            }
        }
        let block = &lines[start..i];
        let line = start + 1;
        let cmd = if word == "clear" {
            Ok(Command::Clear { line })
        } else if word.starts_with("load") {
            parse_load(block, line).map(Command::Load)
        } else if word.starts_with("eval") {
            parse_eval(block, line).map(|e| Command::Eval(Box::new(e)))
        } else {
            Err(format!("invalid command {word:?}"))
        };
        out.push(cmd.unwrap_or_else(|reason| Command::Invalid { line, reason }));
    }
    out
}

fn parse_load(block: &[String], line: usize) -> Result<Load, String> {
    let caps = LOAD_RE
        .captures(&block[0])
        .ok_or_else(|| format!("invalid load command {:?}", block[0]))?;
    let interval_ms = parse_duration(&caps[2])?;
    let mut series = Vec::new();
    for (k, l) in block[1..].iter().enumerate() {
        let first = l.split_whitespace().next().unwrap_or_default();
        if first.ends_with("@st") {
            // Start-timestamp lines (start_timestamps.test) are not supported; ignored.
            continue;
        }
        let desc = parse_series_line(l).map_err(|e| format!("line {}: {e}", line + k + 1))?;
        series.push((line + k + 1, desc));
    }
    Ok(Load {
        line,
        interval_ms,
        with_nhcb: caps.get(1).is_some(),
        series,
    })
}

fn parse_msg(kind: &str, text: &str) -> Result<MsgMatch, String> {
    let text = text.trim();
    if kind == "regex" {
        Regex::new(text)
            .map(MsgMatch::Regex)
            .map_err(|e| format!("bad regex {text:?}: {e}"))
    } else {
        Ok(MsgMatch::Exact(text.to_string()))
    }
}

fn parse_eval(block: &[String], line: usize) -> Result<Eval, String> {
    let header = &block[0];
    let (modifier, time, query) = if let Some(c) = INSTANT_RE.captures(header) {
        let at = c.get(2).map_or(Ok(0), |m| parse_duration(m.as_str()))?;
        (
            c.get(1).map(|m| m.as_str().to_string()),
            EvalTime::Instant { at_ms: at },
            c[3].to_string(),
        )
    } else if let Some(c) = RANGE_RE.captures(header) {
        let start_ms = parse_duration(&c[2])?;
        let end_ms = parse_duration(&c[3])?;
        let step_ms = parse_duration(&c[4])?;
        if end_ms < start_ms {
            return Err("invalid test definition, end timestamp is before start timestamp".into());
        }
        (
            c.get(1).map(|m| m.as_str().to_string()),
            EvalTime::Range {
                start_ms,
                end_ms,
                step_ms,
            },
            c[5].to_string(),
        )
    } else {
        return Err(format!("invalid evaluation command {header:?}"));
    };
    let mut eval = Eval {
        line,
        query,
        time,
        fail: false,
        fail_match: None,
        warn: AnnotationExpect::default(),
        info: AnnotationExpect::default(),
        ordered: false,
        expect_string: None,
        range_vector: None,
        expect_scalar: None,
        expected: Vec::new(),
    };
    match modifier.as_deref() {
        Some("fail") => eval.fail = true,
        Some("warn") => eval.warn.expected = true,
        Some("info") => eval.info.expected = true,
        Some("ordered") => eval.ordered = true,
        _ => {}
    }
    let is_instant = matches!(time, EvalTime::Instant { .. });
    for (k, l) in block[1..].iter().enumerate() {
        let lno = line + k + 1;
        let err = |e: String| format!("line {lno}: {e}");
        if modifier.as_deref() == Some("fail") {
            if let Some(m) = l.strip_prefix("expected_fail_message") {
                eval.fail_match = Some(MsgMatch::Exact(m.trim().to_string()));
                break;
            }
            if let Some(m) = l.strip_prefix("expected_fail_regexp") {
                eval.fail_match = Some(parse_msg("regex", m).map_err(err)?);
                break;
            }
        }
        if l.split(' ').next() == Some("expect") {
            if let Some(c) = RANGE_VECTOR_RE.captures(l) {
                let s = parse_duration(&c[1]).map_err(err)?;
                let e = parse_duration(&c[2]).map_err(err)?;
                let st = parse_duration(&c[3]).map_err(err)?;
                eval.range_vector = Some((s, e, st));
                continue;
            }
            if let Some(c) = STRING_RE.captures(l) {
                if !is_instant {
                    return Err(err("expect string is only valid for instant queries".into()));
                }
                let q = c[1].trim();
                let s = promql_parser::util::unquote_string(q)
                    .map_err(|e| err(format!("bad expected string {q}: {e}")))?;
                eval.expect_string = Some(s);
                continue;
            }
            let c = EXPECT_RE
                .captures(l)
                .ok_or_else(|| err(format!("invalid expect statement {l:?}")))?;
            let msg = match (c.get(2), c.get(3)) {
                (Some(kind), Some(text)) => {
                    Some(parse_msg(kind.as_str(), text.as_str()).map_err(err)?)
                }
                _ => None,
            };
            match &c[1] {
                "ordered" => eval.ordered = true,
                "fail" => {
                    if eval.fail && eval.fail_match.is_some() {
                        return Err(err("more than one expect fail".into()));
                    }
                    eval.fail = true;
                    eval.fail_match = msg;
                }
                "warn" => {
                    eval.warn.expected = true;
                    eval.warn.matches.extend(msg);
                }
                "info" => {
                    eval.info.expected = true;
                    eval.info.matches.extend(msg);
                }
                "no_warn" => eval.warn.forbidden = true,
                "no_info" => eval.info.forbidden = true,
                _ => unreachable!("the regex admits only these"),
            }
            if (eval.warn.expected && eval.warn.forbidden)
                || (eval.info.expected && eval.info.forbidden)
            {
                return Err(err("expect warn/info combined with no_warn/no_info".into()));
            }
            continue;
        }
        if let Ok(f) = parse_number(l) {
            eval.expect_scalar = Some(f);
            if k + 2 < block.len() {
                return Err(err("lines after a scalar expectation".into()));
            }
            break;
        }
        let desc = parse_series_line(l).map_err(err)?;
        if is_instant && eval.range_vector.is_none() && desc.values.len() > 1 {
            return Err(err(
                "expecting multiple values in instant evaluation not allowed".into(),
            ));
        }
        if desc
            .values
            .iter()
            .any(|v| matches!(v, SeqValue::Omitted) && is_instant && eval.range_vector.is_none())
        {
            return Err(err(
                "an instant evaluation cannot expect an omitted value".into()
            ));
        }
        let pos = eval.expected.len() + 1;
        eval.expected.push(ExpectedSeries {
            line: lno,
            pos,
            desc,
        });
    }
    if eval.ordered && !is_instant {
        return Err("expect ordered is not valid for range queries".into());
    }
    Ok(eval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        let text = "# comment\nload 1m\n  up{job=\"a\"} 1+1x3\n\nclear\n\n\
                    eval instant at 1m up\n  expect no_warn\n  expect warn msg: PromQL warning: x (1:1)\n  up{job=\"a\"} 2\n\n\
                    eval range from 0 to 2m step 1m up\n  up{job=\"a\"} 1 _ 3\n\n\
                    eval_fail instant at 0 foo(\n  expected_fail_regexp bar.*\n\n\
                    eval instant at 0 1\n  1\n\n\
                    bogus\n";
        let cmds = parse_script(text);
        assert_eq!(cmds.len(), 7, "{cmds:#?}");
        let Command::Load(l) = &cmds[0] else { panic!() };
        assert_eq!((l.line, l.interval_ms, l.series.len()), (2, 60_000, 1));
        assert!(matches!(cmds[1], Command::Clear { line: 5 }));
        // no_warn with warn in one block is invalid.
        assert!(matches!(cmds[2], Command::Invalid { line: 7, .. }));
        let Command::Eval(e) = &cmds[3] else { panic!() };
        assert_eq!(
            e.time,
            EvalTime::Range {
                start_ms: 0,
                end_ms: 120_000,
                step_ms: 60_000
            }
        );
        assert_eq!(e.expected[0].desc.values.len(), 3);
        let Command::Eval(e) = &cmds[4] else { panic!() };
        assert!(e.fail && matches!(e.fail_match, Some(MsgMatch::Regex(_))));
        let Command::Eval(e) = &cmds[5] else { panic!() };
        assert_eq!(e.expect_scalar, Some(1.0));
        assert!(matches!(cmds[6], Command::Invalid { line: 21, .. }));
    }

    #[test]
    fn parses_expectations() {
        let text = "eval instant at 50m sort(x)\n  expect ordered\n  expect info regex: a.*b\n  expect no_warn\n  x{a=\"1\"} 1\n  x{a=\"2\"} 2\n\n\
                    eval instant at 1m x[1m]\n  expect range vector from 10s to 1m step 10s\n  x 1 2 3 4 5 6\n\n\
                    eval instant at 0 \"Foo\"\n  expect string `Foo`\n\n\
                    eval instant at 0 x\n  expect fail msg: something bad\n";
        let cmds = parse_script(text);
        let Command::Eval(e) = &cmds[0] else {
            panic!("{cmds:?}")
        };
        assert!(e.ordered && e.info.expected && e.warn.forbidden);
        assert_eq!(e.expected[1].pos, 2);
        let Command::Eval(e) = &cmds[1] else {
            panic!("{cmds:?}")
        };
        assert_eq!(e.range_vector, Some((10_000, 60_000, 10_000)));
        let Command::Eval(e) = &cmds[2] else {
            panic!("{cmds:?}")
        };
        assert_eq!(e.expect_string.as_deref(), Some("Foo"));
        let Command::Eval(e) = &cmds[3] else {
            panic!("{cmds:?}")
        };
        assert!(matches!(&e.fail_match, Some(MsgMatch::Exact(m)) if m == "something bad"));
        // Multiple values in an instant eval are an error.
        let bad = parse_script("eval instant at 0 x\n  x 1 2\n");
        assert!(matches!(bad[0], Command::Invalid { .. }));
    }
}
