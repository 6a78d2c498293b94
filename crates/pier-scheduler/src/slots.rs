//! Where a job's slots fall on the time line: a [`pier_spec::Schedule`] bound to the job's IANA
//! time zone. Pure: no clock, no I/O; every answer is a function of the schedule, the zone and the
//! instants passed in, so two daemons (or a daemon before and after a restart) always agree.
//!
//! A *slot* is an instant at which the job is due. Slot instants have whole-millisecond precision
//! (cron slots are whole seconds).
//!
//! # `@every D`
//!
//! The slots are the multiples of `D` since the Unix epoch (1970-01-01T00:00:00Z): `k × D` for
//! every integer `k`. The time zone plays no part. `D` must be at least 1 s; a sub-millisecond
//! remainder of `D` is dropped.
//!
//! # Cron
//!
//! The expression (5 fields, or 6 with seconds first; no year field) is matched against *civil*
//! (wall-clock) time in the job's time zone, and each matching civil time is mapped to an instant:
//!
//! - a civil time that happens exactly once → that instant;
//! - a civil time in a **gap** (clocks spring forward, e.g. 02:30 on a day clocks go
//!   02:00 → 03:00) → the first instant after the gap, i.e. the transition instant (03:00 new
//!   time). Several matches inside one gap therefore collapse into one slot at the transition:
//!   an every-minute job fires once at 03:00, not 60 times;
//! - a civil time in a **fold** (clocks fall back, 01:30 happens twice) → the *earlier* instant
//!   only: a slot in an overlap runs once. During the second pass through the repeated hour no
//!   slots fall.
//!
//! This mapping never decreases as civil time advances, so slots come out in order and no
//! instant is a slot twice.
//!
//! A cron expression that can never match (`0 0 30 2 *`, February 30) simply has no slots.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use pier_spec::Schedule;

/// Nanoseconds in one millisecond.
const NANOS_PER_MILLI: i128 = 1_000_000;

/// The shortest `@every` interval accepted.
const MIN_EVERY: Duration = Duration::from_secs(1);

/// Upper bound on civil matches examined by one search. The DST handling means the first match
/// examined is always the answer; the bound only makes an endless loop impossible.
const MAX_WALK: usize = 1_000;

/// How far back [`Slots::latest_at_or_before`] looks for a cron slot.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(366 * 24);

/// Why a schedule cannot be bound to a time zone.
#[derive(Debug, thiserror::Error)]
pub enum SlotsError {
    /// The cron expression does not parse (manifest validation normally rules this out).
    #[error("invalid cron expression `{expression}`: {message}")]
    InvalidCron {
        /// The expression as given.
        expression: String,
        /// croner's explanation.
        message: String,
    },
    /// The time zone is not in the time zone database.
    #[error("unknown time zone `{name}`: {message}")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
        /// jiff's explanation.
        message: String,
    },
    /// `@every` with an interval under one second.
    #[error("`@every {interval:?}` is shorter than the minimum interval of 1s")]
    EveryTooShort {
        /// The interval as given.
        interval: Duration,
    },
}

/// A job's schedule bound to its time zone: where its slots fall on the time line.
#[derive(Debug, Clone)]
pub struct Slots {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Multiples of this many nanoseconds (a whole, positive number of milliseconds) since the
    /// epoch.
    Every { nanos: i128 },
    /// A cron expression matched on civil time in `tz`.
    Cron { cron: Box<Cron>, tz: TimeZone },
}

/// The parser pier accepts (the same as pier-spec's): seconds optional, no year field.
fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

impl Slots {
    /// Binds `schedule` to the IANA time zone `timezone`.
    pub fn new(schedule: &Schedule, timezone: &str) -> Result<Slots, SlotsError> {
        let tz = TimeZone::get(timezone).map_err(|e| SlotsError::UnknownTimeZone {
            name: timezone.to_string(),
            message: e.to_string(),
        })?;
        let kind = match schedule {
            Schedule::Every(interval) => {
                if *interval < MIN_EVERY {
                    return Err(SlotsError::EveryTooShort {
                        interval: *interval,
                    });
                }
                // Whole milliseconds; at least 1000 of them, so never zero.
                let millis = i128::try_from(interval.as_millis()).unwrap_or(i128::MAX);
                let nanos = millis.saturating_mul(NANOS_PER_MILLI);
                Kind::Every { nanos }
            }
            Schedule::Cron(expression) => {
                let cron =
                    cron_parser()
                        .parse(expression)
                        .map_err(|e| SlotsError::InvalidCron {
                            expression: expression.clone(),
                            message: e.to_string(),
                        })?;
                Kind::Cron {
                    cron: Box::new(cron),
                    tz,
                }
            }
        };
        Ok(Slots { kind })
    }

    /// The first slot strictly after `t`, or `None` if the schedule never fires again.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every { nanos } => {
                let k = t.as_nanosecond().div_euclid(*nanos).checked_add(1)?;
                Timestamp::from_nanosecond(k.checked_mul(*nanos)?).ok()
            }
            Kind::Cron { cron, tz } => cron_next_after(cron, tz, t),
        }
    }

    /// The slots in `(after, until]`, oldest first, computed lazily.
    pub fn between(
        &self,
        after: Timestamp,
        until: Timestamp,
    ) -> impl Iterator<Item = Timestamp> + '_ {
        let mut cursor = Some(after);
        std::iter::from_fn(move || {
            let next = self
                .next_after(cursor?)
                .filter(|&next| next <= until && Some(next) > cursor);
            cursor = next;
            next
        })
    }

    /// How many slots fall in `(after, until]`, but at most `cap`.
    ///
    /// Constant time for `@every`; cron slots are counted one by one, stopping at `cap`.
    pub fn count_between(&self, after: Timestamp, until: Timestamp, cap: u64) -> u64 {
        if until <= after {
            return 0;
        }
        match &self.kind {
            Kind::Every { nanos } => {
                let count = until.as_nanosecond().div_euclid(*nanos)
                    - after.as_nanosecond().div_euclid(*nanos);
                u64::try_from(count).unwrap_or(u64::MAX).min(cap)
            }
            Kind::Cron { .. } => {
                let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
                self.between(after, until).take(cap_usize).count() as u64
            }
        }
    }

    /// The latest slot at or before `t`; for cron, `None` if there is none in the 366 days up
    /// to `t`.
    pub fn latest_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every { nanos } => {
                let k = t.as_nanosecond().div_euclid(*nanos);
                Timestamp::from_nanosecond(k.checked_mul(*nanos)?).ok()
            }
            Kind::Cron { cron, tz } => {
                let slot = cron_latest_at_or_before(cron, tz, t)?;
                let oldest = t.checked_sub(LOOKBACK).unwrap_or(Timestamp::MIN);
                (slot >= oldest).then_some(slot)
            }
        }
    }
}

/// Where a civil time falls when it does not name exactly one instant.
enum Civil {
    /// Exactly one instant.
    Single(Timestamp),
    /// In a gap: the transition instant that ends it.
    Gap(Timestamp),
    /// In a fold: the earlier and the later instant.
    Fold(Timestamp, Timestamp),
}

/// Resolves civil time `dt` in `tz`.
fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Civil> {
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok().map(Civil::Single),
        AmbiguousOffset::Gap { before, after } => {
            // Read with the offset after the gap, `dt` lies before the transition; read with the
            // offset before it, at or after. The transition is the first one past the former.
            let early = after.to_timestamp(dt).ok()?;
            let transition = tz.following(early).next().map(|tr| tr.timestamp());
            match transition {
                Some(transition) => Some(Civil::Gap(transition)),
                // No transition found (should not happen): read it with the offset before.
                None => before.to_timestamp(dt).ok().map(Civil::Gap),
            }
        }
        AmbiguousOffset::Fold { .. } => {
            let earlier = ambiguous.earlier().ok()?;
            let later = ambiguous.later().ok()?;
            Some(Civil::Fold(earlier, later))
        }
    }
}

/// The instant a matching civil time maps to (see the module docs).
fn slot_instant(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    Some(match resolve(tz, dt)? {
        Civil::Single(t) | Civil::Gap(t) => t,
        Civil::Fold(earlier, _) => earlier,
    })
}

/// If `t` is the later instant of a repeated civil time (the second pass through a fold), the
/// civil time at which the repetition ends: the transition read with the offset before it.
fn second_pass_end(tz: &TimeZone, t: Timestamp) -> Option<DateTime> {
    let Civil::Fold(earlier, later) = resolve(tz, tz.to_datetime(t))? else {
        return None;
    };
    if later != t || earlier == later {
        return None;
    }
    let transition = tz.following(earlier).next()?.timestamp();
    let before = tz.to_offset(transition.checked_sub(SignedDuration::from_nanos(1)).ok()?);
    Some(before.to_datetime(transition))
}

fn cron_next_after(cron: &Cron, tz: &TimeZone, t: Timestamp) -> Option<Timestamp> {
    // Start from t's civil time, exclusive; in the second pass through a fold every civil time
    // up to the end of the fold maps to an instant before t, so start at the fold's end instead
    // (inclusive).
    let (mut civil, mut inclusive) = match second_pass_end(tz, t) {
        Some(fold_end) => (fold_end, true),
        None => (tz.to_datetime(t), false),
    };
    for _ in 0..MAX_WALK {
        let matched = cron.find_next_occurrence(&civil, inclusive).ok()?;
        if matched < civil || (matched == civil && !inclusive) {
            return None; // civil time did not advance: give up rather than loop.
        }
        let slot = slot_instant(tz, matched)?;
        if slot > t {
            return Some(slot);
        }
        civil = matched;
        inclusive = false;
    }
    None
}

fn cron_latest_at_or_before(cron: &Cron, tz: &TimeZone, t: Timestamp) -> Option<Timestamp> {
    // Walk back from t's civil time, inclusive. In the second pass through a fold every civil
    // time before the end of the fold maps to an instant before t, so walk back from the fold's
    // end (exclusive) instead.
    let (mut civil, mut inclusive) = match second_pass_end(tz, t) {
        Some(fold_end) => (fold_end, false),
        None => (tz.to_datetime(t), true),
    };
    for _ in 0..MAX_WALK {
        let matched = cron.find_previous_occurrence(&civil, inclusive).ok()?;
        if matched > civil || (matched == civil && !inclusive) {
            return None;
        }
        let slot = slot_instant(tz, matched)?;
        if slot <= t {
            return Some(slot);
        }
        civil = matched;
        inclusive = false;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cron(expr: &str, tz: &str) -> Slots {
        Slots::new(&Schedule::Cron(expr.to_string()), tz).unwrap()
    }

    fn every(d: Duration) -> Slots {
        Slots::new(&Schedule::Every(d), "UTC").unwrap()
    }

    /// All slots in `(after, until]`, at most 10 000.
    fn list(s: &Slots, after: &str, until: &str) -> Vec<Timestamp> {
        s.between(ts(after), ts(until)).take(10_000).collect()
    }

    fn list_str(s: &Slots, after: &str, until: &str) -> Vec<String> {
        list(s, after, until)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    // ---- construction ----------------------------------------------------------------------

    #[test]
    fn new_rejects_unknown_zone_bad_cron_and_short_every() {
        let err = Slots::new(&Schedule::Cron("0 6 * * *".into()), "Mars/Olympus").unwrap_err();
        assert!(matches!(err, SlotsError::UnknownTimeZone { .. }), "{err}");
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");

        let err = Slots::new(&Schedule::Cron("61 * * * *".into()), "UTC").unwrap_err();
        assert!(matches!(err, SlotsError::InvalidCron { .. }), "{err}");
        let err = Slots::new(&Schedule::Cron("not cron".into()), "UTC").unwrap_err();
        assert!(matches!(err, SlotsError::InvalidCron { .. }), "{err}");
        let err = Slots::new(&Schedule::Cron("0 0 1 1 * 2030".into()), "UTC").unwrap_err();
        assert!(matches!(err, SlotsError::InvalidCron { .. }), "{err}");

        let err = Slots::new(&Schedule::Every(Duration::from_millis(500)), "UTC").unwrap_err();
        assert!(matches!(err, SlotsError::EveryTooShort { .. }), "{err}");
        assert!(err.to_string().contains("500ms"), "{err}");
        let err = Slots::new(&Schedule::Every(Duration::ZERO), "UTC").unwrap_err();
        assert!(matches!(err, SlotsError::EveryTooShort { .. }), "{err}");

        assert!(Slots::new(&Schedule::Every(Duration::from_secs(1)), "UTC").is_ok());
        assert!(Slots::new(&Schedule::Cron("*/10 * * * * *".into()), "Asia/Kolkata").is_ok());
    }

    // ---- @every ----------------------------------------------------------------------------

    #[test]
    fn every_90s_slots_are_epoch_multiples() {
        let s = every(Duration::from_secs(90));
        let t = ts("2026-05-01T12:00:00Z");
        let next = s.next_after(t).unwrap();
        assert!(next > t);
        assert_eq!(next.as_second() % 90, 0);
        assert!(next.as_second() - t.as_second() <= 90);
        assert_eq!(next.subsec_nanosecond(), 0);
        // 2026-05-01T12:00:00Z is 1777636800 s = 19751520 × 90: a slot itself.
        assert_eq!(t.as_second() % 90, 0);
        assert_eq!(next, t + SignedDuration::from_secs(90));
        // On a slot, the next one is one interval later; between slots, the next multiple.
        assert_eq!(
            s.next_after(next),
            Some(next + SignedDuration::from_secs(90))
        );
        assert_eq!(s.next_after(t + SignedDuration::from_millis(1)), Some(next));
        assert_eq!(
            s.next_after(next - SignedDuration::from_nanos(1)),
            Some(next)
        );
        // The epoch itself is a slot; negative instants work too.
        assert_eq!(
            s.next_after(ts("1969-12-31T23:59:00Z")),
            Some(Timestamp::UNIX_EPOCH)
        );
        assert_eq!(
            s.next_after(ts("1969-12-31T23:57:10Z")), // -170 s; next multiple of 90 is -90 s
            Some(ts("1969-12-31T23:58:30Z"))
        );
        // The zone does not matter.
        let berlin =
            Slots::new(&Schedule::Every(Duration::from_secs(90)), "Europe/Berlin").unwrap();
        assert_eq!(berlin.next_after(t), Some(next));
    }

    #[test]
    fn every_count_between_is_exact() {
        let s = every(Duration::from_secs(90));
        let a = ts("2026-05-01T12:00:00Z"); // a slot
        // (a, a + 1h]: 3600 / 90 = 40 slots, the last one exactly at a + 1h.
        let b = a + SignedDuration::from_hours(1);
        assert_eq!(s.count_between(a, b, u64::MAX), 40);
        assert_eq!(s.between(a, b).count(), 40);
        assert_eq!(s.between(a, b).last(), Some(b));
        assert_eq!(
            s.between(a, b).next(),
            Some(a + SignedDuration::from_secs(90))
        );
        // Shifting the bounds by less than one interval.
        let a1 = a - SignedDuration::from_millis(1); // now a is inside
        assert_eq!(s.count_between(a1, b, u64::MAX), 41);
        let b1 = b - SignedDuration::from_millis(1); // now b is outside
        assert_eq!(s.count_between(a, b1, u64::MAX), 39);
        assert_eq!(s.between(a, b1).count(), 39);
        // Cap, empty and reversed ranges.
        assert_eq!(s.count_between(a, b, 7), 7);
        assert_eq!(s.count_between(a, b, 0), 0);
        assert_eq!(s.count_between(a, a, 10), 0);
        assert_eq!(s.count_between(b, a, 10), 0);
        assert_eq!(s.between(b, a).count(), 0);
        // A year of a 1 s job counted in O(1).
        let one = every(Duration::from_secs(1));
        let year = SignedDuration::from_hours(24 * 365);
        assert_eq!(one.count_between(a, a + year, u64::MAX), 365 * 24 * 3600);
        // Across the epoch.
        assert_eq!(
            s.count_between(
                ts("1969-12-31T23:00:00Z"),
                ts("1970-01-01T01:00:00Z"),
                u64::MAX
            ),
            80
        );
    }

    #[test]
    fn every_with_milliseconds_keeps_millisecond_precision() {
        let s = every(Duration::from_millis(1_500));
        assert_eq!(
            s.next_after(ts("2026-01-01T00:00:00Z")),
            Some(ts("2026-01-01T00:00:01.5Z"))
        );
        // Sub-millisecond remainder of the interval is dropped.
        let s = every(Duration::from_nanos(1_500_000_999));
        assert_eq!(
            s.next_after(ts("2026-01-01T00:00:00Z")),
            Some(ts("2026-01-01T00:00:01.5Z"))
        );
    }

    #[test]
    fn every_latest_at_or_before() {
        let s = every(Duration::from_secs(90));
        let slot = ts("2026-05-01T12:00:00Z");
        assert_eq!(s.latest_at_or_before(slot), Some(slot));
        assert_eq!(
            s.latest_at_or_before(slot + SignedDuration::from_secs(89)),
            Some(slot)
        );
        assert_eq!(
            s.latest_at_or_before(slot - SignedDuration::from_nanos(1)),
            Some(slot - SignedDuration::from_secs(90))
        );
        assert_eq!(
            s.latest_at_or_before(ts("1969-12-31T23:59:59Z")),
            Some(ts("1969-12-31T23:58:30Z"))
        );
    }

    // ---- plain cron ------------------------------------------------------------------------

    #[test]
    fn daily_0600_chicago_in_cst_and_cdt() {
        let s = cron("0 6 * * *", "America/Chicago");
        // Winter, CST (UTC-6): 06:00 local = 12:00Z.
        assert_eq!(
            s.next_after(ts("2026-01-15T00:00:00Z")), // Jan 14, 18:00 CST
            Some(ts("2026-01-15T12:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-01-15T12:00:00Z")),
            Some(ts("2026-01-16T12:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-01-15T11:59:59.999Z")),
            Some(ts("2026-01-15T12:00:00Z"))
        );
        // Summer, CDT (UTC-5): 06:00 local = 11:00Z.
        assert_eq!(
            s.next_after(ts("2026-07-01T12:00:00Z")), // 07:00 CDT
            Some(ts("2026-07-02T11:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-07-01T10:00:00Z")), // 05:00 CDT
            Some(ts("2026-07-01T11:00:00Z"))
        );
        // Across the spring change (2026-03-08): 12:00Z the day before, 11:00Z that day.
        assert_eq!(
            list_str(&s, "2026-03-06T12:00:00Z", "2026-03-09T12:00:00Z"),
            [
                "2026-03-07T12:00:00Z",
                "2026-03-08T11:00:00Z",
                "2026-03-09T11:00:00Z"
            ]
        );
    }

    #[test]
    fn daily_0600_chicago_latest_at_or_before() {
        let s = cron("0 6 * * *", "America/Chicago");
        let slot = ts("2026-01-15T12:00:00Z");
        assert_eq!(s.latest_at_or_before(slot), Some(slot));
        assert_eq!(
            s.latest_at_or_before(slot + SignedDuration::from_hours(5)),
            Some(slot)
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-01-15T11:59:59Z")),
            Some(ts("2026-01-14T12:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-07-01T10:59:59.5Z")),
            Some(ts("2026-06-30T11:00:00Z"))
        );
    }

    #[test]
    fn cron_latest_at_or_before_looks_back_366_days() {
        // Yearly: always within the window.
        let yearly = cron("0 0 1 1 *", "UTC");
        assert_eq!(
            yearly.latest_at_or_before(ts("2026-12-31T23:59:59Z")),
            Some(ts("2026-01-01T00:00:00Z"))
        );
        // Feb 29: found within a year of it, not otherwise.
        let leap = cron("0 0 29 2 *", "UTC");
        assert_eq!(
            leap.latest_at_or_before(ts("2028-03-01T00:00:00Z")),
            Some(ts("2028-02-29T00:00:00Z"))
        );
        assert_eq!(leap.latest_at_or_before(ts("2027-06-01T00:00:00Z")), None);
        assert_eq!(
            leap.next_after(ts("2026-06-01T00:00:00Z")),
            Some(ts("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn six_field_every_10_seconds() {
        let s = cron("*/10 * * * * *", "Europe/Berlin");
        let a = ts("2026-06-01T10:00:00Z");
        let b = a + SignedDuration::from_hours(1);
        let slots: Vec<_> = s.between(a, b).collect();
        assert_eq!(slots.len(), 360);
        assert_eq!(slots[0], a + SignedDuration::from_secs(10));
        assert_eq!(slots[359], b);
        assert!(
            slots
                .windows(2)
                .all(|w| w[1].duration_since(w[0]) == SignedDuration::from_secs(10))
        );
        assert_eq!(s.count_between(a, b, u64::MAX), 360);
        assert_eq!(s.count_between(a, b, 100), 100);
        assert_eq!(s.count_between(a, b, 0), 0);
        assert_eq!(s.count_between(b, a, 100), 0);
        assert_eq!(
            s.next_after(ts("2026-06-01T10:00:05.5Z")),
            Some(ts("2026-06-01T10:00:10Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-06-01T10:00:09.999Z")),
            Some(ts("2026-06-01T10:00:00Z"))
        );
        // Lazy: taking a few from a huge range is cheap.
        let far = a + SignedDuration::from_hours(24 * 365 * 50);
        assert_eq!(s.between(a, far).take(3).count(), 3);
        assert_eq!(s.count_between(a, far, 5), 5);
    }

    #[test]
    fn impossible_cron_has_no_slots() {
        let s = cron("0 0 30 2 *", "Europe/Berlin");
        let t = ts("2026-01-01T00:00:00Z");
        assert_eq!(s.next_after(t), None);
        assert_eq!(s.latest_at_or_before(t), None);
        assert_eq!(
            s.between(t, t + SignedDuration::from_hours(24 * 3650))
                .count(),
            0
        );
        assert_eq!(
            s.count_between(t, t + SignedDuration::from_hours(24), 10),
            0
        );
        let s = cron("0 0 31 4 *", "UTC"); // April 31
        assert_eq!(s.next_after(t), None);
    }

    #[test]
    fn no_zone_offset_cron_in_kolkata() {
        // UTC+05:30 all year: 09:00 IST = 03:30Z.
        let s = cron("0 9 * * *", "Asia/Kolkata");
        assert_eq!(
            s.next_after(ts("2026-03-29T03:30:00Z")),
            Some(ts("2026-03-30T03:30:00Z"))
        );
    }

    // ---- Europe/Berlin: spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z) ----------

    #[test]
    fn berlin_spring_forward_daily_0230_fires_at_the_transition() {
        let s = cron("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            list_str(&s, "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z"),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 02:30 does not exist: 03:00 CEST, the transition
                "2026-03-30T00:30:00Z", // 02:30 CEST
            ]
        );
        assert_eq!(
            s.next_after(ts("2026-03-28T01:30:00Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-03-29T01:00:00Z")),
            Some(ts("2026-03-30T00:30:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-03-29T00:59:59Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-03-29T01:00:00Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-03-29T00:59:59Z")),
            Some(ts("2026-03-28T01:30:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-03-30T00:29:59Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn berlin_spring_forward_every_minute_collapses_the_gap_once() {
        let s = cron("* * * * *", "Europe/Berlin");
        assert_eq!(
            list_str(&s, "2026-03-29T00:58:00Z", "2026-03-29T01:03:00Z"),
            [
                "2026-03-29T00:59:00Z", // 01:59 CET
                "2026-03-29T01:00:00Z", // 02:00-02:59 (gap) and 03:00 CEST, once
                "2026-03-29T01:01:00Z",
                "2026-03-29T01:02:00Z",
                "2026-03-29T01:03:00Z",
            ]
        );
        assert_eq!(
            s.count_between(ts("2026-03-29T00:58:00Z"), ts("2026-03-29T01:03:00Z"), 100),
            5
        );
        // A whole day has 23 hours of minutes.
        assert_eq!(
            s.count_between(
                ts("2026-03-28T23:00:00Z"),
                ts("2026-03-29T22:00:00Z"),
                10_000
            ),
            23 * 60
        );
        assert_eq!(
            s.next_after(ts("2026-03-29T00:59:00Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-03-29T01:00:00Z")),
            Some(ts("2026-03-29T01:01:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-03-29T01:00:30Z")),
            Some(ts("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn berlin_spring_forward_hourly_job_in_gap() {
        // `0 2 * * *` at the gap start also lands on the transition; `0 3 * * *` too (03:00
        // CEST is the transition instant), and they are the same slot.
        let two = cron("0 2 * * *", "Europe/Berlin");
        let three = cron("0 3 * * *", "Europe/Berlin");
        let t = ts("2026-03-28T12:00:00Z");
        assert_eq!(two.next_after(t), Some(ts("2026-03-29T01:00:00Z")));
        assert_eq!(three.next_after(t), Some(ts("2026-03-29T01:00:00Z")));
    }

    // ---- Europe/Berlin: fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z) ---------------

    #[test]
    fn berlin_fall_back_daily_0230_fires_once_at_the_earlier_instant() {
        let s = cron("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            list_str(&s, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
            [
                "2026-10-25T00:30:00Z", // 02:30 CEST; 02:30 CET (01:30Z) is not a slot
                "2026-10-26T01:30:00Z", // 02:30 CET
            ]
        );
        assert_eq!(
            s.next_after(ts("2026-10-25T00:30:00Z")),
            Some(ts("2026-10-26T01:30:00Z"))
        );
        // From inside the second pass (02:15 CET), the slot today is behind us.
        assert_eq!(
            s.next_after(ts("2026-10-25T01:15:00Z")),
            Some(ts("2026-10-26T01:30:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-10-25T00:15:00Z")), // first pass, 02:15 CEST
            Some(ts("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-10-25T01:45:00Z")),
            Some(ts("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-10-25T01:30:00Z")),
            Some(ts("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-10-25T00:29:59Z")),
            Some(ts("2026-10-24T00:30:00Z"))
        );
        assert_eq!(
            s.count_between(ts("2026-10-24T22:00:00Z"), ts("2026-10-25T22:00:00Z"), 10),
            1
        );
    }

    #[test]
    fn berlin_fall_back_every_minute_runs_the_repeated_hour_once() {
        let s = cron("* * * * *", "Europe/Berlin");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let slots = list(&s, "2026-10-24T23:59:00Z", "2026-10-25T02:00:00Z");
        assert!(slots.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        // 02:00..02:59 CEST (00:00Z..00:59Z), then nothing until 03:00 CET (02:00Z).
        assert_eq!(slots.len(), 61);
        assert_eq!(slots[0], ts("2026-10-25T00:00:00Z"));
        assert_eq!(slots[59], ts("2026-10-25T00:59:00Z"));
        assert_eq!(slots[60], ts("2026-10-25T02:00:00Z"));
        let civil: Vec<String> = slots[..60]
            .iter()
            .map(|t| berlin.to_datetime(*t).strftime("%H:%M").to_string())
            .collect();
        let expected: Vec<String> = (0..60).map(|m| format!("02:{m:02}")).collect();
        assert_eq!(civil, expected, "02:00-02:59 civil each exactly once");
        assert_eq!(
            berlin.to_datetime(slots[60]).strftime("%H:%M").to_string(),
            "03:00"
        );
        // The second pass through 02:xx (01:00Z..01:59Z) has no slots: a 60-minute stretch.
        assert!(
            slots
                .iter()
                .all(|t| !(ts("2026-10-25T01:00:00Z")..ts("2026-10-25T02:00:00Z")).contains(t))
        );
        assert_eq!(
            s.count_between(ts("2026-10-25T00:59:00Z"), ts("2026-10-25T01:59:59Z"), 100),
            0
        );
        assert_eq!(
            slots[60].duration_since(slots[59]),
            SignedDuration::from_mins(61)
        );
        // Second pass through 02:15 civil: the next slot is 03:00 CET.
        assert_eq!(
            s.next_after(ts("2026-10-25T01:15:00Z")),
            Some(ts("2026-10-25T02:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-10-25T01:00:00Z")),
            Some(ts("2026-10-25T02:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-10-25T00:59:00Z")),
            Some(ts("2026-10-25T02:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-10-25T01:15:00Z")),
            Some(ts("2026-10-25T00:59:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-10-25T01:59:59.999Z")),
            Some(ts("2026-10-25T00:59:00Z"))
        );
        // A whole day has 24 hours of minutes: the repeated hour counts once.
        assert_eq!(
            s.count_between(
                ts("2026-10-24T22:00:00Z"),
                ts("2026-10-25T23:00:00Z"),
                10_000
            ),
            24 * 60
        );
    }

    // ---- America/New_York --------------------------------------------------------------------

    #[test]
    fn new_york_spring_forward_daily_0230() {
        // 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
        let s = cron("30 2 * * *", "America/New_York");
        assert_eq!(
            list_str(&s, "2026-03-07T00:00:00Z", "2026-03-09T12:00:00Z"),
            [
                "2026-03-07T07:30:00Z", // 02:30 EST
                "2026-03-08T07:00:00Z", // 03:00 EDT, the transition
                "2026-03-09T06:30:00Z", // 02:30 EDT
            ]
        );
    }

    #[test]
    fn new_york_fall_back_daily_0130() {
        // 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
        let s = cron("30 1 * * *", "America/New_York");
        assert_eq!(
            list_str(&s, "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
            [
                "2026-11-01T05:30:00Z", // 01:30 EDT; 01:30 EST (06:30Z) is not a slot
                "2026-11-02T06:30:00Z", // 01:30 EST
            ]
        );
        assert_eq!(
            s.next_after(ts("2026-11-01T06:00:00Z")),
            Some(ts("2026-11-02T06:30:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ts("2026-11-01T06:45:00Z")),
            Some(ts("2026-11-01T05:30:00Z"))
        );
    }

    #[test]
    fn lord_howe_half_hour_shifts() {
        // Australia/Lord_Howe: +10:30 standard, +11 summer. 2026-04-05 02:00 +11 -> 01:30 +10:30
        // (15:00Z on 04-04); 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z on 10-03).
        let s = cron("*/15 * * * *", "Australia/Lord_Howe");
        // Fall back: 01:30..01:59 repeats; 01:30 and 01:45 run once, in the first pass.
        assert_eq!(
            list_str(&s, "2026-04-04T14:15:00Z", "2026-04-04T15:45:00Z"),
            [
                "2026-04-04T14:30:00Z", // 01:30 +11
                "2026-04-04T14:45:00Z", // 01:45 +11
                "2026-04-04T15:30:00Z", // 02:00 +10:30
                "2026-04-04T15:45:00Z",
            ]
        );
        // Spring forward: 02:00 and 02:15 fall in the gap and collapse onto 02:30 +11.
        assert_eq!(
            list_str(&s, "2026-10-03T15:00:00Z", "2026-10-03T16:00:00Z"),
            [
                "2026-10-03T15:15:00Z", // 01:45 +10:30
                "2026-10-03T15:30:00Z", // 02:00, 02:15 (gap) and 02:30 +11
                "2026-10-03T15:45:00Z",
                "2026-10-03T16:00:00Z",
            ]
        );
    }

    // ---- properties ------------------------------------------------------------------------

    const ZONES: [&str; 5] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ];

    fn schedules() -> Vec<Schedule> {
        vec![
            Schedule::Cron("* * * * *".into()),
            Schedule::Cron("*/7 * * * * *".into()),
            Schedule::Cron("*/15 * * * *".into()),
            Schedule::Cron("0 * * * *".into()),
            Schedule::Cron("30 2 * * *".into()),
            Schedule::Cron("30 1 * * *".into()),
            Schedule::Cron("15 1-3 * * *".into()),
            Schedule::Cron("0 0 * * 0".into()),
            Schedule::Cron("0 9 1 * *".into()),
            Schedule::Every(Duration::from_secs(90)),
            Schedule::Every(Duration::from_millis(2_500)),
            Schedule::Every(Duration::from_secs(3600)),
        ]
    }

    /// The invariants the proptest checks, walked densely across every 2026 transition of the
    /// test zones (random instants rarely land near one).
    #[test]
    fn invariants_hold_around_every_2026_transition() {
        let crons = [
            "* * * * *",
            "*/7 * * * * *",
            "*/15 * * * *",
            "30 2 * * *",
            "30 1 * * *",
        ];
        for zone in ZONES {
            let tz = TimeZone::get(zone).unwrap();
            let transitions: Vec<Timestamp> = tz
                .following(ts("2026-01-01T00:00:00Z"))
                .map(|tr| tr.timestamp())
                .take_while(|t| *t < ts("2027-01-01T00:00:00Z"))
                .collect();
            for expr in crons {
                let s = cron(expr, zone);
                for transition in &transitions {
                    let start = *transition - SignedDuration::from_hours(2);
                    let end = *transition + SignedDuration::from_hours(2);
                    let slots: Vec<_> = s.between(start, end).collect();
                    assert!(slots.windows(2).all(|w| w[0] < w[1]), "{expr} {zone}");
                    let mut t = start;
                    while t < end {
                        let next = s.next_after(t).unwrap();
                        let latest = s.latest_at_or_before(t).unwrap();
                        assert!(latest <= t && t < next, "{expr} {zone} {t}");
                        assert_eq!(s.next_after(latest), Some(next), "{expr} {zone} {t}");
                        if next <= end {
                            assert!(slots.contains(&next), "{expr} {zone} {t}");
                        }
                        t += SignedDuration::from_secs(37);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn slots_are_ordered_and_consistent(
            t_secs in 1_577_836_800i64..1_893_456_000i64, // 2020-01-01 .. 2030-01-01
            t_nanos in 0i32..1_000_000_000,
            schedule_index in 0usize..12,
            zone_index in 0usize..5,
            span_mins in 1i64..(3 * 24 * 60),
        ) {
            let schedule = &schedules()[schedule_index];
            let zone = ZONES[zone_index];
            let s = Slots::new(schedule, zone).unwrap();
            let t = Timestamp::new(t_secs, t_nanos).unwrap();

            let next = s.next_after(t).unwrap();
            proptest::prop_assert!(next > t, "{schedule:?} {zone}: next_after({t}) = {next}");
            proptest::prop_assert_eq!(next.subsec_nanosecond() % 1_000_000, 0);

            let latest = s.latest_at_or_before(t).unwrap();
            proptest::prop_assert!(latest <= t);
            proptest::prop_assert_eq!(s.next_after(latest), Some(next), "nothing between latest and next");
            proptest::prop_assert_eq!(s.latest_at_or_before(next), Some(next));
            proptest::prop_assert_eq!(
                s.latest_at_or_before(next - SignedDuration::from_nanos(1)),
                Some(latest)
            );

            let a = t;
            let b = t + SignedDuration::from_mins(span_mins);
            let slots: Vec<Timestamp> = s.between(a, b).take(500).collect();
            for (i, slot) in slots.iter().enumerate() {
                proptest::prop_assert!(*slot > a && *slot <= b);
                if let Some(following) = slots.get(i + 1) {
                    proptest::prop_assert!(slot < following, "{schedule:?} {zone}: {slot} !< {following}");
                    proptest::prop_assert_eq!(s.next_after(*slot), Some(*following));
                }
            }
            if slots.len() < 500 {
                proptest::prop_assert_eq!(s.count_between(a, b, u64::MAX), slots.len() as u64);
                if let Some(last) = slots.last() {
                    proptest::prop_assert!(s.next_after(*last).unwrap() > b);
                } else {
                    proptest::prop_assert!(next > b);
                }
            } else {
                proptest::prop_assert_eq!(s.count_between(a, b, 500), 500);
            }
        }
    }
}
