//! The validation context: where problems are reported, which entries stage one already
//! dropped, and the helpers every section uses to turn a raw spanned value into a resolved one
//! (required commands, durations, names, env tables).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::diagnostics::{Problem, Reporter};
use crate::duration;
use crate::names;
use crate::raw::{Env, Opt, RawDuration};

pub(crate) struct Ctx<'r, 'a> {
    reporter: &'r mut Reporter<'a>,
    dropped: &'r BTreeSet<String>,
}

/// Whether a zero duration makes sense for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    Allowed,
    Rejected,
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl<'r, 'a> Ctx<'r, 'a> {
    pub fn new(reporter: &'r mut Reporter<'a>, dropped: &'r BTreeSet<String>) -> Self {
        Ctx { reporter, dropped }
    }

    /// Reports a problem with the value at `span`.
    pub fn error(&mut self, span: Range<usize>, field: &str, problem: Problem) {
        self.reporter.report(span, field, problem);
    }

    /// Whether stage one dropped this field (it has been reported already).
    pub fn was_dropped(&self, field: &str) -> bool {
        self.dropped.contains(field)
    }

    /// Whether stage one dropped anything at or below `field` (`routes[0].split`).
    pub fn dropped_under(&self, field: &str) -> bool {
        self.dropped.iter().any(|d| {
            d.strip_prefix(field)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    /// Reports a missing required key of the table at `owner`, unless it was dropped as invalid.
    pub fn missing(&mut self, owner: Range<usize>, parent: &str, key: &str, example: &str) {
        let field = join(parent, key);
        if self.was_dropped(&field) {
            return;
        }
        let problem =
            Problem::new(format!("missing required key `{key}`")).hint(format!("add `{example}`"));
        self.error(owner, &field, problem);
    }

    /// A required, non-empty shell command.
    pub fn command(&mut self, value: &Opt<String>, owner: Range<usize>, parent: &str) -> String {
        let Some(value) = value else {
            self.missing(owner, parent, "command", "command = \"bin/start\"");
            return String::new();
        };
        if value.get_ref().trim().is_empty() {
            let field = join(parent, "command");
            self.error(
                value.span(),
                &field,
                Problem::new("command must not be empty"),
            );
        }
        value.get_ref().clone()
    }

    /// An optional duration, checked to be positive unless zero is allowed.
    pub fn optional_duration(
        &mut self,
        value: &Opt<RawDuration>,
        field: &str,
        zero: Zero,
    ) -> Option<Duration> {
        let value = value.as_ref()?;
        match duration::parse(&value.get_ref().0) {
            Ok(d) if d.is_zero() && zero == Zero::Rejected => {
                let problem = Problem::new("must be greater than zero");
                self.error(value.span(), field, problem);
                None
            }
            Ok(d) => Some(d),
            Err(problem) => {
                self.error(value.span(), field, problem);
                None
            }
        }
    }

    /// A duration with a default.
    pub fn duration(
        &mut self,
        value: &Opt<RawDuration>,
        field: &str,
        default: Duration,
        zero: Zero,
    ) -> Duration {
        self.optional_duration(value, field, zero)
            .unwrap_or(default)
    }

    /// A name that must be a DNS label (app, service, job).
    pub fn label(&mut self, name: &Spanned<String>, field: &str) -> String {
        if let Err(problem) = names::dns_label(name.get_ref()) {
            self.error(name.span(), field, problem);
        }
        name.get_ref().clone()
    }

    /// An `env` table with checked variable names.
    pub fn env(&mut self, env: &Option<Env>, parent: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, value) in env.iter().flatten() {
            let field = join(parent, name.get_ref());
            if let Err(problem) = names::env_name(name.get_ref()) {
                self.error(name.span(), &field, problem);
            }
            out.insert(name.get_ref().clone(), value.get_ref().clone());
        }
        out
    }

    /// A count with a default and inclusive bounds.
    pub fn count(
        &mut self,
        value: &Opt<u32>,
        field: &str,
        default: u32,
        bounds: (u32, u32),
    ) -> u32 {
        let Some(value) = value else {
            return default;
        };
        let n = *value.get_ref();
        let (lo, hi) = bounds;
        if n < lo || n > hi {
            let message = if hi == u32::MAX {
                format!("must be at least {lo}, found {n}")
            } else {
                format!("must be between {lo} and {hi}, found {n}")
            };
            self.error(value.span(), field, Problem::new(message));
        }
        n
    }
}
