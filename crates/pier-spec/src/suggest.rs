//! "Did you mean" suggestions by edit distance, and the formatting of candidate lists in
//! hints. Pure string functions; knows nothing of the manifest.

/// The candidate closest to `input`, when it is close enough to be a likely typo.
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input = input.to_lowercase();
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&input, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint naming the closest candidate, or listing them all when none is close.
pub(crate) fn did_you_mean(input: &str, candidates: &[&str], what: &str) -> Option<String> {
    if let Some(best) = closest(input, candidates) {
        return Some(format!("did you mean `{best}`?"));
    }
    if candidates.is_empty() {
        return None;
    }
    Some(format!("{what}: {}", quoted_list(candidates)))
}

/// `` `a`, `b`, `c` `` for hints.
pub(crate) fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    quoted.join(", ")
}

/// Edit distance over characters where swapping two neighbours counts as one edit
/// (optimal string alignment), since `wbe` for `web` is one slip of the fingers.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("replcas", "replicas"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("wbe", "web"), 1);
    }

    #[test]
    fn suggestions() {
        let keys = ["command", "replicas", "port"];
        assert_eq!(closest("replcas", &keys), Some("replicas"));
        assert_eq!(closest("Port", &keys), Some("port"));
        assert_eq!(closest("zzz", &keys), None);
        assert_eq!(
            did_you_mean("zzz", &keys, "valid keys"),
            Some("valid keys: `command`, `replicas`, `port`".to_string())
        );
    }
}
