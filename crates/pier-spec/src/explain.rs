//! Turns serde's deserialization messages ("unknown field `x`, expected one of …", "invalid
//! type: string \"2\", expected u32") into pier's wording with a hint that shows the fix.
//! Knows serde's message shapes and the raw leaf types, nothing else of the manifest.

use crate::diagnostics::Problem;
use crate::raw::{EXPECTING_DURATION, EXPECTING_QUANTITY};
use crate::suggest;
use crate::tree::Target;

/// The shape of a serde error message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SerdeMessage<'m> {
    UnknownKey {
        key: &'m str,
        expected: Vec<&'m str>,
    },
    InvalidType {
        expected: &'m str,
    },
    InvalidValue {
        expected: &'m str,
    },
    Other(&'m str),
}

impl SerdeMessage<'_> {
    /// Whether the error's span points at a key or at a value.
    pub fn target(&self) -> Target {
        match self {
            SerdeMessage::UnknownKey { .. } => Target::Key,
            _ => Target::Value,
        }
    }
}

pub(crate) fn classify(message: &str) -> SerdeMessage<'_> {
    if message.starts_with("unknown field `") {
        let mut quoted = message.split('`').skip(1).step_by(2);
        let key = quoted.next().unwrap_or("");
        return SerdeMessage::UnknownKey {
            key,
            expected: quoted.collect(),
        };
    }
    if let Some(e) = message.strip_prefix("invalid type: ").and_then(expected) {
        return SerdeMessage::InvalidType { expected: e };
    }
    if let Some(e) = message.strip_prefix("invalid value: ").and_then(expected) {
        return SerdeMessage::InvalidValue { expected: e };
    }
    SerdeMessage::Other(message)
}

/// The text after serde's last `, expected `.
fn expected(rest: &str) -> Option<&str> {
    rest.rsplit_once(", expected ").map(|(_, e)| e)
}

/// The offending value as found in the document.
pub(crate) struct Found<'a> {
    /// TOML type name (`string`, `integer`, …).
    pub value_type: &'a str,
    /// The value's source text.
    pub literal: &'a str,
    /// The key it is assigned to, when it is not an array item.
    pub key: Option<&'a str>,
    /// Whether that key is a top-level section of the file.
    pub top_level: bool,
}

/// pier's message and hint for a classified serde error.
pub(crate) fn explain(message: &SerdeMessage<'_>, found: &Found<'_>) -> Problem {
    match message {
        SerdeMessage::UnknownKey { key, expected } => Problem::new(format!("unknown key `{key}`"))
            .maybe_hint(suggest::did_you_mean(key, expected, "valid keys here")),
        SerdeMessage::InvalidType { expected } => {
            let expect = Expect::from_serde(expected);
            Problem::new(format!(
                "expected {}, found {}",
                expect.phrase(),
                article(found.value_type)
            ))
            .maybe_hint(type_hint(expect, found))
        }
        SerdeMessage::InvalidValue { expected } => {
            let expect = Expect::from_serde(expected);
            if expect == Expect::Integer && !found.literal.starts_with('-') {
                return Problem::new(format!("{} is too large", found.literal));
            }
            Problem::new(format!(
                "expected {}, found {}",
                expect.phrase(),
                found.literal
            ))
        }
        SerdeMessage::Other(other) => Problem::new(tidy(other)),
    }
}

/// What a field wanted, from serde's `expected …` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect<'m> {
    Integer,
    Number,
    Boolean,
    String,
    Duration,
    Quantity,
    Array,
    Table,
    Other(&'m str),
}

impl<'m> Expect<'m> {
    fn from_serde(expected: &'m str) -> Self {
        match expected {
            "u8" | "u16" | "u32" | "u64" | "usize" => Expect::Integer,
            "f32" | "f64" => Expect::Number,
            "a boolean" => Expect::Boolean,
            "a string" | "a borrowed string" => Expect::String,
            "a sequence" => Expect::Array,
            "a map" => Expect::Table,
            e if e == EXPECTING_DURATION => Expect::Duration,
            e if e == EXPECTING_QUANTITY => Expect::Quantity,
            e if e.starts_with("struct ") => Expect::Table,
            other => Expect::Other(other),
        }
    }

    fn phrase(self) -> &'m str {
        match self {
            Expect::Integer => "a non-negative integer",
            Expect::Number => "a number",
            Expect::Boolean => "a boolean",
            Expect::String => "a string",
            Expect::Duration => "a duration string such as \"30s\"",
            Expect::Quantity => "a quantity such as \"500m\" or \"256Mi\"",
            Expect::Array => "an array",
            Expect::Table => "a table",
            Expect::Other(other) => other,
        }
    }
}

/// A hint showing the value rewritten in the expected type, when that is obvious.
fn type_hint(expect: Expect<'_>, found: &Found<'_>) -> Option<String> {
    let unquoted = found.literal.trim_matches(['"', '\'']).trim();
    let write = |value: &str| Some(format!("write {}", assign(found.key, value)));
    match (expect, found.value_type) {
        (Expect::Integer, "string") if unquoted.parse::<u64>().is_ok() => write(unquoted),
        (Expect::Integer, "float") => match unquoted.strip_suffix(".0") {
            Some(whole) => write(whole),
            None => None,
        },
        (Expect::Number, "string") if unquoted.parse::<f64>().is_ok() => write(unquoted),
        (Expect::Boolean, "string") if matches!(unquoted, "true" | "false") => write(unquoted),
        (Expect::String | Expect::Quantity, "integer" | "float" | "boolean") => Some(format!(
            "quote it: {}",
            assign(found.key, &format!("\"{}\"", found.literal))
        )),
        (Expect::Duration, "integer") => write(&format!("\"{}s\"", found.literal)),
        (Expect::Duration, _) => write("\"30s\""),
        (Expect::Array, "string" | "integer" | "float" | "boolean") => {
            write(&format!("[{}]", found.literal))
        }
        (Expect::Table, _) => found.key.and_then(|key| table_hint(key, found.top_level)),
        _ => None,
    }
}

/// `` `key = value` `` or just `` `value` `` for array items.
fn assign(key: Option<&str>, value: &str) -> String {
    match key {
        Some(key) => format!("`{key} = {value}`"),
        None => format!("`{value}`"),
    }
}

/// How to write each table-valued key, for hints.
fn table_hint(key: &str, top_level: bool) -> Option<String> {
    if top_level {
        let header = match key {
            "services" => "[services.web]".to_string(),
            "jobs" => "[jobs.report]".to_string(),
            "routes" => "[[routes]]".to_string(),
            other => format!("[{other}]"),
        };
        return Some(format!(
            "write a `{header}` table header with its keys on the lines below"
        ));
    }
    inline_example(key).map(|example| format!("write `{example}`"))
}

/// An inline-table example of each key that takes one.
fn inline_example(key: &str) -> Option<&'static str> {
    Some(match key {
        "readiness" => "readiness = { http = \"/healthz\", period = \"2s\" }",
        "liveness" => "liveness = { http = \"/healthz\", period = \"10s\" }",
        "resources" => "resources = { cpu = \"500m\", memory = \"256Mi\" }",
        "autoscale" => "autoscale = { min = 2, max = 8, target_cpu = 0.6 }",
        "restart_backoff" => "restart_backoff = { initial = \"10s\", max = \"5m\" }",
        "timeouts" => "timeouts = { connect = \"5s\", first_byte = \"30s\", idle = \"55s\" }",
        "split_key" => "split_key = { cookie = \"tenant\" }",
        _ => return None,
    })
}

/// `an integer`, `a string`, …
fn article(toml_type: &str) -> String {
    match toml_type {
        "integer" | "array" => format!("an {toml_type}"),
        "datetime" => "a date-time".to_string(),
        other => format!("a {other}"),
    }
}

/// House style for foreign messages: lowercase start, no trailing period, one line.
pub(crate) fn tidy(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(|l| l.trim().trim_end_matches('.'))
        .filter(|l| !l.is_empty())
        .collect();
    let message = lines.join("; ");
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_serde_messages() {
        assert_eq!(
            classify("unknown field `replcas`, expected one of `command`, `replicas`"),
            SerdeMessage::UnknownKey {
                key: "replcas",
                expected: vec!["command", "replicas"]
            }
        );
        assert_eq!(
            classify("unknown field `x`, there are no fields"),
            SerdeMessage::UnknownKey {
                key: "x",
                expected: vec![]
            }
        );
        assert_eq!(
            classify("invalid type: string \"a, expected b\", expected u32"),
            SerdeMessage::InvalidType { expected: "u32" }
        );
        assert_eq!(
            classify("invalid value: integer `-2`, expected u32"),
            SerdeMessage::InvalidValue { expected: "u32" }
        );
        assert_eq!(classify("Boom."), SerdeMessage::Other("Boom."));
    }

    #[test]
    fn explains_with_hints() {
        let found = Found {
            value_type: "string",
            literal: "\"2\"",
            key: Some("replicas"),
            top_level: false,
        };
        let problem = explain(&SerdeMessage::InvalidType { expected: "u32" }, &found);
        assert_eq!(
            problem.message,
            "expected a non-negative integer, found a string"
        );
        assert_eq!(problem.hint.as_deref(), Some("write `replicas = 2`"));
        let found = Found {
            value_type: "integer",
            literal: "10",
            key: Some("period"),
            top_level: false,
        };
        let problem = explain(
            &SerdeMessage::InvalidType {
                expected: EXPECTING_DURATION,
            },
            &found,
        );
        assert_eq!(problem.hint.as_deref(), Some("write `period = \"10s\"`"));
        assert_eq!(tidy("Duplicate key.\nsecond"), "duplicate key; second");
    }
}
