//! [`Window`]: one series' sliding range window, as a range vector selector keeps it between
//! steps. Points before the new window start are dropped and newer ones appended (as
//! Prometheus reuses the previous step's buffer), the live points stay contiguous so that
//! functions read them as a slice without a copy, and the window counts its counter resets
//! (a point lower than the one before it) as points come and go, so that `rate` and
//! `increase` skip their reset scan when there is none.

use pier_tsdb::{SeriesCursor, is_stale};

use super::select::cursor_error;
use crate::error::QueryError;

/// One series' points in the current window, with the cursor that feeds it.
pub(super) struct Window {
    pub cursor: SeriesCursor,
    /// `points[start..]` are the window's points, oldest first.
    points: Vec<(i64, f64)>,
    start: usize,
    /// Adjacent pairs of `points[start..]` whose second value is lower than the first.
    resets: usize,
    /// A sample read past the window's end, not consumed yet.
    pending: Option<(i64, f64)>,
}

impl Window {
    pub fn new(cursor: SeriesCursor) -> Self {
        Self {
            cursor,
            points: Vec::new(),
            start: 0,
            resets: 0,
            pending: None,
        }
    }

    /// The window's points, oldest first.
    pub fn points(&self) -> &[(i64, f64)] {
        &self.points[self.start..]
    }

    /// How many adjacent pairs of [`Window::points`] go down (NaN never does).
    pub fn resets(&self) -> usize {
        self.resets
    }

    fn pop_front(&mut self) {
        if let [a, b, ..] = self.points()
            && b.1 < a.1
        {
            self.resets -= 1;
        }
        self.start += 1;
    }

    fn push(&mut self, p: (i64, f64)) {
        if self.points().last().is_some_and(|last| p.1 < last.1) {
            self.resets += 1;
        }
        self.points.push(p);
    }

    /// Moves the window to `[from, r]`; returns (points added, points dropped).
    pub fn slide(&mut self, from: i64, r: i64) -> Result<(usize, usize), QueryError> {
        let mut dropped = 0;
        while self.points().first().is_some_and(|p| p.0 < from) {
            self.pop_front();
            dropped += 1;
        }
        if self.start == self.points.len() {
            self.points.clear();
            self.start = 0;
        } else if self.start > self.points.len() - self.start {
            // More dead points than live ones: move the live ones to the front (amortised
            // constant time per point).
            self.points.drain(..self.start);
            self.start = 0;
        }
        if self.start == self.points.len() && self.pending.is_none_or(|p| p.0 < from) {
            // Nothing to keep: jump, skipping whole chunks.
            self.pending = self.cursor.seek(from);
        }
        let mut added = 0;
        loop {
            let head = match self.pending {
                Some(h) => h,
                None => match self.cursor.next() {
                    Some(s) => {
                        self.pending = Some(s);
                        s
                    }
                    None => break,
                },
            };
            if head.0 > r {
                break;
            }
            self.pending = None;
            if head.0 >= from && !is_stale(head.1) {
                self.push(head);
                added += 1;
            }
        }
        cursor_error(&self.cursor)?;
        Ok((added, dropped))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pier_tsdb::{Labels, XorChunk};

    use super::*;

    fn window(values: &[f64]) -> Window {
        let mut c = XorChunk::new();
        for (i, v) in values.iter().enumerate() {
            c.append(i as i64 * 10, *v).unwrap();
        }
        Window::new(SeriesCursor::new(
            Labels::empty(),
            vec![Arc::new(c)],
            0,
            i64::MAX,
        ))
    }

    fn scan(points: &[(i64, f64)]) -> usize {
        points.windows(2).filter(|w| w[1].1 < w[0].1).count()
    }

    #[test]
    fn slides_and_counts_resets() {
        let values = [
            1.0,
            3.0,
            2.0,
            f64::NAN,
            1.0,
            5.0,
            4.0,
            0.0,
            9.0,
            9.0,
            8.0,
            1.0,
        ];
        for width in [15, 25, 45] {
            let mut w2 = window(&values);
            for r in (0..130).step_by(5) {
                w2.slide(r - width, r).unwrap();
                let want: Vec<_> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i as i64 * 10, *v))
                    .filter(|p| p.0 >= r - width && p.0 <= r)
                    .collect();
                assert_eq!(
                    format!("{:?}", w2.points()),
                    format!("{want:?}"),
                    "{width} {r}"
                );
                assert_eq!(w2.resets(), scan(w2.points()), "{width} {r}");
            }
        }
        let mut w = window(&values);
        w.slide(0, 1000).unwrap();
        assert_eq!(w.points().len(), values.len());
        assert_eq!(w.resets(), scan(w.points()));
    }
}
