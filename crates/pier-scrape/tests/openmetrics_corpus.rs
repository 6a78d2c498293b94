//! Runs the OpenMetrics project's parser test corpus against `parse(_, OpenMetrics, _)`.
//!
//! `OPENMETRICS_TESTDATA` names the corpus directory (CI: `../shared/openmetrics-testdata`,
//! resolved against the working directory and then the workspace root). Each case folder holds
//! `metrics` and `test.json` with `shouldParse`. The test fails if the pass count drops below the
//! number in `tests/openmetrics_corpus.expected`; cases listed in `tests/openmetrics_corpus.skip`
//! (`name: reason` per line) are not run. Without the variable the test says so and passes.

use std::fs;
use std::path::{Path, PathBuf};

use pier_scrape::exposition::{Format, Limits, parse};

const EXPECTED: &str = include_str!("openmetrics_corpus.expected");
const SKIPS: &str = include_str!("openmetrics_corpus.skip");

#[test]
fn openmetrics_corpus() {
    let Some(dir) = corpus_dir() else {
        println!("OPENMETRICS_TESTDATA is not set: OpenMetrics corpus test skipped");
        return;
    };
    let skips = skipped_cases();
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut skipped = 0;
    for case in cases(&dir) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if skips.iter().any(|s| s == &name) {
            skipped += 1;
            continue;
        }
        match run_case(&case) {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    for failure in &failures {
        println!("FAIL {failure}");
    }
    let total = passed + failures.len();
    println!("OpenMetrics corpus: {passed}/{total} passed, {skipped} skipped");
    let expected: usize = EXPECTED.trim().parse().expect("expected pass count");
    assert!(
        passed >= expected,
        "{passed} cases passed, fewer than the recorded {expected}; failures:\n{}",
        failures.join("\n")
    );
}

/// The corpus directory, or `None` when the variable is unset. A set but missing directory
/// fails: CI must never skip silently.
fn corpus_dir() -> Option<PathBuf> {
    let raw = std::env::var_os("OPENMETRICS_TESTDATA")?;
    let given = PathBuf::from(raw);
    let workspace_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = [given.clone(), workspace_root.join(&given)]
        .into_iter()
        .find(|p| p.is_dir());
    Some(found.unwrap_or_else(|| {
        panic!(
            "OPENMETRICS_TESTDATA={} is not a directory",
            given.display()
        )
    }))
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read corpus directory")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.join("test.json").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {}", dir.display());
    cases
}

fn skipped_cases() -> Vec<String> {
    SKIPS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').next().unwrap_or(l).trim().to_string())
        .collect()
}

fn run_case(case: &Path) -> Result<(), String> {
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(case.join("test.json")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("test.json: {e}"))?;
    let file = spec["file"].as_str().unwrap_or("metrics");
    let should_parse = spec["shouldParse"]
        .as_bool()
        .ok_or("test.json has no shouldParse")?;
    let body = fs::read(case.join(file)).map_err(|e| e.to_string())?;
    match (
        parse(&body, Format::OpenMetrics, &Limits::default()),
        should_parse,
    ) {
        (Ok(_), true) | (Err(_), false) => Ok(()),
        (Ok(parsed), false) => Err(format!(
            "accepted an invalid payload ({} samples)",
            parsed.samples.len()
        )),
        (Err(e), true) => Err(format!("rejected a valid payload: {e}")),
    }
}
