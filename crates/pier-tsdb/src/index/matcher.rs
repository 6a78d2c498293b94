//! Label matchers (`name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`) with Prometheus
//! semantics:
//!
//! - regexes are RE2-style and fully anchored; since Prometheus 3.0 `.` also matches `\n`,
//!   so a pattern `re` is compiled as `^(?s:re)$` (after checking that `re` compiles on its
//!   own, so `a)|(b` is rejected rather than smuggled through the wrapping group);
//! - a series that lacks the label is matched against the empty string, so `{foo=""}`
//!   selects series without `foo` and `{foo!=""}` selects series that have it.
//!
//! Known difference from Go's RE2: Rust's `regex` crate makes `\d`, `\w`, `\s` and `\b`
//! Unicode-aware, where Go's are ASCII-only.

use super::labels::Labels;
use regex::Regex;
use std::fmt;
use thiserror::Error;

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNoMatch,
}

impl MatchOp {
    /// The PromQL spelling of the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// Errors from building a matcher.
#[derive(Debug, Clone, Error)]
pub enum MatcherError {
    /// The regex of a `=~`/`!~` matcher does not compile.
    #[error("invalid regex {pattern:?} in matcher on label {name:?}: {source}")]
    InvalidRegex {
        /// Label name of the matcher.
        name: String,
        /// The pattern as given.
        pattern: String,
        /// The compiler's complaint.
        source: regex::Error,
    },
}

/// A label matcher. Immutable; build with [`Matcher::new`] or the shorthands.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// The anchored regex, for the regex operators.
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// A matcher `name op value`; for the regex operators `value` is the pattern.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let re = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                let err = |source| MatcherError::InvalidRegex {
                    name: name.clone(),
                    pattern: value.clone(),
                    source,
                };
                Regex::new(&value).map_err(err)?;
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(err)?)
            }
        };
        Ok(Self {
            name,
            op,
            value,
            re,
        })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
        }
    }

    /// `name!="value"`.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::NotEqual,
            value: value.into(),
            re: None,
        }
    }

    /// `name=~"pattern"`.
    pub fn regex(
        name: impl Into<String>,
        pattern: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        Self::new(MatchOp::RegexMatch, name, pattern)
    }

    /// `name!~"pattern"`.
    pub fn not_regex(
        name: impl Into<String>,
        pattern: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        Self::new(MatchOp::RegexNoMatch, name, pattern)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value, or the pattern for regex operators (as given, unanchored).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher (pass `""` for an absent label).
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            // Unreachable: regex operators always carry a compiled regex.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    /// Whether a series with these labels satisfies the matcher (absent label = `""`).
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether the matcher accepts the empty string, i.e. also selects series that lack the
    /// label. The index uses this to decide between intersecting and subtracting postings.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// PromQL form: `name=~"pattern"`.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn equal_and_not_equal() {
        let l = series(&[("__name__", "up"), ("job", "api")]);
        assert!(Matcher::equal("job", "api").matches_labels(&l));
        assert!(!Matcher::equal("job", "ap").matches_labels(&l));
        assert!(!Matcher::not_equal("job", "api").matches_labels(&l));
        assert!(Matcher::not_equal("job", "web").matches_labels(&l));
        // Absent label compares as "".
        assert!(!Matcher::equal("env", "prod").matches_labels(&l));
        assert!(Matcher::not_equal("env", "prod").matches_labels(&l));
    }

    #[test]
    fn empty_string_semantics() {
        let with = series(&[("__name__", "up"), ("foo", "bar")]);
        let without = series(&[("__name__", "up")]);
        let eq_empty = Matcher::equal("foo", "");
        assert!(eq_empty.matches_labels(&without));
        assert!(!eq_empty.matches_labels(&with));
        let ne_empty = Matcher::not_equal("foo", "");
        assert!(!ne_empty.matches_labels(&without));
        assert!(ne_empty.matches_labels(&with));
        // `=~".*"` matches everything, `=~".+"` requires the label, `!~".+"` forbids it.
        assert!(
            Matcher::regex("foo", ".*")
                .unwrap()
                .matches_labels(&without)
        );
        assert!(
            !Matcher::regex("foo", ".+")
                .unwrap()
                .matches_labels(&without)
        );
        assert!(Matcher::regex("foo", ".+").unwrap().matches_labels(&with));
        assert!(
            Matcher::not_regex("foo", ".+")
                .unwrap()
                .matches_labels(&without)
        );
        assert!(
            !Matcher::not_regex("foo", ".+")
                .unwrap()
                .matches_labels(&with)
        );
        // `=~"bar|"` matches both "bar" and absence.
        let alt = Matcher::regex("foo", "bar|").unwrap();
        assert!(alt.matches_labels(&with) && alt.matches_labels(&without));
        assert!(alt.matches_empty());
        assert!(!Matcher::regex("foo", "bar").unwrap().matches_empty());
    }

    #[test]
    fn regex_is_fully_anchored() {
        let m = Matcher::regex("job", "a").unwrap();
        assert!(m.matches("a"));
        assert!(!m.matches("ab"));
        assert!(!m.matches("ba"));
        let m = Matcher::regex("job", "a|b").unwrap();
        assert!(m.matches("b"));
        assert!(!m.matches("ab"), "alternation must be anchored as a whole");
        let m = Matcher::not_regex("job", "a").unwrap();
        assert!(m.matches("ab"));
        assert!(!m.matches("a"));
    }

    #[test]
    fn dot_matches_newline() {
        let m = Matcher::regex("msg", "a.b").unwrap();
        assert!(m.matches("a\nb"));
        assert!(Matcher::regex("msg", ".*").unwrap().matches("x\ny"));
    }

    #[test]
    fn invalid_regex_names_the_pattern() {
        let e = Matcher::regex("job", "a(").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"a(\"") && msg.contains("job"), "{msg}");
        // Would compile inside the wrapping group, but is not a regex on its own.
        assert!(Matcher::regex("job", "a)|(b").is_err());
        assert!(Matcher::not_regex("job", "[").is_err());
    }

    #[test]
    fn display() {
        assert_eq!(
            Matcher::regex("job", "a\"b").unwrap().to_string(),
            r#"job=~"a\"b""#
        );
        assert_eq!(Matcher::not_equal("x", "").to_string(), r#"x!="""#);
    }
}
