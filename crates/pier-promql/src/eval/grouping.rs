//! [`Grouping`]: which output group of an aggregation (`by`/`without`) an input label set
//! belongs to, and the group's labels, remembered across steps. Each group gets a stable id
//! and its label set is built once, so every step's output reuses the same label sets. An
//! input vector usually lists the same series in the same order at every step, so the
//! group of the sample at each position is remembered too, and recognised by label-set
//! equality (a pointer comparison when the labels are shared, as a selector's are).

use std::collections::HashMap;

use pier_tsdb::Labels;

use crate::value::{drop_labels, keep_labels};

/// Group ids and labels of one aggregation.
pub(super) struct Grouping {
    without: bool,
    /// Grouping labels, sorted.
    names: Vec<String>,
    /// The group of each input position at the last step it was looked up.
    by_position: Vec<(Labels, usize)>,
    ids: HashMap<Vec<u8>, usize>,
    labels: Vec<Labels>,
}

impl Grouping {
    /// `by (names)`, or `without (names)` when `without`; `names` sorted, no duplicates.
    pub fn new(without: bool, names: Vec<String>) -> Self {
        Self {
            without,
            names,
            by_position: Vec::new(),
            ids: HashMap::new(),
            labels: Vec::new(),
        }
    }

    /// The number of groups seen so far (ids are `0..count`).
    pub fn count(&self) -> usize {
        self.labels.len()
    }

    /// The labels of group `id`.
    pub fn labels(&self, id: usize) -> &Labels {
        &self.labels[id]
    }

    /// The group of `labels`, the input sample at position `pos` of this step.
    pub fn group(&mut self, pos: usize, labels: &Labels) -> usize {
        if let Some((seen, id)) = self.by_position.get(pos)
            && seen == labels
        {
            return *id;
        }
        let id = self.group_of(labels);
        let entry = (labels.clone(), id);
        let known = self.by_position.len();
        match self.by_position.get_mut(pos) {
            Some(slot) => *slot = entry,
            None if pos == known => self.by_position.push(entry),
            None => {}
        }
        id
    }

    /// The group of `labels`, by its key.
    fn group_of(&mut self, labels: &Labels) -> usize {
        let key = self.key(labels);
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.labels.len();
        self.ids.insert(key, id);
        let group_labels = if self.without {
            let mut names = self.names.clone();
            names.push("__name__".into());
            drop_labels(labels, &names)
        } else {
            keep_labels(labels, &self.names)
        };
        self.labels.push(group_labels);
        id
    }

    /// The grouping key of a label set.
    fn key(&self, labels: &Labels) -> Vec<u8> {
        let mut key = Vec::new();
        for l in labels.iter() {
            let listed = self.names.iter().any(|n| n == l.name);
            let part = if self.without {
                !listed && l.name != "__name__"
            } else {
                listed
            };
            if part {
                key.extend_from_slice(l.name.as_bytes());
                key.push(0xff);
                key.extend_from_slice(l.value.as_bytes());
                key.push(0xff);
            }
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn groups_are_stable_across_steps_and_positions() {
        let a = l(&[("__name__", "x"), ("job", "a"), ("mode", "m1")]);
        let b = l(&[("__name__", "x"), ("job", "b"), ("mode", "m1")]);
        let c = l(&[("__name__", "x"), ("job", "b"), ("mode", "m2")]);
        let mut by = Grouping::new(false, vec!["mode".into()]);
        assert_eq!(by.group(0, &a), 0);
        assert_eq!(by.group(1, &b), 0);
        assert_eq!(by.group(2, &c), 1);
        // Another order at the next step.
        assert_eq!(by.group(0, &c), 1);
        assert_eq!(by.group(1, &a), 0);
        assert_eq!(by.count(), 2);
        assert_eq!(by.labels(1).to_string(), r#"{mode="m2"}"#);
        let mut without = Grouping::new(true, vec!["mode".into()]);
        assert_eq!(without.group(0, &a), 0);
        assert_eq!(without.group(1, &b), 1);
        assert_eq!(without.group(2, &c), 1);
        assert_eq!(without.labels(1).to_string(), r#"{job="b"}"#);
    }
}
