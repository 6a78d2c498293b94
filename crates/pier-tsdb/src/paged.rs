//! [`PagedVec`]: a vector kept in fixed-size pages, for per-series data that grows one series
//! at a time (the head's series and their WAL refs, an index's label sets). Growing never
//! moves the elements and leaves at most one page partly unused, where a `Vec` doubles and
//! can leave almost half of its capacity unused — 112 bytes per head series, for example,
//! with 10,005 series in room for 16,384. The first page grows like a `Vec`, so a small store
//! stays small.

use std::ops::{Index, IndexMut};

/// Elements per page (a power of two, so the first page's doublings end on it exactly).
const PAGE: usize = 1024;

/// A vector in pages of [`PAGE`] elements. See the module docs.
#[derive(Debug, Clone)]
pub struct PagedVec<T> {
    pages: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for PagedVec<T> {
    fn default() -> Self {
        Self {
            pages: Vec::new(),
            len: 0,
        }
    }
}

impl<T> PagedVec<T> {
    /// An empty vector (nothing allocated).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends an element.
    pub fn push(&mut self, value: T) {
        if self.pages.last().is_none_or(|p| p.len() == PAGE) {
            let capacity = if self.pages.is_empty() { 0 } else { PAGE };
            self.pages.push(Vec::with_capacity(capacity));
        }
        if let Some(page) = self.pages.last_mut() {
            page.push(value);
            self.len += 1;
        }
    }

    /// The element at `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.pages.get(i / PAGE)?.get(i % PAGE)
    }

    /// The element at `i`, mutably.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.pages.get_mut(i / PAGE)?.get_mut(i % PAGE)
    }

    /// The last element.
    pub fn last(&self) -> Option<&T> {
        self.pages.last()?.last()
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flatten()
    }

    /// The elements in order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.pages.iter_mut().flatten()
    }

    /// The first index whose element fails `pred`, for elements partitioned by it (all
    /// elements satisfying it first), as [`slice::partition_point`].
    pub fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(&mut pred) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes allocated for the elements (the pages' capacity).
    pub fn allocated_bytes(&self) -> usize {
        self.pages
            .iter()
            .map(|p| p.capacity() * std::mem::size_of::<T>())
            .sum()
    }
}

impl<T> Index<usize> for PagedVec<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.pages[i / PAGE][i % PAGE]
    }
}

impl<T> IndexMut<usize> for PagedVec<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.pages[i / PAGE][i % PAGE]
    }
}

impl<T> FromIterator<T> for PagedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = PagedVec::new();
        for x in iter {
            v.push(x);
        }
        v
    }
}

impl<T> IntoIterator for PagedVec<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.pages.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_fill_in_order_without_slack_beyond_one_page() {
        let mut v = PagedVec::new();
        assert!(v.is_empty() && v.last().is_none() && v.get(0).is_none());
        for i in 0..(3 * PAGE + 5) {
            v.push(i as u32);
            assert_eq!(v.len(), i + 1);
            assert_eq!(v.last(), Some(&(i as u32)));
        }
        assert_eq!(v[PAGE], PAGE as u32);
        assert_eq!(v.get(3 * PAGE + 4), Some(&(3 * PAGE as u32 + 4)));
        assert_eq!(v.get(3 * PAGE + 5), None);
        assert!(v.iter().copied().eq(0..(3 * PAGE as u32 + 5)));
        assert_eq!(v.allocated_bytes(), 4 * PAGE * 4);
        v[7] = 70;
        *v.get_mut(8).unwrap() += 1;
        assert_eq!((v[7], v[8]), (70, 9));
        assert_eq!(v.partition_point(|&x| x < 2000), 2000);
        let back: Vec<u32> = v.into_iter().collect();
        assert_eq!(back.len(), 3 * PAGE + 5);
    }

    #[test]
    fn a_small_vector_allocates_little() {
        let v: PagedVec<u64> = (0..10).collect();
        assert!(v.allocated_bytes() <= 16 * 8);
    }
}
