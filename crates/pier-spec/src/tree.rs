//! Finding and removing entries of a parsed TOML document by byte span: turns the span of a
//! serde error into the dotted field path users see, and lets the parser drop the offending
//! entry to look for further errors. Knows TOML documents, not the manifest schema.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// Whether an error span points at a key (unknown key) or at a value (wrong type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Key,
    Value,
}

/// Where an error span sits in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// Dotted path such as `services.web.replicas` or `routes[0].split[1].to`.
    pub path: String,
    /// The last key of the path, if the path does not end with an array index.
    pub key: Option<String>,
    /// The TOML type of the value found (for `Target::Value`).
    pub value_type: Option<&'static str>,
}

enum Segment {
    Key(String),
    Index(usize),
}

/// Locates the entry whose key (or value) has exactly `span`.
pub(crate) fn locate(table: &DeTable<'_>, span: &Range<usize>, target: Target) -> Option<Location> {
    let mut trail = Vec::new();
    let value_type = find_in_table(table, span, target, &mut trail)?;
    let key = match trail.last() {
        Some(Segment::Key(k)) => Some(k.clone()),
        _ => None,
    };
    Some(Location {
        path: render(&trail),
        key,
        value_type: value_type.filter(|_| target == Target::Value),
    })
}

/// Dotted path of a trail of segments.
fn render(trail: &[Segment]) -> String {
    let mut path = String::new();
    for segment in trail {
        match segment {
            Segment::Key(k) if path.is_empty() => path.push_str(k),
            Segment::Key(k) => {
                path.push('.');
                path.push_str(k);
            }
            Segment::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// `Some(type)` when found; the type is that of the matching value (or of the key's value).
fn find_in_table(
    table: &DeTable<'_>,
    span: &Range<usize>,
    target: Target,
    trail: &mut Vec<Segment>,
) -> Option<Option<&'static str>> {
    for (key, value) in table.iter() {
        trail.push(Segment::Key(key.get_ref().to_string()));
        if target == Target::Key && key.span() == *span {
            return Some(None);
        }
        if let Some(found) = find_in_value(value, span, target, trail) {
            return Some(found);
        }
        trail.pop();
    }
    None
}

fn find_in_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    target: Target,
    trail: &mut Vec<Segment>,
) -> Option<Option<&'static str>> {
    // A container and its first item can share a span (`[[jobs]]`); serde checks the
    // container first, so the outer value is the one meant.
    if target == Target::Value && value.span() == *span {
        return Some(Some(value.get_ref().type_str()));
    }
    match value.get_ref() {
        DeValue::Table(table) => {
            if let Some(found) = find_in_table(table, span, target, trail) {
                return Some(found);
            }
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                trail.push(Segment::Index(i));
                if let Some(found) = find_in_value(item, span, target, trail) {
                    return Some(found);
                }
                trail.pop();
            }
        }
        _ => {}
    }
    None
}

/// Removes the entry (or array element) whose key or value has exactly `span`; `false` when
/// nothing matched.
pub(crate) fn remove(table: &mut DeTable<'_>, span: &Range<usize>, target: Target) -> bool {
    let mut doomed = None;
    for (key, value) in table.iter_mut() {
        if target == Target::Key && key.span() == *span {
            doomed = Some(key.get_ref().to_string());
            break;
        }
        match remove_in_value(value, span, target) {
            Outcome::Removed => return true,
            Outcome::RemoveMe => {
                doomed = Some(key.get_ref().to_string());
                break;
            }
            Outcome::NotFound => {}
        }
    }
    match doomed {
        Some(key) => table.remove(key.as_str()).is_some(),
        None => false,
    }
}

enum Outcome {
    NotFound,
    Removed,
    RemoveMe,
}

fn remove_in_value(
    value: &mut Spanned<DeValue<'_>>,
    span: &Range<usize>,
    target: Target,
) -> Outcome {
    // Outer first, as in `find_in_value`.
    if target == Target::Value && value.span() == *span {
        return Outcome::RemoveMe;
    }
    let removed = match value.get_mut() {
        DeValue::Table(table) => remove(table, span, target),
        DeValue::Array(items) => remove_from_array(items, span, target),
        _ => false,
    };
    if removed {
        Outcome::Removed
    } else {
        Outcome::NotFound
    }
}

fn remove_from_array(items: &mut DeArray<'_>, span: &Range<usize>, target: Target) -> bool {
    for i in 0..items.len() {
        let Some(item) = items.get_mut(i) else {
            break;
        };
        match remove_in_value(item, span, target) {
            Outcome::Removed => return true,
            Outcome::RemoveMe => {
                remove_item(items, i);
                return true;
            }
            Outcome::NotFound => {}
        }
    }
    false
}

fn remove_item(items: &mut DeArray<'_>, index: usize) {
    let mut kept = DeArray::new();
    for (i, item) in items.iter().enumerate() {
        if i != index {
            kept.push(item.clone());
        }
    }
    *items = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> DeTable<'_> {
        match DeTable::parse(text) {
            Ok(t) => t.into_inner(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn locates_keys_and_values_with_paths() {
        let text = "[services.web]\nreplcas = 2\n[[routes]]\nsplit = [{ to = 1 }]\n";
        let table = doc(text);
        let key = text.find("replcas").unwrap_or(0);
        let location = locate(&table, &(key..key + 7), Target::Key);
        assert_eq!(
            location,
            Some(Location {
                path: "services.web.replcas".into(),
                key: Some("replcas".into()),
                value_type: None,
            })
        );
        let one = text.find("1 }").unwrap_or(0);
        let location = locate(&table, &(one..one + 1), Target::Value);
        assert_eq!(
            location.map(|l| (l.path, l.value_type)),
            Some(("routes[0].split[0].to".into(), Some("integer")))
        );
    }

    #[test]
    fn removes_entries_and_array_items() {
        let text = "rules = [\"a\", 3, \"b\"]\nx = 1\n";
        let mut table = doc(text);
        let three = text.find('3').unwrap_or(0);
        assert!(remove(&mut table, &(three..three + 1), Target::Value));
        let rules = table
            .get("rules")
            .and_then(|r| r.get_ref().as_array().map(|a| a.len()));
        assert_eq!(rules, Some(2));
        let x = text.find('x').unwrap_or(0);
        assert!(remove(&mut table, &(x..x + 1), Target::Key));
        assert!(table.get("x").is_none());
        assert!(!remove(&mut table, &(0..1), Target::Value));
    }
}
