//! Reading Heroku's `app.json`: the app name, config vars and formation (replica counts).
//! Every other key of the format is accepted and ignored. Knows nothing of the Procfile.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::diagnostics::{Problem, Reporter};
use crate::explain::tidy;
use crate::names;

/// What pier takes from app.json.
#[derive(Debug, Default)]
pub(crate) struct AppJson {
    pub name: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Sentences about variables left out, and why.
    pub skipped: Vec<String>,
    /// Process type to quantity.
    pub formation: BTreeMap<String, u32>,
}

#[derive(Deserialize)]
struct RawAppJson {
    name: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, RawEnv>,
    #[serde(default)]
    formation: BTreeMap<String, RawFormation>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawEnv {
    Value(String),
    Spec(RawEnvSpec),
}

#[derive(Deserialize)]
struct RawEnvSpec {
    value: Option<String>,
    generator: Option<String>,
}

#[derive(Deserialize)]
struct RawFormation {
    quantity: Option<u32>,
}

/// Parses app.json, reporting problems to `reporter`; `None` when it is not valid JSON of the
/// expected shape.
pub(crate) fn parse(reporter: &mut Reporter<'_>) -> Option<AppJson> {
    let raw: RawAppJson = match serde_json::from_str(reporter.text()) {
        Ok(raw) => raw,
        Err(error) => {
            reporter.report_at(
                error.line().max(1),
                error.column().max(1),
                "",
                json_problem(&error),
            );
            return None;
        }
    };
    let mut app = AppJson {
        name: raw.name,
        formation: raw
            .formation
            .into_iter()
            .map(|(k, f)| (k, f.quantity.unwrap_or(1)))
            .collect(),
        ..AppJson::default()
    };
    for (name, entry) in raw.env {
        if name == "PORT" {
            app.skipped
                .push("`PORT` from app.json is left out: pier assigns it to each replica.".into());
            continue;
        }
        if let Err(problem) = names::env_name(&name) {
            let offset = find_key(reporter.text(), &["env", &name]);
            reporter.report(offset..offset, &format!("env.{name}"), problem);
            continue;
        }
        match entry {
            RawEnv::Value(value)
            | RawEnv::Spec(RawEnvSpec {
                value: Some(value),
                generator: None,
            }) => {
                app.env.insert(name, value);
            }
            RawEnv::Spec(RawEnvSpec {
                generator: Some(_), ..
            }) => {
                app.skipped
                    .push(unset(&name, "app.json asks for a generated secret"));
            }
            RawEnv::Spec(RawEnvSpec { value: None, .. }) => {
                app.skipped.push(unset(&name, "app.json gives no value"));
            }
        }
    }
    Some(app)
}

fn unset(name: &str, why: &str) -> String {
    format!("`{name}` is not set: {why}; set it with `pier config set {name}=…`.")
}

fn json_problem(error: &serde_json::Error) -> Problem {
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    if message.contains("untagged enum RawEnv") {
        return Problem::new("an env entry must be a string or an object with a string `value`")
            .hint("write `\"RUST_LOG\": \"info\"` or `\"RUST_LOG\": { \"value\": \"info\" }`");
    }
    Problem::new(tidy(message))
}

/// Byte offset of the last of a chain of keys (`["formation", "web"]`), found by searching for
/// each quoted key after the previous one; 0 when not found. Good enough to point at a line.
pub(crate) fn find_key(text: &str, keys: &[&str]) -> usize {
    let mut offset = 0;
    for key in keys {
        let needle = format!("\"{key}\"");
        match text.get(offset..).and_then(|rest| rest.find(&needle)) {
            Some(found) => offset += found,
            None => return offset,
        }
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys() {
        let text = "{\n  \"web\": 1,\n  \"formation\": {\n    \"web\": {}\n  }\n}";
        let offset = find_key(text, &["formation", "web"]);
        assert_eq!(&text[offset..offset + 5], "\"web\"");
        assert!(offset > text.find("formation").unwrap_or(0));
    }
}
