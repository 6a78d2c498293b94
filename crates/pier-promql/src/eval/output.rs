//! The end of evaluation: assembling a range query's steps into series, and Prometheus 3's
//! delayed name removal (strip `__name__` where `drop_name` is set, then reject duplicate
//! label sets in a vector, or merge same-label series of a matrix unless they overlap).

use std::collections::HashMap;

use pier_tsdb::Labels;

use crate::error::QueryError;
use crate::value::{Sample, Series, without_metric_name};

fn duplicate() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Collects the steps of a range query into series keyed by label set. Steps usually list
/// the same series in the same order, so the series of each position at the last step is
/// tried first (a pointer comparison when the label sets are shared) before the index.
#[derive(Default)]
pub(super) struct RangeResult {
    series: Vec<Series>,
    index: HashMap<Labels, usize>,
    by_position: Vec<usize>,
}

impl RangeResult {
    /// Adds the samples of the step at `ts`; returns how many points were added.
    pub fn add(&mut self, ts: i64, samples: Vec<Sample>) -> Result<usize, QueryError> {
        let n = samples.len();
        for (pos, s) in samples.into_iter().enumerate() {
            let known = self
                .by_position
                .get(pos)
                .copied()
                .filter(|&i| self.series[i].labels == s.labels)
                .or_else(|| self.index.get(&s.labels).copied());
            let i = match known {
                Some(i) => {
                    let series = &mut self.series[i];
                    if series.points.last().is_some_and(|p| p.0 == ts) {
                        return Err(duplicate());
                    }
                    series.points.push((ts, s.v));
                    i
                }
                None => {
                    let i = self.series.len();
                    self.index.insert(s.labels.clone(), i);
                    self.series.push(Series {
                        labels: s.labels,
                        points: vec![(ts, s.v)],
                        drop_name: s.drop_name,
                    });
                    i
                }
            };
            match self.by_position.get_mut(pos) {
                Some(slot) => *slot = i,
                None => self.by_position.push(i),
            }
        }
        Ok(n)
    }

    /// The series, not yet cleaned up.
    pub fn into_series(self) -> Vec<Series> {
        self.series
    }
}

/// Strips `__name__` from samples marked `drop_name`; fails on duplicate label sets.
pub(super) fn cleanup_vector(mut samples: Vec<Sample>) -> Result<Vec<Sample>, QueryError> {
    for s in &mut samples {
        if s.drop_name {
            s.labels = without_metric_name(&s.labels);
            s.drop_name = false;
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    if !samples.iter().all(|s| seen.insert(s.labels.clone())) {
        return Err(duplicate());
    }
    Ok(samples)
}

/// Strips `__name__` from series marked `drop_name`, merges series that end up with the same
/// labels (failing if they share a timestamp), and sorts by labels.
pub(super) fn cleanup_matrix(series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut merged: Vec<Series> = Vec::with_capacity(series.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut needs_sort = Vec::new();
    for mut s in series {
        if s.drop_name {
            s.labels = without_metric_name(&s.labels);
            s.drop_name = false;
        }
        match index.get(&s.labels) {
            Some(&i) => {
                merged[i].points.extend(s.points);
                needs_sort.push(i);
            }
            None => {
                index.insert(s.labels.clone(), merged.len());
                merged.push(s);
            }
        }
    }
    for i in needs_sort {
        let points = &mut merged[i].points;
        points.sort_by_key(|p| p.0);
        if points.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(duplicate());
        }
    }
    merged.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(merged)
}
