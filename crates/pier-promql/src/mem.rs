//! [`MemStorage`]: an in-memory [`pier_tsdb::Storage`] for tests, the conformance runner and
//! the differential checks. Samples of a series are kept sorted; appending a timestamp that
//! exists replaces its value.

use std::collections::BTreeMap;
use std::sync::Arc;

use pier_tsdb::{Labels, Matcher, SeriesCursor, Storage, TsdbError, XorChunk};

/// Samples per chunk, as the head cuts them.
const CHUNK_SAMPLES: usize = 120;

/// An in-memory store. See the module docs.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    series: BTreeMap<Labels, BTreeMap<i64, f64>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample (a stale marker is [`pier_tsdb::STALE_NAN`]); replaces the value if
    /// the series already has one at `t`.
    pub fn add(&mut self, labels: &Labels, t: i64, v: f64) {
        self.series.entry(labels.clone()).or_default().insert(t, v);
    }

    /// Drops everything (promqltest's `clear`).
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = (&'a Labels, &'a BTreeMap<i64, f64>)> + 'a {
        self.series
            .iter()
            .filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels)))
    }
}

impl Storage for MemStorage {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesCursor>, TsdbError> {
        let mut out = Vec::new();
        if mint > maxt {
            return Ok(out);
        }
        for (labels, samples) in self.matching(matchers) {
            let window: Vec<(i64, f64)> =
                samples.range(mint..=maxt).map(|(&t, &v)| (t, v)).collect();
            if window.is_empty() {
                continue;
            }
            let mut chunks = Vec::new();
            for part in window.chunks(CHUNK_SAMPLES) {
                let mut chunk = XorChunk::new();
                for &(t, v) in part {
                    chunk
                        .append(t, v)
                        .expect("timestamps from a sorted map increase");
                }
                chunks.push(Arc::new(chunk));
            }
            out.push(SeriesCursor::new(labels.clone(), chunks, mint, maxt));
        }
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        let mut names: Vec<String> = self
            .matching(matchers)
            .flat_map(|(labels, _)| labels.iter().map(|l| l.name.to_string()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        let mut values: Vec<String> = self
            .matching(matchers)
            .filter_map(|(labels, _)| labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_by_matchers_and_window() {
        let mut s = MemStorage::new();
        let a = Labels::series([("__name__", "x"), ("job", "a")]).unwrap();
        let b = Labels::series([("__name__", "x"), ("job", "b")]).unwrap();
        for t in 0..300 {
            s.add(&a, t * 1000, t as f64);
        }
        s.add(&b, 500_000, 1.0);
        let got = s
            .select(&[Matcher::equal("__name__", "x")], 10_000, 20_000)
            .unwrap();
        assert_eq!(got.len(), 1);
        let samples: Vec<_> = got.into_iter().next().unwrap().collect();
        assert_eq!(samples.len(), 11);
        assert_eq!(samples[0], (10_000, 10.0));
        assert_eq!(s.label_values("job", &[]).unwrap(), vec!["a", "b"]);
    }
}
