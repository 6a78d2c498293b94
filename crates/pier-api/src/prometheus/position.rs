//! Positions for PromQL parse errors, as Prometheus prints them (`1:7: parse error: …`, line
//! and byte column, 1-based). The `promql-parser` crate reports what is wrong but not where,
//! so this finds the place: the first token after the longest prefix of the query that can
//! still be completed into a valid expression (proved by parsing the prefix with a few
//! completions), or the character the lexer stumbles on.
//!
//! Pure text work; knows nothing of HTTP. Messages that already carry a position are kept.

/// Longest query whose error is located; beyond it the message goes without a position.
const MAX_LOCATED_LEN: usize = 4096;

/// `L:C: parse error: DETAIL` for a parser message about `query`.
pub fn parse_error_text(query: &str, message: &str) -> String {
    if has_position(message) {
        return message.to_string();
    }
    let message = message.strip_prefix("parse error: ").unwrap_or(message);
    if query.trim().is_empty() || message.starts_with("no expression found in input") {
        return format!(
            "{}: parse error: no expression found in input",
            line_col(query, 0)
        );
    }
    if query.len() > MAX_LOCATED_LEN {
        return format!("parse error: {message}");
    }
    if let Err(lex_error) = promql_parser::parser::lexer(query) {
        let offset = lexer_error_offset(query);
        return format!("{}: parse error: {lex_error}", line_col(query, offset));
    }
    if message != "invalid promql query" {
        // A semantic error (types, arguments) of a query that parses: the parser does not
        // say which sub-expression, and guessing would mislead.
        return format!("parse error: {message}");
    }
    let tokens = tokens(query);
    let viable = (0..tokens.len())
        .rev()
        .find(|&k| completes(&query[..tokens[k].1]));
    let next = viable.map_or(0, |k| k + 1);
    match tokens.get(next) {
        Some(&(start, end)) => format!(
            "{}: parse error: unexpected {:?}",
            line_col(query, start),
            &query[start..end]
        ),
        None => format!(
            "{}: parse error: unexpected end of input",
            line_col(query, query.len())
        ),
    }
}

/// Whether `message` starts with `L:C:`.
fn has_position(message: &str) -> bool {
    let mut parts = message.splitn(3, ':');
    let is_num =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    is_num(parts.next()) && is_num(parts.next()) && parts.next().is_some()
}

/// Prometheus's `line:column` for a byte offset: column counted in bytes from 1.
fn line_col(query: &str, offset: usize) -> String {
    let before = &query[..offset.min(query.len())];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

/// Where the lexer fails: the end of input for unclosed things, else the character at which
/// a prefix of the query first fails to lex.
fn lexer_error_offset(query: &str) -> usize {
    for (i, c) in query.char_indices() {
        let end = i + c.len_utf8();
        if let Err(e) = promql_parser::parser::lexer(&query[..end])
            && !e.contains("unclosed")
            && !e.contains("unterminated")
            && !e.contains("end of input")
        {
            return i;
        }
    }
    query.len()
}

/// Whether `prefix` can be completed into a query that parses (a semantic error counts: the
/// syntax was complete).
fn completes(prefix: &str) -> bool {
    const MIDDLES: [&str; 18] = [
        "", " 1", " x", "m", "=\"x\"", "\"x\"", " (x) x", " (x) (x)", " (x)", "x=\"x\"", " x[1m]",
        "[1m]", "1m", " 1m", "x", "1", ":1m]", " x)",
    ];
    const TAILS: [&str; 5] = ["", " (x)", " x", " 1", "[1m]"];
    MIDDLES.iter().any(|middle| {
        let body = format!("{prefix}{middle}");
        let Some(closers) = closers(&body) else {
            return false;
        };
        TAILS.iter().any(|tail| {
            let candidate = format!("{body}{closers}{tail}");
            match promql_parser::parser::parse(&candidate) {
                Ok(_) => true,
                Err(e) => {
                    e != "invalid promql query"
                        && promql_parser::parser::lexer(&candidate).is_ok()
                        && !e.contains("unexpected")
                        && !e.contains("unclosed")
                }
            }
        })
    })
}

/// What closes `text`'s open string and brackets, innermost first; `None` if a closing
/// bracket does not match.
fn closers(text: &str) -> Option<String> {
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' => stack.push(')'),
            '[' => stack.push(']'),
            '{' => stack.push('}'),
            // The guard pops: a closer always leaves the stack, and must match.
            ')' | ']' | '}' if stack.pop() != Some(c) => return None,
            _ => {}
        }
    }
    let mut out = String::new();
    if let Some(q) = quote {
        out.push(q);
    }
    out.extend(stack.iter().rev());
    Some(out)
}

/// Rough tokens as `(start, end)` byte ranges: words (names, numbers, durations), string
/// literals, two-character operators, and single punctuation.
fn tokens(query: &str) -> Vec<(usize, usize)> {
    let bytes = query.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.') || b >= 0x80;
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if matches!(b, b'"' | b'\'' | b'`') {
            i += 1;
            while i < bytes.len() && bytes[i] != b {
                if bytes[i] == b'\\' && b != b'`' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
        } else if word(b) {
            while i < bytes.len() && word(bytes[i]) {
                // 1.5e+3: the sign belongs to the number.
                if bytes[start].is_ascii_digit()
                    && matches!(bytes[i], b'e' | b'E')
                    && matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                {
                    i += 1;
                }
                i += 1;
            }
        } else if matches!(
            (b, bytes.get(i + 1)),
            (b'=' | b'!' | b'<' | b'>', Some(b'=')) | (b'=' | b'!', Some(b'~'))
        ) {
            i += 2;
        } else {
            i += query[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push((start, i.min(bytes.len())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(query: &str) -> String {
        let message = promql_parser::parser::parse(query).unwrap_err();
        parse_error_text(query, &message)
    }

    #[test]
    fn incomplete_queries_fail_at_the_end() {
        assert_eq!(located("1+"), "1:3: parse error: unexpected end of input");
        assert_eq!(
            located("sum by"),
            "1:7: parse error: unexpected end of input"
        );
        assert_eq!(
            located("rate(x[5m]) /"),
            "1:14: parse error: unexpected end of input"
        );
    }

    #[test]
    fn a_bad_token_is_named_where_it_is() {
        assert_eq!(
            located("1 + )"),
            r#"1:5: parse error: unexpected right parenthesis ')'"#
        );
        assert_eq!(located("foo bar"), r#"1:5: parse error: unexpected "bar""#);
        assert_eq!(
            located("sum(x) by foo"),
            r#"1:11: parse error: unexpected "foo""#
        );
        assert_eq!(
            located("x offset 5m +\n* 2"),
            r#"2:1: parse error: unexpected "*""#
        );
        assert_eq!(
            located("up{job=\"a\"} == == 1"),
            r#"1:16: parse error: unexpected "==""#
        );
    }

    #[test]
    fn lexer_errors_point_at_the_character() {
        let text = located("up{job=\"a\"} $ 1");
        assert!(text.starts_with("1:13: parse error: "), "{text}");
        let text = located("sum(rate(x[5m])");
        assert!(text.starts_with("1:16: parse error: unclosed"), "{text}");
    }

    #[test]
    fn empty_queries_and_known_positions() {
        assert_eq!(
            parse_error_text("", "no expression found in input: ''"),
            "1:1: parse error: no expression found in input"
        );
        assert_eq!(
            parse_error_text("x", "1:2: parse error: whatever"),
            "1:2: parse error: whatever"
        );
        assert_eq!(line_col("ab\ncd", 4), "2:2");
    }
}
