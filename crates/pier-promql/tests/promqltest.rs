//! Conformance harness: runs promqltest scripts against pier's PromQL engine.
//!
//! - `project_files`: every `testdata/*.test` of this crate (pier's own scripts, expected
//!   values worked out from Prometheus's semantics); all must pass.
//! - `upstream_files`: when `PROMQL_TESTDATA` names a directory of Prometheus's own scripts
//!   (e.g. `/work/shared/promql-testdata`), runs every `*.test` there with
//!   `testdata/upstream-skips.txt`, prints a table (file, passed, failed, skipped) and the
//!   first failures (`PROMQL_SHOW_FAILURES`, default 30; `PROMQL_FILE=name.test` runs one
//!   file; `PROMQL_RUN_ALL=1` also runs the files skipped whole), and fails if the number of
//!   passing evals in the phase-1 files (those not skipped whole) is below
//!   `testdata/upstream-pass-count`.
//! - `upstream_scripts_parse`: with `PROMQL_TESTDATA`, every block of every upstream file
//!   parses as promqltest, and every phase-1 query promql-parser cannot parse has a skip
//!   entry.
//!
//! ```text
//! cargo test -p pier-promql --test promqltest
//! PROMQL_TESTDATA=/work/shared/promql-testdata cargo test -p pier-promql --test promqltest -- --nocapture upstream
//! ```

use std::path::{Path, PathBuf};

use pier_promql::promqltest::{self, FileReport, RunOptions, SkipList, script};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    files
}

fn skip_list() -> SkipList {
    SkipList::load(&crate_dir().join("testdata/upstream-skips.txt")).expect("skip list parses")
}

fn upstream_dir() -> Option<PathBuf> {
    std::env::var_os("PROMQL_TESTDATA").map(PathBuf::from)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

fn print_table(reports: &[FileReport], skips: &SkipList) {
    let w = reports
        .iter()
        .map(|r| r.file.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<w$}  {:>6}  {:>6}  {:>7}  {:>5}",
        "file", "passed", "failed", "skipped", "phase"
    );
    let (mut p, mut f, mut s) = (0, 0, 0);
    for r in reports {
        let phase = if skips.file_reason(&r.file).is_some() {
            "2/-"
        } else {
            "1"
        };
        println!(
            "{:<w$}  {:>6}  {:>6}  {:>7}  {:>5}",
            r.file,
            r.passed,
            r.failed.len(),
            r.skipped.len(),
            phase
        );
        p += r.passed;
        f += r.failed.len();
        s += r.skipped.len();
    }
    println!("{:<w$}  {:>6}  {:>6}  {:>7}", "total", p, f, s);
}

fn print_failures(reports: &[FileReport], limit: usize) {
    let total: usize = reports.iter().map(|r| r.failed.len()).sum();
    if total == 0 {
        return;
    }
    println!("\nfirst {} of {total} failures:", limit.min(total));
    for (r, x) in reports
        .iter()
        .flat_map(|r| r.failed.iter().map(move |x| (r, x)))
        .take(limit)
    {
        println!("{}:{}: {}", r.file, x.line, x.query);
        println!("    {}", x.reason);
    }
}

#[test]
fn project_files() {
    let dir = crate_dir().join("testdata");
    let engine = promqltest::test_engine();
    let none = SkipList::new();
    let files = test_files(&dir);
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let mut reports = Vec::new();
    for path in &files {
        let r = promqltest::run_file(path, &engine, &none).expect("readable test file");
        reports.push(r);
    }
    print_table(&reports, &none);
    print_failures(&reports, usize::MAX);
    let failed: usize = reports.iter().map(|r| r.failed.len()).sum();
    let skipped: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.skipped
                .iter()
                .map(move |s| format!("{}:{} {}", r.file, s.line, s.reason))
        })
        .collect();
    assert!(
        skipped.is_empty(),
        "pier's own files skip nothing: {skipped:?}"
    );
    assert_eq!(
        failed, 0,
        "pier's own promqltest files must all pass (see above)"
    );
}

#[test]
fn upstream_files() {
    let Some(dir) = upstream_dir() else {
        eprintln!("PROMQL_TESTDATA not set; skipping the upstream conformance run");
        return;
    };
    let skips = skip_list();
    let engine = promqltest::test_engine();
    let options = RunOptions {
        ignore_file_skips: std::env::var_os("PROMQL_RUN_ALL").is_some(),
        ..RunOptions::default()
    };
    let only = std::env::var("PROMQL_FILE").ok();
    let limit: usize = std::env::var("PROMQL_SHOW_FAILURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut reports = Vec::new();
    for path in test_files(&dir) {
        let name = file_name(&path);
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        reports.push(
            promqltest::run_file_with(&path, &engine, &skips, &options).expect("readable file"),
        );
    }
    print_table(&reports, &skips);
    print_failures(&reports, limit);
    for r in &reports {
        if !r.unneeded_skips.is_empty() {
            println!(
                "\n{}: skip entries for lines {:?} are no longer needed (those evals pass)",
                r.file, r.unneeded_skips
            );
        }
    }

    let phase1: Vec<&FileReport> = reports
        .iter()
        .filter(|r| skips.file_reason(&r.file).is_none())
        .collect();
    let passed: usize = phase1.iter().map(|r| r.passed).sum();
    let total: usize = phase1.iter().map(|r| r.total()).sum();
    let run: usize = phase1.iter().map(|r| r.passed + r.failed.len()).sum();
    println!(
        "\nphase 1: {passed} of {total} evals pass ({:.1}%; {:.1}% of the {run} not skipped)",
        percent(passed, total),
        percent(passed, run)
    );
    if only.is_some() {
        return;
    }
    let count_file = crate_dir().join("testdata/upstream-pass-count");
    let recorded: usize = std::fs::read_to_string(&count_file)
        .expect("testdata/upstream-pass-count")
        .trim()
        .parse()
        .expect("upstream-pass-count holds one integer");
    if passed > recorded {
        println!("pass count improved to {passed}: update testdata/upstream-pass-count");
    }
    assert!(
        passed >= recorded,
        "phase-1 pass count fell to {passed}, below the recorded {recorded}"
    );
}

fn percent(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

#[test]
fn upstream_scripts_parse() {
    let Some(dir) = upstream_dir() else {
        eprintln!("PROMQL_TESTDATA not set; skipping");
        return;
    };
    let skips = skip_list();
    let mut problems = Vec::new();
    for path in test_files(&dir) {
        let name = file_name(&path);
        let text = std::fs::read_to_string(&path).expect("readable");
        for cmd in script::parse_script(&text) {
            if let script::Command::Invalid { line, reason } = cmd {
                problems.push(format!("{name}:{line}: invalid block: {reason}"));
            }
        }
        let whole_file_skipped = skips.file_reason(&name).is_some();
        for (line, query, err) in promqltest::unparseable_queries(&text) {
            println!("{name}:{line}: promql-parser cannot parse `{query}`: {err}");
            if !whole_file_skipped && skips.line_reason(&name, line).is_none() {
                problems.push(format!(
                    "{name}:{line}: `{query}` does not parse and has no skip entry: {err}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Debug aid: `PROMQL_TESTDATA=… PROMQL_FILE=x.test cargo test … list_skips -- --nocapture`
/// prints every skipped eval of that file with its reason.
#[test]
fn list_skips() {
    let (Some(dir), Ok(file)) = (upstream_dir(), std::env::var("PROMQL_FILE")) else {
        return;
    };
    let r = promqltest::run_file(&dir.join(&file), &promqltest::test_engine(), &skip_list())
        .expect("readable");
    for s in &r.skipped {
        println!("{}:{}: {}  [{}]", r.file, s.line, s.query, s.reason);
    }
}
