//! Owns the lexing both formats share: splitting a body into numbered lines, a cursor over one
//! line that reports byte columns, metric and label names, quoted and escaped label values, label
//! sets (strict OpenMetrics or lenient text spacing) and help-text unescaping. Knows nothing of
//! metric types or of which lines a format allows.

use super::{Limits, ParseError};

/// The lines of a body: 1-based number and bytes without the `\n`. A final `\n` does not start
/// another line.
pub(crate) fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let empty = body.is_empty();
    body.split(|&b| b == b'\n')
        .enumerate()
        .filter(move |_| !empty)
        .map(|(i, l)| (i + 1, l))
}

/// A line as UTF-8, or an error at the first invalid byte.
pub(crate) fn utf8_line(number: usize, bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes)
        .map_err(|e| ParseError::new(number, e.valid_up_to() + 1, "invalid UTF-8 in the payload"))
}

/// How label sets are spelled: OpenMetrics allows no spaces and no trailing comma; the text
/// format allows blanks between tokens and one trailing comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spacing {
    Strict,
    Lenient,
}

/// A position in one line.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(line: usize, text: &'a str) -> Self {
        Cursor { text, pos: 0, line }
    }

    /// The 1-based column of the next byte.
    pub(crate) fn column(&self) -> usize {
        self.pos + 1
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// An error at the current position.
    pub(crate) fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.line, self.column(), message)
    }

    /// An error at byte `pos` of the line.
    pub(crate) fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.line, pos + 1, message)
    }

    /// A description of the next character, for "expected X, found Y" messages.
    pub(crate) fn found(&self) -> String {
        match self.rest().chars().next() {
            None => "end of line".to_string(),
            Some(c) => format!("{c:?}"),
        }
    }

    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, byte: u8, what: &str) -> Result<(), ParseError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.found())))
        }
    }

    /// Skips spaces and tabs; returns how many.
    pub(crate) fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Takes bytes up to (not including) the first byte in `stops`, or the end of the line.
    pub(crate) fn take_until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.pos;
        let end = self.text.as_bytes()[start..]
            .iter()
            .position(|b| stops.contains(b))
            .map_or(self.text.len(), |i| start + i);
        self.pos = end;
        // Every stop byte is ASCII, so `end` is a char boundary.
        &self.text[start..end]
    }

    fn take_while(&mut self, keep: impl Fn(usize, u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && keep(self.pos - start, bytes[self.pos]) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// A metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(crate) fn metric_name(&mut self) -> Result<&'a str, ParseError> {
        let name = self.take_while(|i, b| is_name_byte(b, true) && (i > 0 || !b.is_ascii_digit()));
        if name.is_empty() {
            return Err(self.error(format!("expected a metric name, found {}", self.found())));
        }
        Ok(name)
    }

    /// A label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub(crate) fn label_name(&mut self) -> Result<&'a str, ParseError> {
        let name = self.take_while(|i, b| is_name_byte(b, false) && (i > 0 || !b.is_ascii_digit()));
        if name.is_empty() {
            return Err(self.error(format!("expected a label name, found {}", self.found())));
        }
        Ok(name)
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes (into `out`, cleared
    /// first, reusing its allocation); any other escaped character is kept with its
    /// backslash, as Prometheus does.
    pub(crate) fn quoted_into(&mut self, out: &mut String) -> Result<(), ParseError> {
        let open = self.pos;
        self.expect(b'"', "'\"' to open a label value")?;
        out.clear();
        loop {
            let chunk = self.take_until(b"\"\\");
            out.push_str(chunk);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(c) = self.rest().chars().next() else {
                        break;
                    };
                    self.pos += c.len_utf8();
                    match c {
                        'n' => out.push('\n'),
                        '\\' | '"' => out.push(c),
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                _ => break,
            }
        }
        Err(self.error_at(open, "label value has no closing '\"'"))
    }

    /// A label set starting at `{`, checked against `limits` and sorted by name.
    pub(crate) fn label_set(
        &mut self,
        spacing: Spacing,
        limits: &Limits,
    ) -> Result<Vec<(String, String)>, ParseError> {
        let mut labels = Vec::new();
        self.label_set_into(spacing, limits, &mut labels)?;
        Ok(labels)
    }

    /// [`Cursor::label_set`] into `labels` (replacing its contents), reusing the strings
    /// already there so that a parser reading line after line does not allocate.
    pub(crate) fn label_set_into(
        &mut self,
        spacing: Spacing,
        limits: &Limits,
        labels: &mut Vec<(String, String)>,
    ) -> Result<(), ParseError> {
        let open = self.pos;
        self.expect(b'{', "'{'")?;
        let mut n = 0;
        self.blanks(spacing);
        while !self.eat(b'}') {
            if n > 0 {
                self.expect(b',', "',' or '}' after a label")?;
                self.blanks(spacing);
                if spacing == Spacing::Lenient && self.eat(b'}') {
                    break;
                }
            }
            if n == labels.len() {
                labels.push((String::new(), String::new()));
            }
            let (name, value) = &mut labels[n];
            if let Err(e) = self.label(spacing, limits, name, value) {
                labels.truncate(n);
                return Err(e);
            }
            n += 1;
            self.blanks(spacing);
        }
        labels.truncate(n);
        limits
            .check_label_count(labels.len())
            .map_err(|m| self.error_at(open, m))?;
        // Exporters usually write labels sorted already.
        if !labels.windows(2).all(|w| w[0].0 < w[1].0) {
            labels.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if let Some(pair) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
            let message = format!("label {:?} appears twice", pair[0].0);
            return Err(self.error_at(open, message));
        }
        Ok(())
    }

    fn label(
        &mut self,
        spacing: Spacing,
        limits: &Limits,
        name_out: &mut String,
        value_out: &mut String,
    ) -> Result<(), ParseError> {
        let start = self.pos;
        let name = self.label_name()?;
        if name == "__name__" {
            return Err(self.error_at(start, "label name \"__name__\" is reserved"));
        }
        limits
            .check_label_name(name)
            .map_err(|m| self.error_at(start, m))?;
        self.blanks(spacing);
        self.expect(b'=', "'=' after a label name")?;
        self.blanks(spacing);
        let value_start = self.pos;
        self.quoted_into(value_out)?;
        limits
            .check_label_value(value_out)
            .map_err(|m| self.error_at(value_start, m))?;
        name_out.clear();
        name_out.push_str(name);
        Ok(())
    }

    fn blanks(&mut self, spacing: Spacing) {
        if spacing == Spacing::Lenient {
            self.skip_blanks();
        }
    }
}

/// Bytes allowed in metric names (with `:`) and label names (without).
fn is_name_byte(b: u8, colon: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || (colon && b == b':')
}

/// Unescapes help text: `\\` and `\n` always, `\"` too when `quote` is set (OpenMetrics). Other
/// backslashes are kept as written.
pub(crate) fn unescape_help(raw: &str, quote: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str, spacing: Spacing) -> Result<Vec<(String, String)>, ParseError> {
        Cursor::new(1, s).label_set(spacing, &Limits::default())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn lines_are_numbered_from_one_and_a_final_newline_adds_none() {
        let got: Vec<_> = lines(b"a\n\nb\n").collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..])]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 0);
        assert_eq!(lines(b"x").count(), 1);
    }

    #[test]
    fn label_values_unescape_backslash_quote_and_newline() {
        let got = labels(r#"{b="x\\y",a="q\"r\ns"}"#, Spacing::Strict).unwrap();
        assert_eq!(got, pairs(&[("a", "q\"r\ns"), ("b", "x\\y")]));
    }

    #[test]
    fn unknown_escapes_are_kept_verbatim() {
        let got = labels(r#"{a="\z\t"}"#, Spacing::Strict).unwrap();
        assert_eq!(got, pairs(&[("a", r"\z\t")]));
    }

    #[test]
    fn lenient_spacing_allows_blanks_and_a_trailing_comma() {
        let got = labels("{ a = \"1\" ,\tb=\"2\", }", Spacing::Lenient).unwrap();
        assert_eq!(got, pairs(&[("a", "1"), ("b", "2")]));
        assert!(labels("{ a=\"1\"}", Spacing::Strict).is_err());
        assert!(labels("{a=\"1\",}", Spacing::Strict).is_err());
    }

    #[test]
    fn label_errors_point_at_the_problem() {
        let err = labels(r#"{a="1",a="2"}"#, Spacing::Strict).unwrap_err();
        assert_eq!(err.column, 1);
        assert!(err.message.contains("twice"));
        let err = labels(r#"{a="1" b="2"}"#, Spacing::Lenient).unwrap_err();
        assert_eq!(err.column, 8);
        assert!(err.message.contains("expected ',' or '}'"), "{err}");
        let err = labels(r#"{a="1}"#, Spacing::Strict).unwrap_err();
        assert_eq!(err.column, 4);
        assert!(err.message.contains("closing"));
        let err = labels(r#"{1="1"}"#, Spacing::Strict).unwrap_err();
        assert_eq!(err.column, 2);
        let err = labels(r#"{__name__="x"}"#, Spacing::Strict).unwrap_err();
        assert!(err.message.contains("reserved"));
    }

    fn is_metric_name(s: &str) -> bool {
        let mut cursor = Cursor::new(1, s);
        cursor.metric_name().is_ok() && cursor.at_end()
    }

    #[test]
    fn names_follow_the_prometheus_grammar() {
        assert!(is_metric_name("a:b_c9"));
        assert!(is_metric_name("_a"));
        assert!(!is_metric_name("9a"));
        assert!(!is_metric_name("a.b"));
        assert!(!is_metric_name(""));
    }

    #[test]
    fn help_unescaping_depends_on_the_format() {
        assert_eq!(unescape_help(r"a\\b\nc\", true), "a\\b\nc\\");
        assert_eq!(unescape_help(r#"\""#, true), "\"");
        assert_eq!(unescape_help(r#"\""#, false), r#"\""#);
        assert_eq!(unescape_help(r"\t", true), r"\t");
    }

    #[test]
    fn invalid_utf8_reports_the_byte() {
        let err = utf8_line(4, b"ab\xffc").unwrap_err();
        assert_eq!((err.line, err.column), (4, 3));
    }
}
