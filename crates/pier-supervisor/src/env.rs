//! The environment a replica runs with: a clean base (only what a program needs to find its
//! tools, never the whole environment of the shell that started pier, so behaviour does not
//! depend on who typed `pier up`), then the release's env, the service's env, and pier's own
//! variables (`PORT`, `<NAME>_URL`, `DYNO`, `PIER_*`).

use std::collections::BTreeMap;

/// Variables passed through from pier's own environment.
pub const PASSTHROUGH: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
];

/// Everything that identifies one replica to its environment.
pub struct ReplicaIdentity<'a> {
    pub app: &'a str,
    pub service: &'a str,
    /// `web.1`.
    pub replica: &'a str,
    pub release: u32,
    pub port: Option<u16>,
}

/// Builds the full environment of a replica.
pub fn replica_env(
    id: &ReplicaIdentity<'_>,
    release_env: &BTreeMap<String, String>,
    service_env: &BTreeMap<String, String>,
    internal_urls: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = PASSTHROUGH
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    env.extend(internal_urls.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(release_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(service_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.insert("PIER_APP".into(), id.app.into());
    env.insert("PIER_SERVICE".into(), id.service.into());
    env.insert("PIER_REPLICA".into(), id.replica.into());
    env.insert("PIER_RELEASE".into(), format!("v{}", id.release));
    env.insert("DYNO".into(), id.replica.into());
    if let Some(port) = id.port {
        env.insert("PORT".into(), port.to_string());
    }
    env
}

/// The variable name under which a service's address is injected: `answers` → `ANSWERS_URL`.
pub fn url_var(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pier_variables_win_and_urls_are_named() {
        let id = ReplicaIdentity {
            app: "a",
            service: "web",
            replica: "web.2",
            release: 3,
            port: Some(5005),
        };
        let release = BTreeMap::from([("PORT".to_string(), "1".to_string())]);
        let urls = BTreeMap::from([(url_var("user-api"), "http://127.0.0.1:5001".to_string())]);
        let env = replica_env(&id, &release, &BTreeMap::new(), &urls);
        assert_eq!(env["PORT"], "5005");
        assert_eq!(env["DYNO"], "web.2");
        assert_eq!(env["PIER_RELEASE"], "v3");
        assert_eq!(env["USER_API_URL"], "http://127.0.0.1:5001");
    }
}
