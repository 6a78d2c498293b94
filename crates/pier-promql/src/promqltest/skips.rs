//! The skip list: which upstream evals pier does not run, and why.
//!
//! Format, one entry a line (`#` starts a comment line, blank lines are ignored):
//! ```text
//! functions.test:1234 native histogram with custom buckets in the query
//! native_histograms.test * phase 2: native histograms
//! ```
//! `file:LINE reason` skips the eval whose header is on LINE (1-based); `file * reason`
//! skips every eval of the file. Files are named by their base name. A reason is required.

use std::collections::HashMap;
use std::path::Path;

/// A parsed skip list.
#[derive(Debug, Clone, Default)]
pub struct SkipList {
    files: HashMap<String, String>,
    lines: HashMap<(String, usize), String>,
}

impl SkipList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the text of a skip list; errors name the bad line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut list = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("skip list line {}: {why}: {raw:?}", i + 1);
            let (target, reason) = l
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("no reason"))?;
            let reason = reason.trim();
            if let Some((file, line)) = target.split_once(':') {
                let line: usize = line.parse().map_err(|_| bad("bad line number"))?;
                if reason.is_empty() {
                    return Err(bad("no reason"));
                }
                if list
                    .lines
                    .insert((file.to_string(), line), reason.to_string())
                    .is_some()
                {
                    return Err(bad("duplicate entry"));
                }
            } else {
                let reason = reason
                    .strip_prefix('*')
                    .ok_or_else(|| bad("expected `file:LINE reason` or `file * reason`"))?
                    .trim();
                if reason.is_empty() {
                    return Err(bad("no reason"));
                }
                list.files.insert(target.to_string(), reason.to_string());
            }
        }
        Ok(list)
    }

    /// Reads and parses a skip-list file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::parse(&text)
    }

    /// Why the whole file is skipped, if it is.
    pub fn file_reason(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(String::as_str)
    }

    /// Why the eval at `line` of `file` is skipped, if it is (whole-file skips not included).
    pub fn line_reason(&self, file: &str, line: usize) -> Option<&str> {
        self.lines
            .get(&(file.to_string(), line))
            .map(String::as_str)
    }

    /// The per-line entries of `file`, sorted by line.
    pub fn lines_of(&self, file: &str) -> Vec<(usize, &str)> {
        let mut v: Vec<(usize, &str)> = self
            .lines
            .iter()
            .filter(|((f, _), _)| f == file)
            .map(|((_, l), r)| (*l, r.as_str()))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries() {
        let list = SkipList::parse(
            "# comment\n\nfunctions.test:12 native histogram\nnative_histograms.test * phase 2: native histograms\n",
        )
        .unwrap();
        assert_eq!(
            list.line_reason("functions.test", 12),
            Some("native histogram")
        );
        assert_eq!(list.line_reason("functions.test", 13), None);
        assert_eq!(
            list.file_reason("native_histograms.test"),
            Some("phase 2: native histograms")
        );
        assert_eq!(
            list.lines_of("functions.test"),
            vec![(12, "native histogram")]
        );
        assert!(SkipList::parse("a.test:x reason").is_err());
        assert!(SkipList::parse("a.test:1").is_err());
        assert!(SkipList::parse("a.test reason").is_err());
        assert!(SkipList::parse("a.test *").is_err());
        assert!(SkipList::parse("a.test:1 r\na.test:1 r").is_err());
    }
}
