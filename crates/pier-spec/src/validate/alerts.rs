//! Validation of `[alerts]`: rule file paths (recorded, not read: the alerts subsystem owns
//! their contents) and notifiers with http(s) URLs.

use std::path::PathBuf;

use toml::Spanned;

use crate::diagnostics::Problem;
use crate::model::{Alerts, Notifier};
use crate::names;
use crate::raw::{RawAlerts, RawNotifier};

pub(crate) fn alerts(ctx: &mut super::Ctx<'_, '_>, raw: &Option<RawAlerts>) -> Alerts {
    let Some(raw) = raw else {
        return Alerts::default();
    };
    let mut rules = Vec::new();
    for (i, rule) in raw.rules.iter().flatten().enumerate() {
        if rule.get_ref().trim().is_empty() {
            let problem = Problem::new("a rule file path must not be empty")
                .hint("write `rules = [\"alerts.yml\"]`");
            ctx.error(rule.span(), &format!("alerts.rules[{i}]"), problem);
        }
        rules.push(PathBuf::from(rule.get_ref()));
    }
    let notify = raw
        .notify
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, n)| notifier(ctx, n, &format!("alerts.notify[{i}]")))
        .collect();
    Alerts { rules, notify }
}

/// `{ slack = "https://hooks.slack.com/..." }` or `{ webhook = "https://..." }`.
fn notifier(
    ctx: &mut super::Ctx<'_, '_>,
    raw: &Spanned<RawNotifier>,
    field: &str,
) -> Option<Notifier> {
    let value = raw.get_ref();
    let (key, url, notifier) = match (&value.slack, &value.webhook) {
        (Some(url), None) => (
            "slack",
            url,
            Notifier::Slack {
                url: url.get_ref().clone(),
            },
        ),
        (None, Some(url)) => (
            "webhook",
            url,
            Notifier::Webhook {
                url: url.get_ref().clone(),
            },
        ),
        (slack, _) => {
            let message = if slack.is_some() {
                "a notifier is either `slack` or `webhook`, not both"
            } else {
                "a notifier needs `slack` or `webhook`"
            };
            let problem = Problem::new(message)
                .hint("write `notify = [{ slack = \"https://hooks.slack.com/services/…\" }]`");
            let dropped = ctx.was_dropped(&format!("{field}.slack"))
                || ctx.was_dropped(&format!("{field}.webhook"));
            if !dropped {
                ctx.error(raw.span(), field, problem);
            }
            return None;
        }
    };
    if let Err(problem) = names::http_url(url.get_ref()) {
        ctx.error(url.span(), &format!("{field}.{key}"), problem);
    }
    Some(notifier)
}
