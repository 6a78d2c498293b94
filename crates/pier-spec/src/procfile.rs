//! Reading a Heroku `Procfile`: `name: command` lines, `#` comments and blank lines. Turns
//! process type names into service names; knows nothing of app.json or the manifest.

use crate::diagnostics::{Problem, Reporter};
use crate::names;

/// One `name: command` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The process type as written (`web`, `worker_high`).
    pub process_type: String,
    /// The service name it becomes (`worker-high`).
    pub name: String,
    pub command: String,
    /// 1-based line number.
    pub line: usize,
}

/// Parses every line, reporting each invalid one.
pub(crate) fn parse(reporter: &mut Reporter<'_>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, line) in reporter.text().lines().enumerate() {
        let number = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = column(line, line.len() - line.trim_start().len());
        let Some(entry) = parse_line(reporter, line, number, indent) else {
            continue;
        };
        if let Some(first) = entries.iter().find(|e| e.name == entry.name) {
            let problem = Problem::new(format!(
                "process type `{}` is declared twice (first on line {})",
                entry.process_type, first.line
            ))
            .hint("keep one line per process type");
            reporter.report_at(number, indent, &entry.process_type, problem);
            continue;
        }
        entries.push(entry);
    }
    entries
}

fn parse_line(
    reporter: &mut Reporter<'_>,
    line: &str,
    number: usize,
    indent: usize,
) -> Option<Entry> {
    let Some(colon) = line.find(':') else {
        let problem = Problem::new("expected `name: command`").hint("write `web: bin/start`");
        reporter.report_at(number, indent, "", problem);
        return None;
    };
    let process_type = line[..colon].trim();
    let valid = !process_type.is_empty()
        && process_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        let problem = Problem::new(format!("`{process_type}` is not a valid process type"))
            .hint("use letters, digits, `_` and `-`, as in `web: bin/start`");
        reporter.report_at(number, indent, "", problem);
        return None;
    }
    let command = line[colon + 1..].trim();
    if command.is_empty() {
        let problem = Problem::new(format!("process type `{process_type}` has no command"));
        reporter.report_at(number, column(line, colon + 1), process_type, problem);
        return None;
    }
    let name = process_type.to_ascii_lowercase().replace('_', "-");
    if let Err(problem) = names::dns_label(&name) {
        reporter.report_at(number, indent, process_type, problem);
        return None;
    }
    Some(Entry {
        process_type: process_type.to_string(),
        name,
        command: command.to_string(),
        line: number,
    })
}

/// 1-based character column of byte `offset` in `line`.
fn column(line: &str, offset: usize) -> usize {
    line.get(..offset).map_or(offset, |s| s.chars().count()) + 1
}
