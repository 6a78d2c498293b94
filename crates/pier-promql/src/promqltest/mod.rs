//! The promqltest runner: parses Prometheus's conformance script format (`load`, `clear`,
//! `eval instant|range`, `expect …`, series notation `0+10x100`, `_`, `stale`) and runs it
//! against the engine over a [`crate::MemStorage`].
//!
//! The format is upstream's `promql/promqltest` (described in
//! `shared/promql-testdata/UPSTREAM-FORMAT.md`); parsing and comparison follow its
//! `test.go`. Each `eval` is one unit with one outcome: passed, failed (with its line, query
//! and a readable reason) or skipped (with a reason). Skips come from a [`SkipList`]
//! (`file:LINE reason`, `file * reason`) or are automatic for evals that need native
//! histograms, which pier does not have (reason "native histogram").
//!
//! Choices where upstream's behaviour cannot be copied as is:
//! - Annotation positions: upstream's annotation texts end with ` (line:col)`; pier's carry
//!   no position, so positions are ignored on both sides (see [`compare`]).
//! - A query promql-parser cannot parse fails its eval with "promql-parser cannot parse: …"
//!   (upstream's parser accepts every query in its files), unless the eval expects a failure
//!   and the message matches.
//! - `name@st` start-timestamp lines in `load` blocks are ignored.
//!
//! ```no_run
//! use pier_promql::promqltest::{self, SkipList};
//! let report = promqltest::run_file(
//!     std::path::Path::new("testdata/lookback.test"),
//!     &promqltest::test_engine(),
//!     &SkipList::new(),
//! ).unwrap();
//! assert!(report.failed.is_empty(), "{report}");
//! ```

mod ast;
pub mod compare;
mod runner;
pub mod script;
pub mod series;
mod skips;

use std::fmt;
use std::path::Path;

pub use runner::RunOptions;
pub use skips::SkipList;

use crate::engine::{Engine, EngineOptions};

/// An eval that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Line of the eval header (1-based); for an invalid block, its first line.
    pub line: usize,
    /// The query (empty for an invalid block).
    pub query: String,
    /// What went wrong.
    pub reason: String,
}

/// An eval that was not run (or whose result does not count).
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    /// Line of the eval header.
    pub line: usize,
    /// The query.
    pub query: String,
    /// Why.
    pub reason: String,
}

/// The outcome of one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileReport {
    /// The file's base name.
    pub file: String,
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed, in file order.
    pub failed: Vec<Failure>,
    /// Evals skipped, in file order.
    pub skipped: Vec<Skip>,
    /// Lines the skip list skips although the eval passes (the entry can go).
    pub unneeded_skips: Vec<usize>,
}

impl FileReport {
    /// Number of evals (passed + failed + skipped).
    pub fn total(&self) -> usize {
        self.passed + self.failed.len() + self.skipped.len()
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} passed, {} failed, {} skipped",
            self.file,
            self.passed,
            self.failed.len(),
            self.skipped.len()
        )?;
        for x in &self.failed {
            writeln!(f, "  {}:{}: {}", self.file, x.line, x.query)?;
            writeln!(f, "      {}", x.reason)?;
        }
        Ok(())
    }
}

/// An engine with the settings upstream's tests assume (`NewTestEngine`): 5m lookback,
/// 1m default subquery step, at most 10,000 samples in memory.
pub fn test_engine() -> Engine {
    Engine::new(EngineOptions {
        max_samples: 10_000,
        ..EngineOptions::default()
    })
}

/// Runs the script at `path` with the default [`RunOptions`].
pub fn run_file(path: &Path, engine: &Engine, skips: &SkipList) -> std::io::Result<FileReport> {
    run_file_with(path, engine, skips, &RunOptions::default())
}

/// Runs the script at `path`.
pub fn run_file_with(
    path: &Path,
    engine: &Engine,
    skips: &SkipList,
    options: &RunOptions,
) -> std::io::Result<FileReport> {
    let text = std::fs::read_to_string(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(run_str_with(&name, &text, engine, skips, options))
}

/// Runs the script `text`, named `file` in the report and the skip list, with the default
/// [`RunOptions`].
pub fn run_str(file: &str, text: &str, engine: &Engine, skips: &SkipList) -> FileReport {
    run_str_with(file, text, engine, skips, &RunOptions::default())
}

/// Runs the script `text`, named `file` in the report and the skip list.
pub fn run_str_with(
    file: &str,
    text: &str,
    engine: &Engine,
    skips: &SkipList,
    options: &RunOptions,
) -> FileReport {
    runner::run(file, text, engine, skips, options)
}

/// The queries of a script promql-parser cannot parse: `(line, query, error)`. Upstream's
/// parser accepts every query in its files, so each is a parser gap (or a feature pier
/// leaves out).
pub fn unparseable_queries(text: &str) -> Vec<(usize, String, String)> {
    script::parse_script(text)
        .into_iter()
        .filter_map(|c| match c {
            script::Command::Eval(e) => promql_parser::parser::parse(&e.query)
                .err()
                .map(|err| (e.line, e.query.clone(), err.replace('\n', " "))),
            _ => None,
        })
        .collect()
}
