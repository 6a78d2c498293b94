//! The value heaps behind `topk`/`bottomk`, reproducing Go's `container/heap` and the final
//! sort Prometheus applies, so that which samples win ties (and their order) match.

use crate::value::Sample;

/// Orders samples: `less(a, b)` is Prometheus's `Less` for the heap's direction. NaN counts
/// as the smallest value for `topk` and the largest for `bottomk`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Direction {
    /// Min-heap on value (topk keeps the k largest; the smallest is on top).
    Top,
    /// Max-heap on value (bottomk keeps the k smallest).
    Bottom,
}

impl Direction {
    fn less(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return true;
        }
        match self {
            Self::Top => a < b,
            Self::Bottom => a > b,
        }
    }
}

/// A bounded heap of samples.
pub(super) struct KHeap {
    dir: Direction,
    k: usize,
    items: Vec<Sample>,
}

impl KHeap {
    pub fn new(dir: Direction, k: usize) -> Self {
        Self {
            dir,
            k,
            items: Vec::new(),
        }
    }

    fn less(&self, i: usize, j: usize) -> bool {
        self.dir.less(self.items[i].v, self.items[j].v)
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize) -> bool {
        let n = self.items.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && self.less(j2, j1) {
                j = j2;
            }
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
        i > i0
    }

    /// Offers a sample: kept while fewer than k are held, or if it beats the top.
    pub fn offer(&mut self, s: Sample) {
        if self.items.len() < self.k {
            self.items.push(s);
            let last = self.items.len() - 1;
            self.up(last);
            return;
        }
        let top = self.items[0].v;
        let beats = match self.dir {
            Direction::Top => top < s.v,
            Direction::Bottom => top > s.v,
        } || (top.is_nan() && !s.v.is_nan());
        if beats {
            self.items[0] = s;
            if self.k > 1 && !self.down(0) {
                self.up(0);
            }
        }
    }

    /// The kept samples, best first (Go sorts the heap in reverse; for small heaps its sort
    /// is an insertion sort, reproduced here).
    pub fn into_sorted(self) -> Vec<Sample> {
        let dir = self.dir;
        let mut items = self.items;
        // Reverse order: element j goes before j-1 when less(items[j-1], items[j]).
        if items.len() <= 12 {
            for i in 1..items.len() {
                let mut j = i;
                while j > 0 && dir.less(items[j - 1].v, items[j].v) {
                    items.swap(j, j - 1);
                    j -= 1;
                }
            }
        } else {
            // A total order with the same outcome: best first, NaN last.
            items.sort_by(|a, b| {
                a.v.is_nan().cmp(&b.v.is_nan()).then_with(|| match dir {
                    Direction::Top => b.v.total_cmp(&a.v),
                    Direction::Bottom => a.v.total_cmp(&b.v),
                })
            });
        }
        items
    }
}
