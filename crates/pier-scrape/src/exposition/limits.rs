//! Owns the size limits a scrape is held to (body, sample count, label count and lengths) and
//! the errors that name the limit crossed. Knows nothing of either format's syntax.

use super::ParseError;

/// Limits on one scrape. Every limit uses `0` for "unlimited", as Prometheus's `sample_limit`,
/// `label_limit`, `label_name_length_limit` and `label_value_length_limit` do. Prometheus
/// defaults them all to unlimited; pier's defaults are far above anything a sane exporter
/// writes and low enough that a runaway target cannot exhaust a small host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body in bytes (default 10 MiB).
    pub max_body_bytes: usize,
    /// Most samples in one scrape (default 100 000).
    pub max_samples: usize,
    /// Longest label name in bytes (default 1 024).
    pub max_label_name_bytes: usize,
    /// Longest unescaped label value in bytes (default 16 384).
    pub max_label_value_bytes: usize,
    /// Most labels on one sample, not counting the metric name (default 64).
    pub max_labels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_samples: 100_000,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 16 * 1024,
            max_labels: 64,
        }
    }
}

/// `true` when `value` exceeds `limit`, `0` meaning unlimited.
fn over(value: usize, limit: usize) -> bool {
    limit != 0 && value > limit
}

impl Limits {
    /// Rejects a body over `max_body_bytes`, pointing at the line where the limit is crossed.
    pub(crate) fn check_body(&self, body: &[u8]) -> Result<(), ParseError> {
        if !over(body.len(), self.max_body_bytes) {
            return Ok(());
        }
        let head = &body[..self.max_body_bytes];
        let line = 1 + head.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + head.iter().rev().take_while(|&&b| b != b'\n').count();
        Err(ParseError::new(
            line,
            column,
            format!(
                "body is {} bytes, over the limit max_body_bytes = {}",
                body.len(),
                self.max_body_bytes
            ),
        ))
    }

    /// Rejects the sample that makes the count exceed `max_samples`.
    pub(crate) fn check_sample_count(&self, count: usize, line: usize) -> Result<(), ParseError> {
        if over(count, self.max_samples) {
            return Err(ParseError::new(
                line,
                1,
                format!(
                    "more than max_samples = {} samples in one scrape",
                    self.max_samples
                ),
            ));
        }
        Ok(())
    }

    /// Checks one label name's length; `Err` carries the message, the caller adds the position.
    pub(crate) fn check_label_name(&self, name: &str) -> Result<(), String> {
        if over(name.len(), self.max_label_name_bytes) {
            return Err(format!(
                "label name is {} bytes, over the limit max_label_name_bytes = {}",
                name.len(),
                self.max_label_name_bytes
            ));
        }
        Ok(())
    }

    /// Checks one unescaped label value's length.
    pub(crate) fn check_label_value(&self, value: &str) -> Result<(), String> {
        if over(value.len(), self.max_label_value_bytes) {
            return Err(format!(
                "label value is {} bytes, over the limit max_label_value_bytes = {}",
                value.len(),
                self.max_label_value_bytes
            ));
        }
        Ok(())
    }

    /// Checks the number of labels on one sample.
    pub(crate) fn check_label_count(&self, count: usize) -> Result<(), String> {
        if over(count, self.max_labels) {
            return Err(format!(
                "sample has {count} labels, over the limit max_labels = {}",
                self.max_labels
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_unlimited() {
        let limits = Limits {
            max_body_bytes: 0,
            max_samples: 0,
            max_label_name_bytes: 0,
            max_label_value_bytes: 0,
            max_labels: 0,
        };
        assert!(limits.check_body(&[b'x'; 100_000]).is_ok());
        assert!(limits.check_sample_count(usize::MAX, 1).is_ok());
        assert!(limits.check_label_name(&"n".repeat(10_000)).is_ok());
        assert!(limits.check_label_value(&"v".repeat(100_000)).is_ok());
        assert!(limits.check_label_count(10_000).is_ok());
    }

    #[test]
    fn each_limit_names_itself() {
        let limits = Limits {
            max_body_bytes: 3,
            max_samples: 1,
            max_label_name_bytes: 2,
            max_label_value_bytes: 2,
            max_labels: 1,
        };
        let body = limits.check_body(b"abcd").unwrap_err();
        assert!(body.message.contains("max_body_bytes = 3"));
        assert_eq!((body.line, body.column), (1, 4));
        let samples = limits.check_sample_count(2, 7).unwrap_err();
        assert!(samples.message.contains("max_samples = 1"));
        assert_eq!(samples.line, 7);
        assert!(
            limits
                .check_label_name("abc")
                .unwrap_err()
                .contains("max_label_name_bytes")
        );
        assert!(
            limits
                .check_label_value("abc")
                .unwrap_err()
                .contains("max_label_value_bytes")
        );
        assert!(
            limits
                .check_label_count(2)
                .unwrap_err()
                .contains("max_labels")
        );
    }

    #[test]
    fn defaults_are_bounded() {
        let limits = Limits::default();
        assert_eq!(limits.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(limits.max_samples, 100_000);
        assert!(limits.max_labels > 0 && limits.max_label_name_bytes > 0);
    }
}
