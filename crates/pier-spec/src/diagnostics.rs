//! Error reporting for manifests: [`Diagnostic`] (one problem at a file:line:column),
//! [`ManifestError`] (all problems found in one pass) and the byte-offset to line/column
//! mapping. Knows nothing of what the manifest contains.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a manifest, at the place a user has to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, exactly as the caller named it.
    pub file: PathBuf,
    /// 1-based line of the offending value (or key); 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column, counted in characters; 0 when `line` is 0.
    pub column: usize,
    /// Dotted path of the field, such as `services.web.readiness.period`; empty for syntax errors.
    pub field: String,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// `pier.toml:12:11: services.web.replicas: expected …` and an indented `hint:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a manifest; holding one means nothing was loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct ManifestError {
    /// The problems, in file order (whole-file problems last).
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestError {
    /// Builds an error from diagnostics, sorting them into file order.
    pub fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|d| (d.file.clone(), d.line == 0, d.line, d.column));
        ManifestError { diagnostics }
    }

    /// A single whole-file problem (a missing or unreadable file).
    pub(crate) fn file(file: &Path, message: impl Into<String>, hint: Option<String>) -> Self {
        ManifestError::new(vec![Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: message.into(),
            hint,
        }])
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(Diagnostic::to_string).collect();
    lines.join("\n")
}

/// What is wrong with one value, before it is placed in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// Collects diagnostics for one file, turning byte spans into line and column.
pub(crate) struct Reporter<'a> {
    file: &'a Path,
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Reporter {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    /// Records `problem` for `field` at the start of `span`.
    pub fn report(&mut self, span: Range<usize>, field: &str, problem: Problem) {
        let (line, column) = line_column(self.text, span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message: problem.message,
            hint: problem.hint,
        });
    }

    /// Records a problem at an explicit 1-based line and column.
    pub fn report_at(&mut self, line: usize, column: usize, field: &str, problem: Problem) {
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message: problem.message,
            hint: problem.hint,
        });
    }

    pub fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// `Ok(value)` when nothing was reported, else every diagnostic as one error.
    pub fn finish<T>(self, value: T) -> Result<T, ManifestError> {
        if self.diagnostics.is_empty() {
            Ok(value)
        } else {
            Err(ManifestError::new(self.diagnostics))
        }
    }
}

/// 1-based line and character column of byte `offset` in `text` (clamped to the text).
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_lines_and_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(line_column(text, 12), (2, 6));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn display_has_location_field_and_hint() {
        let d = Diagnostic {
            file: PathBuf::from("pier.toml"),
            line: 12,
            column: 11,
            field: "services.web.replicas".into(),
            message: "expected a non-negative integer, found a string".into(),
            hint: Some("write `replicas = 2`".into()),
        };
        assert_eq!(
            d.to_string(),
            "pier.toml:12:11: services.web.replicas: expected a non-negative integer, found a string\n  hint: write `replicas = 2`"
        );
    }

    #[test]
    fn whole_file_problems_have_no_location() {
        let e = ManifestError::file(Path::new("app/pier.toml"), "cannot read it", None);
        assert_eq!(e.to_string(), "app/pier.toml: cannot read it");
    }
}
