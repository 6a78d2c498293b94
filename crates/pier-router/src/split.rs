//! The traffic split decision, a pure function of the request's split key: the same key lands
//! on the same backend across restarts and across pier instances (a fixed hash, no state), a
//! deny-listed key always goes to the primary backend, an allow-listed key always to the
//! rollout backend, and every other key by its hash bucket.
//!
//! Buckets are `fnv1a64(key) mod 10 000`. The first target (the primary) takes the bottom of
//! the range and every other target a slice at the top, the second target topmost, so raising
//! the second target's percentage only adds keys to it: no key ever moves back.

/// Number of hash buckets (a percentage with two decimals).
pub const BUCKETS: u64 = 10_000;

/// The cookie pier sets (and reads) when the request carries no split key of its own.
pub const STICKY_COOKIE: &str = "pier_split";

/// 64-bit FNV-1a: simple, fast, stable across versions and machines.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The bucket of a key.
pub fn bucket(key: &str) -> u64 {
    fnv1a64(key.as_bytes()) % BUCKETS
}

/// Allow and deny lists of split keys (tenants).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLists {
    /// Always to the rollout target (the second one).
    pub allow: Vec<String>,
    /// Always to the primary target (the first one).
    pub deny: Vec<String>,
}

/// Chooses the index of the target for `key`, given the targets' percentages (first is the
/// primary). Deny beats allow beats percentage.
pub fn choose(percentages: &[u32], key: &str, lists: &KeyLists) -> usize {
    if percentages.len() < 2 || lists.deny.iter().any(|k| k == key) {
        return 0;
    }
    if lists.allow.iter().any(|k| k == key) {
        return 1;
    }
    let bucket = bucket(key);
    let mut upper = BUCKETS;
    for (index, percent) in percentages.iter().enumerate().skip(1) {
        let lower = upper.saturating_sub(u64::from(*percent) * (BUCKETS / 100));
        if bucket >= lower {
            return index;
        }
        upper = lower;
    }
    0
}

/// Whether `key` is among the `basis_points` (hundredths of a percent, 0–10 000) of keys a
/// canary takes. The key is hashed with `salt`, so that two canaries (different salts) pick
/// different clients, and a canary's choice does not follow a route's split of the same key.
pub fn in_canary(key: &str, salt: &str, basis_points: u32) -> bool {
    let mut salted = String::with_capacity(salt.len() + 1 + key.len());
    salted.push_str(salt);
    salted.push(':');
    salted.push_str(key);
    bucket(&salted) < u64::from(basis_points.min(BUCKETS as u32))
}

/// The value of cookie `name` in a `Cookie` header, if present and not empty.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name)
            .then(|| v.trim().trim_matches('"'))
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> impl Iterator<Item = String> {
        (0..n).map(|i| format!("tenant-{i}"))
    }

    #[test]
    fn ten_percent_of_100_000_keys_within_half_a_percent() {
        let lists = KeyLists::default();
        let to_b = keys(100_000)
            .filter(|k| choose(&[90, 10], k, &lists) == 1)
            .count();
        let share = to_b as f64 / 100_000.0;
        assert!((0.095..=0.105).contains(&share), "share {share}");
    }

    #[test]
    fn raising_the_percentage_never_moves_a_key_back() {
        let lists = KeyLists::default();
        for (low, high) in [(10, 20), (1, 50), (50, 99), (0, 100)] {
            for key in keys(20_000) {
                if choose(&[100 - low, low], &key, &lists) == 1 {
                    assert_eq!(
                        choose(&[100 - high, high], &key, &lists),
                        1,
                        "{key} {low}->{high}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_same_key_always_lands_on_the_same_target() {
        // A fixed hash: these buckets are part of the contract (two pier instances, or one
        // before and after an upgrade, must agree).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(bucket("tenant-42"), bucket("tenant-42"));
    }

    #[test]
    fn deny_beats_allow_beats_percentage() {
        let lists = KeyLists {
            allow: vec!["a".into(), "both".into()],
            deny: vec!["d".into(), "both".into()],
        };
        assert_eq!(choose(&[0, 100], "d", &lists), 0);
        assert_eq!(choose(&[100, 0], "a", &lists), 1);
        assert_eq!(choose(&[0, 100], "both", &lists), 0);
        assert_eq!(choose(&[100, 0], "other", &lists), 0);
        assert_eq!(choose(&[0, 100], "other", &lists), 1);
    }

    #[test]
    fn a_canary_takes_its_share_and_salts_differ() {
        let share = |salt: &str, bp| keys(100_000).filter(|k| in_canary(k, salt, bp)).count();
        let ten = share("v3", 1_000) as f64 / 100_000.0;
        assert!((0.095..=0.105).contains(&ten), "share {ten}");
        assert_eq!(share("v3", 0), 0);
        assert_eq!(share("v3", 10_000), 100_000);
        let a: Vec<String> = keys(10_000).filter(|k| in_canary(k, "a", 1_000)).collect();
        let b: Vec<String> = keys(10_000).filter(|k| in_canary(k, "b", 1_000)).collect();
        assert_ne!(a, b);
        assert!(in_canary("tenant-7", "a", 2_550) == in_canary("tenant-7", "a", 2_550));
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie("a=1; tenant=acme; b=2", "tenant"), Some("acme"));
        assert_eq!(cookie("tenant=\"acme\"", "tenant"), Some("acme"));
        assert_eq!(cookie("tenantx=1", "tenant"), None);
        assert_eq!(cookie("tenant=", "tenant"), None);
    }
}
