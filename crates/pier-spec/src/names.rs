//! Checks on names and addresses that appear in manifests: DNS labels (app, service and job
//! names), environment variable names, host names and http(s) URLs; plus turning arbitrary
//! text into a DNS label for imports. Pure functions.

use crate::diagnostics::Problem;

/// Longest DNS label (RFC 1035).
const MAX_LABEL: usize = 63;

/// Checks a DNS label: lowercase letters, digits and `-`, starting with a letter, not ending
/// with `-`, at most 63 characters.
pub(crate) fn dns_label(s: &str) -> Result<(), Problem> {
    let fix = || sanitize_label(s).map(|fixed| format!("write `{fixed}`"));
    if s.is_empty() {
        return Err(Problem::new("a name must not be empty"));
    }
    if s.len() > MAX_LABEL {
        return Err(
            Problem::new(format!("`{s}` is longer than {MAX_LABEL} characters")).maybe_hint(fix()),
        );
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !s.chars().all(allowed) {
        return Err(Problem::new(format!(
            "`{s}` may contain only lowercase letters, digits and `-`"
        ))
        .maybe_hint(fix()));
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(Problem::new(format!("`{s}` must start with a letter")).maybe_hint(fix()));
    }
    if s.ends_with('-') {
        return Err(Problem::new(format!("`{s}` must not end with `-`")).maybe_hint(fix()));
    }
    Ok(())
}

/// Turns text such as a folder name or `My_App` into a DNS label (`my-app`), if anything is
/// left of it.
pub(crate) fn sanitize_label(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let start = out.find(|c: char| c.is_ascii_lowercase())?;
    let mut label: String = out[start..].chars().take(MAX_LABEL).collect();
    while label.ends_with('-') {
        label.pop();
    }
    Some(label)
}

/// Checks an environment variable name: letters, digits and `_`, not starting with a digit.
pub(crate) fn env_name(s: &str) -> Result<(), Problem> {
    let valid = !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(
            Problem::new(format!("`{s}` is not a valid environment variable name"))
                .hint("use letters, digits and `_`, not starting with a digit"),
        );
    }
    if s == "PORT" {
        return Err(Problem::new("`PORT` is assigned by pier to each replica")
            .hint("remove it; services with `port = true` get their own `$PORT`"));
    }
    Ok(())
}

/// Checks an `http://` or `https://` URL with a host.
pub(crate) fn http_url(s: &str) -> Result<(), Problem> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| {
            Problem::new(format!("`{s}` is not an http(s) URL"))
                .hint("write a URL starting with `https://` or `http://`")
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(Problem::new(format!("URL `{s}` has no host")));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(Problem::new(format!("URL `{s}` contains whitespace"))
            .hint("percent-encode spaces as `%20`"));
    }
    Ok(())
}

/// Checks a host to match: `example.com` or `*.example.com`, lowercase, without a port.
pub(crate) fn host(s: &str) -> Result<(), Problem> {
    if s.contains("://") || s.contains('/') {
        let bare = s
            .split("://")
            .last()
            .unwrap_or(s)
            .split('/')
            .next()
            .unwrap_or(s);
        return Err(Problem::new(format!("`{s}` is not a host name"))
            .hint(format!("write only the host, such as `{bare}`")));
    }
    if s.contains(':') {
        return Err(Problem::new(format!("host `{s}` must not include a port"))
            .hint("the public listener's port is set with `pier up --listen`"));
    }
    let name = s.strip_prefix("*.").unwrap_or(s);
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || !name.split('.').all(valid_label) {
        let lower = s.to_ascii_lowercase();
        let hint = (lower != s).then(|| format!("write `{lower}`"));
        return Err(Problem::new(format!(
            "`{s}` is not a host name (lowercase labels separated by dots, optionally starting with `*.`)"
        ))
        .maybe_hint(hint));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(dns_label("web").is_ok());
        assert!(dns_label("daily-report2").is_ok());
        assert_eq!(
            dns_label("Web_API").unwrap_err().hint.as_deref(),
            Some("write `web-api`")
        );
        assert!(dns_label("2web").is_err());
        assert!(dns_label("web-").is_err());
        assert!(dns_label("").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn sanitizing() {
        assert_eq!(
            sanitize_label("My_Cool App!").as_deref(),
            Some("my-cool-app")
        );
        assert_eq!(sanitize_label("2048-game").as_deref(), Some("game"));
        assert_eq!(sanitize_label("___"), None);
        assert_eq!(sanitize_label(&"x".repeat(80)).map(|l| l.len()), Some(63));
    }

    #[test]
    fn env_names() {
        assert!(env_name("RUST_LOG").is_ok());
        assert!(env_name("_X1").is_ok());
        assert!(env_name("1X").is_err());
        assert!(env_name("A-B").is_err());
        assert!(env_name("PORT").is_err());
    }

    #[test]
    fn urls_and_hosts() {
        assert!(http_url("https://hooks.slack.com/services/x").is_ok());
        assert!(http_url("http://localhost:9000").is_ok());
        assert!(http_url("ftp://x").is_err());
        assert!(http_url("https://").is_err());
        assert!(host("classroom.localhost").is_ok());
        assert!(host("*.example.com").is_ok());
        assert!(host("example.com:8080").is_err());
        assert_eq!(
            host("https://example.com/").unwrap_err().hint.as_deref(),
            Some("write only the host, such as `example.com`")
        );
        assert!(host("Example.com").is_err());
    }
}
