//! Stage one of reading `pier.toml`: TOML syntax, then serde into the raw structs. Instead of
//! stopping at the first problem it reports each syntax error, unknown key and mistyped value:
//! on a serde error it reports it, removes the offending entry and deserializes again.

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::de::{DeTable, Deserializer};

use crate::diagnostics::{Problem, Reporter};
use crate::explain::{self, Found, SerdeMessage};
use crate::raw::RawManifest;
use crate::suggest;
use crate::tree;

/// Bound on retries; each one removes an entry, so real documents end long before.
const MAX_ATTEMPTS: usize = 500;

/// The raw manifest and the paths of the entries dropped because they were invalid (so that
/// validation does not also call them missing).
pub(crate) struct Recovered {
    pub raw: RawManifest,
    pub dropped: BTreeSet<String>,
}

/// Parses `text`, reporting every problem found; `None` when the document could not be read at
/// all (syntax errors, or an error that could not be placed).
pub(crate) fn parse(reporter: &mut Reporter<'_>) -> Option<Recovered> {
    let text = reporter.text();
    let (mut working, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            reporter.report(span, "", syntax_problem(error.message()));
        }
        return None;
    }
    let original = working.get_ref().clone();
    let mut dropped = BTreeSet::new();
    for _ in 0..MAX_ATTEMPTS {
        let error = match RawManifest::deserialize(Deserializer::from(working.clone())) {
            Ok(raw) => return Some(Recovered { raw, dropped }),
            Err(error) => error,
        };
        let message = explain::classify(error.message());
        let span = error.span().unwrap_or(0..0);
        let location = tree::locate(&original, &span, message.target());
        let found = Found {
            value_type: location.as_ref().and_then(|l| l.value_type).unwrap_or(""),
            literal: text.get(span.clone()).unwrap_or(""),
            key: location.as_ref().and_then(|l| l.key.as_deref()),
            top_level: location
                .as_ref()
                .is_some_and(|l| !l.path.contains(['.', '['])),
        };
        let path = location.as_ref().map(|l| l.path.as_str()).unwrap_or("");
        reporter.report(span.clone(), path, explain::explain(&message, &found));
        dropped.insert(path.to_string());
        if let Some(intended) = intended_key(&message, path) {
            // A misspelt required key is reported once, as misspelt, not again as missing.
            dropped.insert(intended);
        }
        if !tree::remove(working.get_mut(), &span, message.target()) {
            return None;
        }
        if let SerdeMessage::Other(_) = message {
            // An error serde could not describe may hide others; stop rather than guess.
            return None;
        }
    }
    None
}

/// For an unknown key close to a valid one, the path of the key probably meant.
fn intended_key(message: &SerdeMessage<'_>, path: &str) -> Option<String> {
    let SerdeMessage::UnknownKey { key, expected } = message else {
        return None;
    };
    let best = suggest::closest(key, expected)?;
    Some(match path.rsplit_once('.') {
        Some((parent, _)) => format!("{parent}.{best}"),
        None => best.to_string(),
    })
}

fn syntax_problem(message: &str) -> Problem {
    let problem = Problem::new(explain::tidy(message));
    if message.contains("duplicate key") {
        return problem.hint("each key may appear only once in a table");
    }
    if message.contains("must be quoted") {
        return problem.hint("quote strings: `command = \"bin/web\"`");
    }
    problem
}
