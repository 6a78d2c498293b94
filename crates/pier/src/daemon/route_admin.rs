//! The live part of routing: a split's percentage and its allow/deny lists, changed with
//! `pier route split|allow|deny` while requests flow. Each change is validated, written to the
//! state store (`router.route.<name>`, JSON), and only then published to the router as a new
//! set of rules, so a restarted daemon routes exactly as before.

use std::sync::Mutex;

use pier_api::{KeyListName, RouteAdmin, RouteAdminError, RouteDto, RouteTargetDto};
use pier_router::{RouteRule, SplitKey};
use pier_state::State;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What `pier route` changed on top of the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Override {
    /// The rollout (second) target's percentage.
    percent: Option<u32>,
    allow: Vec<String>,
    deny: Vec<String>,
}

/// The manifest's rules, the stored overrides, and the channel the router follows.
pub struct RouteControl {
    base: Vec<RouteRule>,
    state: State,
    /// Serialises changes: read, validate, write, publish.
    lock: Mutex<()>,
    rules: watch::Sender<Vec<RouteRule>>,
}

impl RouteControl {
    /// Loads the stored overrides of `base` and publishes the effective rules.
    pub fn load(base: Vec<RouteRule>, state: State) -> anyhow::Result<RouteControl> {
        let mut effective = Vec::with_capacity(base.len());
        for rule in &base {
            let stored = load_override(&state, &rule.name)?;
            effective.push(apply(rule, &stored).map_err(|e| {
                anyhow::anyhow!("the stored split of route {} no longer fits the manifest: {e}; change it with `pier route split`", rule.name)
            })?);
        }
        let (rules, _) = watch::channel(effective);
        Ok(RouteControl {
            base,
            state,
            lock: Mutex::new(()),
            rules,
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<Vec<RouteRule>> {
        self.rules.subscribe()
    }

    fn change(
        &self,
        route: &str,
        edit: impl FnOnce(&RouteRule, &mut Override) -> Result<(), RouteAdminError>,
    ) -> Result<RouteDto, RouteAdminError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let index = self
            .base
            .iter()
            .position(|r| r.name == route)
            .ok_or_else(|| {
                let known: Vec<&str> = self.base.iter().map(|r| r.name.as_str()).collect();
                RouteAdminError::NotFound(format!(
                    "no route named `{route}` (routes: {})",
                    known.join(", ")
                ))
            })?;
        let base = &self.base[index];
        if base.targets.len() < 2 {
            return Err(RouteAdminError::Invalid(format!(
                "route `{route}` sends everything to {}; give it a `split` in pier.toml first",
                base.targets
                    .first()
                    .map_or_else(|| "one backend".to_string(), |t| t.backend.name())
            )));
        }
        let failed = |e: anyhow::Error| RouteAdminError::Failed(format!("{e:#}"));
        let mut stored = load_override(&self.state, route).map_err(failed)?;
        edit(base, &mut stored)?;
        let rule = apply(base, &stored).map_err(RouteAdminError::Invalid)?;
        let text = serde_json::to_string(&stored).map_err(|e| failed(e.into()))?;
        self.state
            .set_setting(&key(route), &text)
            .map_err(|e| failed(e.into()))?;
        self.rules.send_modify(|rules| rules[index] = rule.clone());
        Ok(dto(&rule))
    }
}

impl RouteAdmin for RouteControl {
    fn routes(&self) -> Vec<RouteDto> {
        self.rules.borrow().iter().map(dto).collect()
    }

    fn set_percent(&self, route: &str, percent: u32) -> Result<RouteDto, RouteAdminError> {
        if percent > 100 {
            return Err(RouteAdminError::Invalid(format!(
                "{percent} is not a percentage; give 0 to 100"
            )));
        }
        self.change(route, |_, stored| {
            stored.percent = Some(percent);
            Ok(())
        })
    }

    fn set_keys(
        &self,
        route: &str,
        list: KeyListName,
        keys: &[String],
        remove: bool,
    ) -> Result<RouteDto, RouteAdminError> {
        if let Some(bad) = keys
            .iter()
            .find(|k| k.trim().is_empty() || k.chars().any(char::is_control))
        {
            return Err(RouteAdminError::Invalid(format!(
                "{bad:?} is not a valid split key"
            )));
        }
        if keys.is_empty() {
            return Err(RouteAdminError::Invalid(
                "give at least one key".to_string(),
            ));
        }
        self.change(route, |_, stored| {
            let entries = match list {
                KeyListName::Allow => &mut stored.allow,
                KeyListName::Deny => &mut stored.deny,
            };
            for key in keys {
                entries.retain(|k| k != key);
                if !remove {
                    entries.push(key.clone());
                }
            }
            Ok(())
        })
    }
}

fn key(route: &str) -> String {
    format!("router.route.{route}")
}

fn load_override(state: &State, route: &str) -> anyhow::Result<Override> {
    Ok(match state.setting(&key(route))? {
        Some(text) => serde_json::from_str(&text)?,
        None => Override::default(),
    })
}

/// The rule with the override applied: the rollout target gets `percent`, the primary what
/// is left after every other target.
fn apply(base: &RouteRule, stored: &Override) -> Result<RouteRule, String> {
    let mut rule = base.clone();
    if let (Some(percent), true) = (stored.percent, rule.targets.len() >= 2) {
        let others: u32 = rule.targets.iter().skip(2).map(|t| t.percent).sum();
        let primary = 100u32.checked_sub(percent + others).ok_or_else(|| {
            format!("{percent}% for {} leaves less than nothing for {} (the other targets take {others}%)", rule.targets[1].backend.name(), rule.targets[0].backend.name())
        })?;
        rule.targets[1].percent = percent;
        rule.targets[0].percent = primary;
    }
    rule.lists.allow = stored.allow.clone();
    rule.lists.deny = stored.deny.clone();
    Ok(rule)
}

fn dto(rule: &RouteRule) -> RouteDto {
    RouteDto {
        name: rule.name.clone(),
        targets: rule
            .targets
            .iter()
            .map(|t| RouteTargetDto {
                backend: t.backend.name(),
                percent: t.percent,
            })
            .collect(),
        split_key: rule.split_key.as_ref().map(|k| match k {
            SplitKey::Cookie(name) => format!("cookie {name}"),
            SplitKey::Header(name) => format!("header {name}"),
        }),
        allow: rule.lists.allow.clone(),
        deny: rule.lists.deny.clone(),
    }
}
