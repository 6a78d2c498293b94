//! Validation of `[[routes]]`: host and path, the backend or weighted split (targets must be
//! routable services of this app or http(s) URLs, weights add up to 100), the split key and
//! timeouts, and that no two routes match the same host and path.

use std::collections::BTreeMap;

use toml::Spanned;

use crate::diagnostics::Problem;
use crate::model::{Backend, Route, RouteTimeouts, Service, SplitKey, SplitTarget};
use crate::names;
use crate::raw::{Opt, RawRoute, RawSplitKey, RawSplitTarget, RawTimeouts};
use crate::suggest;
use crate::validate::context::{Ctx, Zero, join};

pub(crate) fn routes(
    ctx: &mut Ctx<'_, '_>,
    raw: &Option<Vec<Spanned<RawRoute>>>,
    services: &BTreeMap<String, Service>,
) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    for (i, raw) in raw.iter().flatten().enumerate() {
        let field = format!("routes[{i}]");
        let route = route(ctx, raw, &field, services);
        let twin = routes
            .iter()
            .position(|r| r.host == route.host && r.path == route.path);
        if let Some(first) = twin {
            let host = route.host.as_deref().unwrap_or("any host");
            let problem = Problem::new(format!(
                "routes[{first}] already matches {host} and path `{}`",
                route.path
            ))
            .hint("merge the two routes, or give them different paths");
            ctx.error(raw.span(), &field, problem);
        }
        routes.push(route);
    }
    routes
}

fn route(
    ctx: &mut Ctx<'_, '_>,
    raw: &Spanned<RawRoute>,
    field: &str,
    services: &BTreeMap<String, Service>,
) -> Route {
    let value = raw.get_ref();
    Route {
        host: host(ctx, &value.host, field),
        path: path(ctx, &value.path, field),
        split: targets(ctx, raw, field, services),
        split_key: split_key(ctx, &value.split_key, field),
        timeouts: timeouts(ctx, &value.timeouts, field),
        ca_file: ca_file(ctx, value, field),
    }
}

/// A CA file only makes sense next to an `https://` backend.
fn ca_file(ctx: &mut Ctx<'_, '_>, value: &RawRoute, field: &str) -> Option<std::path::PathBuf> {
    let raw = value.ca_file.as_ref()?;
    let path = raw.get_ref();
    let https = value
        .to
        .as_ref()
        .is_some_and(|t| t.get_ref().starts_with("https://"))
        || value.split.iter().flat_map(|s| s.get_ref()).any(|t| {
            t.get_ref()
                .to
                .as_ref()
                .is_some_and(|to| to.get_ref().starts_with("https://"))
        });
    let problem = if path.trim().is_empty() {
        Some(
            Problem::new("`ca_file` is empty")
                .hint("give a PEM file path, like `certs/legacy-ca.pem`"),
        )
    } else if !https {
        Some(
            Problem::new("`ca_file` applies to https:// backends and this route has none")
                .hint("remove `ca_file`, or route to an https:// URL"),
        )
    } else {
        None
    };
    if let Some(problem) = problem {
        ctx.error(raw.span(), &join(field, "ca_file"), problem);
    }
    Some(std::path::PathBuf::from(path))
}

fn host(ctx: &mut Ctx<'_, '_>, raw: &Opt<String>, field: &str) -> Option<String> {
    let raw = raw.as_ref()?;
    if let Err(problem) = names::host(raw.get_ref()) {
        ctx.error(raw.span(), &join(field, "host"), problem);
    }
    Some(raw.get_ref().clone())
}

fn path(ctx: &mut Ctx<'_, '_>, raw: &Opt<String>, field: &str) -> String {
    let Some(raw) = raw else {
        return "/".to_string();
    };
    let path = raw.get_ref();
    let problem = if !path.starts_with('/') {
        Some(
            Problem::new(format!("a route path must start with `/`, found `{path}`")).hint(
                format!("write `path = \"/{}\"`", path.trim_start_matches('/')),
            ),
        )
    } else if path.contains(['?', '#']) || path.chars().any(char::is_whitespace) {
        Some(
            Problem::new(format!(
                "a route path is a plain path prefix, found `{path}`"
            ))
            .hint("remove the query, fragment or spaces"),
        )
    } else {
        None
    };
    if let Some(problem) = problem {
        ctx.error(raw.span(), &join(field, "path"), problem);
    }
    path.clone()
}

/// `to = "web"` (weight 100) or `split = [...]`, exactly one of them.
fn targets(
    ctx: &mut Ctx<'_, '_>,
    raw: &Spanned<RawRoute>,
    field: &str,
    services: &BTreeMap<String, Service>,
) -> Vec<SplitTarget> {
    let value = raw.get_ref();
    match (&value.to, &value.split) {
        (Some(to), split) => {
            if split.is_some() {
                let problem = Problem::new("a route has either `to` or `split`, not both")
                    .hint("list every backend in `split`, with weights");
                ctx.error(to.span(), &join(field, "to"), problem);
            }
            let to = backend(ctx, to, &join(field, "to"), services);
            vec![SplitTarget { to, weight: 100 }]
        }
        (None, Some(split)) => weighted(ctx, split, &join(field, "split"), services),
        (None, None) => {
            if !ctx.was_dropped(&join(field, "to")) && !ctx.was_dropped(&join(field, "split")) {
                let problem =
                    Problem::new("a route needs `to` or `split`").hint("add `to = \"web\"`");
                ctx.error(raw.span(), field, problem);
            }
            Vec::new()
        }
    }
}

fn weighted(
    ctx: &mut Ctx<'_, '_>,
    split: &Spanned<Vec<Spanned<RawSplitTarget>>>,
    field: &str,
    services: &BTreeMap<String, Service>,
) -> Vec<SplitTarget> {
    let mut targets: Vec<SplitTarget> = Vec::new();
    let mut complete = !ctx.dropped_under(field);
    for (i, raw) in split.get_ref().iter().enumerate() {
        let item = format!("{field}[{i}]");
        let Some(target) = target(ctx, raw, &item, services) else {
            complete = false;
            continue;
        };
        if targets.iter().any(|t| t.to == target.to) {
            let problem = Problem::new("this backend is already in the split")
                .hint("merge the two entries' weights");
            ctx.error(raw.span(), &item, problem);
        }
        targets.push(target);
    }
    let sum: u64 = targets.iter().map(|t| u64::from(t.weight)).sum();
    if targets.is_empty() && complete {
        ctx.error(
            split.span(),
            field,
            Problem::new("a split needs at least one backend"),
        );
    } else if complete && sum != 100 {
        let problem = Problem::new(format!("weights add up to {sum}, not 100"))
            .hint("weights are percentages of requests; make them add up to 100");
        ctx.error(split.span(), field, problem);
    }
    targets
}

/// One `{ to = "...", weight = N }`; `None` when a key is missing.
fn target(
    ctx: &mut Ctx<'_, '_>,
    raw: &Spanned<RawSplitTarget>,
    field: &str,
    services: &BTreeMap<String, Service>,
) -> Option<SplitTarget> {
    let value = raw.get_ref();
    if value.to.is_none() {
        ctx.missing(raw.span(), field, "to", "to = \"web\"");
    }
    if value.weight.is_none() {
        ctx.missing(raw.span(), field, "weight", "weight = 10");
    }
    let to = backend(ctx, value.to.as_ref()?, &join(field, "to"), services);
    let weight = ctx.count(&value.weight, &join(field, "weight"), 0, (0, 100));
    value.weight.as_ref()?;
    Some(SplitTarget { to, weight })
}

/// A service of this app that public traffic may reach, or an http(s) URL.
fn backend(
    ctx: &mut Ctx<'_, '_>,
    raw: &Spanned<String>,
    field: &str,
    services: &BTreeMap<String, Service>,
) -> Backend {
    let to = raw.get_ref();
    if to.contains("://") {
        if let Err(problem) = names::http_url(to) {
            ctx.error(raw.span(), field, problem);
        }
        return Backend::Url(to.clone());
    }
    let problem = match services.get(to) {
        None => Some(unknown_service(to, services)),
        Some(service) if !service.port => Some(
            Problem::new(format!(
                "service `{to}` has `port = false`, so nothing can be routed to it"
            ))
            .hint(format!("remove `port = false` from `[services.{to}]`")),
        ),
        Some(service) if !service.public => Some(
            Problem::new(format!("service `{to}` is internal (`public = false`)")).hint(format!(
                "set `public = true` in `[services.{to}]` to route public traffic to it"
            )),
        ),
        Some(_) => None,
    };
    if let Some(problem) = problem
        && !ctx.was_dropped("services")
    {
        ctx.error(raw.span(), field, problem);
    }
    Backend::Service(to.clone())
}

fn unknown_service(to: &str, services: &BTreeMap<String, Service>) -> Problem {
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    let known = if names.is_empty() {
        "this app has no services".to_string()
    } else {
        format!("services are {}", suggest::quoted_list(&names))
    };
    let problem = Problem::new(format!("no service named `{to}`; {known}"));
    if let Some(best) = suggest::closest(to, &names) {
        return problem.hint(format!("did you mean `{best}`?"));
    }
    if to.contains(['.', ':']) {
        return problem.hint(format!("write `https://{to}` for an external backend"));
    }
    problem
}

fn split_key(ctx: &mut Ctx<'_, '_>, raw: &Opt<RawSplitKey>, field: &str) -> Option<SplitKey> {
    let raw = raw.as_ref()?;
    let field = join(field, "split_key");
    let value = raw.get_ref();
    let (key, name, make): (&str, &Spanned<String>, fn(String) -> SplitKey) =
        match (&value.cookie, &value.header) {
            (Some(cookie), None) => ("cookie", cookie, SplitKey::Cookie),
            (None, Some(header)) => ("header", header, SplitKey::Header),
            (cookie, _) => {
                let message = if cookie.is_some() {
                    "a split key is either a `cookie` or a `header`, not both"
                } else {
                    "a split key needs `cookie` or `header`"
                };
                let problem =
                    Problem::new(message).hint("write `split_key = { cookie = \"tenant\" }`");
                let dropped = ["cookie", "header"]
                    .iter()
                    .any(|k| ctx.was_dropped(&join(&field, k)));
                if !dropped {
                    ctx.error(raw.span(), &field, problem);
                }
                return None;
            }
        };
    let text = name.get_ref();
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if text.is_empty() || !text.chars().all(token) {
        let problem = Problem::new(format!("`{text}` is not a valid {key} name"))
            .hint("use letters, digits and `-` or `_`");
        ctx.error(name.span(), &join(&field, key), problem);
    }
    Some(make(text.clone()))
}

fn timeouts(ctx: &mut Ctx<'_, '_>, raw: &Opt<RawTimeouts>, field: &str) -> RouteTimeouts {
    let defaults = RouteTimeouts::default();
    let Some(raw) = raw else {
        return defaults;
    };
    let field = join(field, "timeouts");
    let value = raw.get_ref();
    RouteTimeouts {
        connect: ctx.duration(
            &value.connect,
            &join(&field, "connect"),
            defaults.connect,
            Zero::Rejected,
        ),
        first_byte: ctx.duration(
            &value.first_byte,
            &join(&field, "first_byte"),
            defaults.first_byte,
            Zero::Rejected,
        ),
        idle: ctx.duration(
            &value.idle,
            &join(&field, "idle"),
            defaults.idle,
            Zero::Rejected,
        ),
    }
}
