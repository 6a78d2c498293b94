//! Owns what is derived from a [`Target`] alone: its identity key (for diffing target sets),
//! its `instance` label, its full target label set, and the stable hash that spreads loops over
//! the interval. Knows nothing of HTTP or of the loop.

use super::Target;

/// The identity of a target: `(job, url, labels)` with the labels sorted and empty values
/// dropped, so that label order never makes two targets differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TargetKey {
    pub job: String,
    pub url: String,
    pub labels: Vec<(String, String)>,
}

impl TargetKey {
    pub fn of(target: &Target) -> TargetKey {
        TargetKey {
            job: target.job.clone(),
            url: target.url.clone(),
            labels: normalized_labels(&target.labels),
        }
    }

    /// A hash that is the same in every run and every build (FNV-1a 64 over the identity), used
    /// to place the target's scrapes within the interval as Prometheus does with its target hash.
    pub fn stable_hash(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(self.job.as_bytes());
        h.write(&[0xff]);
        h.write(self.url.as_bytes());
        for (name, value) in &self.labels {
            h.write(&[0xff]);
            h.write(name.as_bytes());
            h.write(&[0xfe]);
            h.write(value.as_bytes());
        }
        h.0
    }
}

/// Labels sorted by name (stable for repeated names), empty values dropped.
pub(crate) fn normalized_labels(labels: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = labels
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .cloned()
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The `instance` label: `host:port` of the URL, the port defaulted from the scheme. An URL
/// that does not parse gives the URL itself (its scrapes fail and say why).
pub(crate) fn instance_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            _ => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// The labels every series of the target carries: `job`, `instance`, then the extra labels
/// (which override those two), without names starting with `__` and without empty values.
pub(crate) fn target_labels(target: &Target) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("instance".to_string(), instance_of(&target.url)),
        ("job".to_string(), target.job.clone()),
    ];
    for (name, value) in normalized_labels(&target.labels) {
        if name.starts_with("__") {
            continue;
        }
        out.retain(|(n, _)| *n != name);
        out.push((name, value));
    }
    out.retain(|(_, v)| !v.is_empty());
    out.sort();
    out
}

/// FNV-1a, 64 bit.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn target(labels: &[(&str, &str)]) -> Target {
        Target {
            job: "web".into(),
            url: "http://127.0.0.1:9100/metrics".into(),
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn identity_ignores_label_order_and_empty_values() {
        let a = TargetKey::of(&target(&[("app", "x"), ("replica", "1")]));
        let b = TargetKey::of(&target(&[("replica", "1"), ("app", "x"), ("release", "")]));
        assert_eq!(a, b);
        assert_eq!(a.stable_hash(), b.stable_hash());
        let c = TargetKey::of(&target(&[("app", "y"), ("replica", "1")]));
        assert_ne!(a.stable_hash(), c.stable_hash());
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // FNV-1a of the empty input is the offset basis; pinning a value guards against a change
        // of hash function moving every target's scrape slot.
        assert_eq!(Fnv::new().0, 0xcbf2_9ce4_8422_2325);
        let mut h = Fnv::new();
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn instance_is_host_and_port() {
        assert_eq!(
            instance_of("http://127.0.0.1:9100/metrics"),
            "127.0.0.1:9100"
        );
        assert_eq!(instance_of("http://example.com/metrics"), "example.com:80");
        assert_eq!(
            instance_of("https://example.com/metrics"),
            "example.com:443"
        );
        assert_eq!(instance_of("http://[::1]:8080/m"), "[::1]:8080");
        assert_eq!(instance_of("not a url"), "not a url");
    }

    #[test]
    fn target_labels_merge_job_instance_and_extras() {
        let t = target(&[("app", "shop"), ("release", ""), ("__meta_x", "y")]);
        assert_eq!(
            target_labels(&t),
            vec![
                ("app".to_string(), "shop".to_string()),
                ("instance".to_string(), "127.0.0.1:9100".to_string()),
                ("job".to_string(), "web".to_string()),
            ]
        );
        let t = target(&[("instance", "shop-1")]);
        assert_eq!(target_labels(&t)[0].1, "shop-1");
    }
}
