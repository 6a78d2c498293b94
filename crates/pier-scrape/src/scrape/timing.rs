//! Owns scrape timing arithmetic: where in the interval a target's scrapes fall (its slot, from
//! the stable target hash, pinned to wall-clock time as in Prometheus's `Target.offset`), and
//! the alignment of scrape timestamps to the expected slot when the timer fired within
//! Prometheus's tolerance (`ScrapeTimestampTolerance` = 2 ms, at most 1 % of the interval), which
//! keeps timestamp deltas constant so chunks compress to one bit per sample. Pure functions of
//! their inputs; the loop supplies the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prometheus's `ScrapeTimestampTolerance`.
pub(crate) const TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

/// Nanoseconds since the Unix epoch (0 before it).
pub(crate) fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    unix_nanos(t) / 1_000_000
}

/// How long from `now_ns` until the target's next slot, in `(0, interval]`: the slot is the
/// moment where `unix time % interval == hash % interval` (Prometheus's `Target.offset`).
pub(crate) fn delay_to_slot(interval: Duration, hash: u64, now_ns: i64) -> Duration {
    let interval_ns = i64::try_from(interval.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1);
    let base = interval_ns - now_ns.rem_euclid(interval_ns);
    let offset = i64::try_from(hash % interval_ns as u64).unwrap_or(0);
    let mut next = base + offset;
    if next > interval_ns {
        next -= interval_ns;
    }
    Duration::from_nanos(next as u64)
}

/// The delay from the (immediate) first scrape to the second: the target's slot, pushed one
/// interval further when it is less than half an interval away, so the first two scrapes are
/// between half and one and a half intervals apart.
pub(crate) fn delay_to_second_scrape(interval: Duration, hash: u64, now_ns: i64) -> Duration {
    let d = delay_to_slot(interval, hash, now_ns);
    if d < interval / 2 { d + interval } else { d }
}

/// Snaps scrape times to the slot grid started by the first aligned scrape
/// (Prometheus's `alignedScrapeTime` logic).
#[derive(Debug)]
pub(crate) struct Aligner {
    interval_ns: i64,
    tolerance_ns: i64,
    aligned_ns: Option<i64>,
}

impl Aligner {
    pub fn new(interval: Duration) -> Aligner {
        let interval_ns = i64::try_from(interval.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        let tolerance = (interval / 100).min(TIMESTAMP_TOLERANCE);
        Aligner {
            interval_ns,
            tolerance_ns: tolerance.as_nanos() as i64,
            aligned_ns: None,
        }
    }

    /// The timestamp (ns) to use for a scrape that started at `now_ns`: the expected slot time
    /// when `now_ns` is within the tolerance after it, `now_ns` otherwise.
    pub fn align(&mut self, now_ns: i64) -> i64 {
        let Some(mut aligned) = self.aligned_ns else {
            self.aligned_ns = Some(now_ns);
            return now_ns;
        };
        // Ticks may have been skipped: move the grid up to the latest slot before now.
        if now_ns - aligned >= self.interval_ns {
            let steps = (now_ns - aligned) / self.interval_ns;
            aligned += steps * self.interval_ns;
        }
        self.aligned_ns = Some(aligned);
        if now_ns - aligned <= self.tolerance_ns {
            aligned
        } else {
            now_ns
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn the_slot_is_pinned_to_wall_clock_time() {
        let interval = Duration::from_millis(1000);
        // hash % interval = 300 ms: slots at …,300 ms past every second.
        let hash = 300 * MS as u64;
        assert_eq!(
            delay_to_slot(interval, hash, 10_000 * MS),
            Duration::from_millis(300)
        );
        assert_eq!(
            delay_to_slot(interval, hash, 10_200 * MS),
            Duration::from_millis(100)
        );
        assert_eq!(
            delay_to_slot(interval, hash, 10_400 * MS),
            Duration::from_millis(900)
        );
        // Exactly on the slot: the next one is a whole interval away, never zero.
        assert_eq!(
            delay_to_slot(interval, hash, 10_300 * MS),
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn the_second_scrape_is_at_least_half_an_interval_after_the_first() {
        let interval = Duration::from_millis(1000);
        let hash = 300 * MS as u64;
        assert_eq!(
            delay_to_second_scrape(interval, hash, 10_200 * MS),
            Duration::from_millis(1100)
        );
        assert_eq!(
            delay_to_second_scrape(interval, hash, 10_400 * MS),
            Duration::from_millis(900)
        );
    }

    #[test]
    fn timestamps_within_tolerance_snap_to_the_slot() {
        let mut a = Aligner::new(Duration::from_secs(15));
        let start = 1_000_000 * MS;
        assert_eq!(a.align(start), start);
        let slot = start + 15_000 * MS;
        assert_eq!(a.align(slot + MS), slot);
        assert_eq!(a.align(slot + 15_000 * MS + 2 * MS), slot + 15_000 * MS);
        // Outside the tolerance: the real time.
        let late = slot + 30_000 * MS + 3 * MS;
        assert_eq!(a.align(late), late);
        // After skipped ticks the grid catches up.
        let much_later = slot + 120_000 * MS + MS / 2;
        assert_eq!(a.align(much_later), slot + 120_000 * MS);
    }

    #[test]
    fn tolerance_is_at_most_one_percent_of_the_interval() {
        let mut a = Aligner::new(Duration::from_millis(100));
        a.align(0);
        assert_eq!(a.align(100 * MS + MS), 100 * MS);
        assert_eq!(a.align(200 * MS + 2 * MS), 200 * MS + 2 * MS);
    }
}
