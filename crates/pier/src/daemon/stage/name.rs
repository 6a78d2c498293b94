//! A stage's name: one DNS label (it becomes `NAME.<app>.localhost`), lowercase letters, digits
//! and `-`; not a `pier stage` subcommand, not a release's name (`v3`, which also names a
//! canary's router pool, `web@v3`), and not one the main environment's hosts already use (a
//! service's `<service>.<app>.localhost`).

use pier_api::ApiError;

/// Names `pier stage` takes as subcommands.
const RESERVED: &[&str] = &["list", "destroy", "help"];

/// The longest DNS label.
const MAX_LEN: usize = 63;

/// Checks `name`; `services` are the main environment's service names, which name hosts too.
pub fn check(name: &str, services: &[String]) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
            "invalid stage name {name:?}: {why}; use a DNS label such as `review-42` (nothing was changed)"
        ))
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_LEN {
        return Err(invalid("it is longer than 63 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid("only lowercase letters, digits and - are allowed"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid("it cannot start or end with -"));
    }
    if RESERVED.contains(&name) {
        return Err(ApiError::bad_request(format!(
            "invalid stage name {name:?}: `pier stage {name}` is a subcommand; choose another \
             name (nothing was changed)"
        )));
    }
    if name
        .strip_prefix('v')
        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(ApiError::bad_request(format!(
            "invalid stage name {name:?}: v followed by digits names a release (and a canary's \
             router pool, `web@v3`); choose another name (nothing was changed)"
        )));
    }
    if services.iter().any(|s| s == name) {
        return Err(ApiError::bad_request(format!(
            "invalid stage name {name:?}: the service {name} already answers at \
             {name}.<app>.localhost; choose another name (nothing was changed)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn dns_labels_only() {
        let services = vec!["web".to_string()];
        for good in ["review", "pr-42", "a", "x1", "v3a", "vx"] {
            assert!(check(good, &services).is_ok(), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "list",
            "Review",
            "-x",
            "x-",
            "a_b",
            "a.b",
            "web",
            long.as_str(),
        ] {
            assert!(check(bad, &services).is_err(), "{bad}");
        }
    }
}
