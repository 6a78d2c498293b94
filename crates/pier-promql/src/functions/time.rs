//! `timestamp(v)` and the calendar functions (`year`, `month`, `day_of_month`,
//! `day_of_week`, `day_of_year`, `days_in_month`, `hour`, `minute`), all in UTC. The
//! calendar functions read each sample's value as Unix seconds; without an argument they
//! read the evaluation time.

use pier_tsdb::Labels;

use super::args::sample;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// `timestamp(v)`: each sample's timestamp in seconds.
pub(super) fn timestamp(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    Ok(call
        .vector(0)?
        .iter()
        .map(|s| sample(s.labels.clone(), call.ts, s.t as f64 / 1000.0, true))
        .collect())
}

/// The calendar function `call.name`.
pub(super) fn date(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let part: fn(&Civil) -> f64 = match call.name {
        "year" => |c| c.year as f64,
        "month" => |c| c.month as f64,
        "day_of_month" => |c| c.day as f64,
        "day_of_week" => |c| c.weekday as f64,
        "day_of_year" => |c| c.yday as f64,
        "days_in_month" => |c| days_in_month(c.year, c.month) as f64,
        "hour" => |c| c.hour as f64,
        "minute" => |c| c.minute as f64,
        other => {
            return Err(QueryError::Execution(format!(
                "internal error: {other}() is not a calendar function"
            )));
        }
    };
    if call.args.is_empty() {
        // `time.Unix(ts/1000, 0)`: integer division truncates towards zero.
        let civil = Civil::from_unix(call.ts / 1000);
        return Ok(vec![sample(Labels::empty(), call.ts, part(&civil), false)]);
    }
    Ok(call
        .vector(0)?
        .iter()
        .map(|s| {
            // Go's `int64(f)` truncates; out-of-range values saturate here.
            let civil = Civil::from_unix(s.v as i64);
            sample(s.labels.clone(), call.ts, part(&civil), true)
        })
        .collect())
}

/// A UTC calendar breakdown of a Unix time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    /// Day of the week, 0 = Sunday.
    weekday: u32,
    /// Day of the year, 1-based.
    yday: u32,
    hour: u32,
    minute: u32,
}

impl Civil {
    fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let yday = (days - days_from_civil(year, 1, 1) + 1) as u32;
        Self {
            year,
            month,
            day,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
            yday,
            hour: (sod / 3600) as u32,
            minute: (sod % 3600 / 60) as u32,
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::Sample;

    fn at(name: &str, unix: Option<f64>) -> f64 {
        let v;
        let args_storage;
        let args: &[Arg<'_>] = match unix {
            Some(u) => {
                v = [Sample {
                    labels: Labels::empty(),
                    t: 0,
                    v: u,
                    drop_name: false,
                }];
                args_storage = [Arg::Vector(&v)];
                &args_storage
            }
            None => &[],
        };
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name,
            args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .unwrap();
        out[0].v
    }

    #[test]
    fn calendar_matches_functions_test() {
        assert_eq!(at("year", None), 1970.0);
        assert_eq!(at("day_of_week", None), 4.0);
        let t = Some(1136239445.0); // 2006-01-02T22:04:05Z, a Monday
        assert_eq!(at("year", t), 2006.0);
        assert_eq!(at("month", t), 1.0);
        assert_eq!(at("day_of_month", t), 2.0);
        assert_eq!(at("day_of_year", t), 2.0);
        assert_eq!(at("day_of_week", t), 1.0);
        assert_eq!(at("hour", t), 22.0);
        assert_eq!(at("minute", t), 4.0);
        assert_eq!(at("year", Some(1230767999.0)), 2008.0);
        assert_eq!(at("year", Some(1230768000.0)), 2009.0);
        assert_eq!(at("month", Some(1456790399.0)), 2.0);
        assert_eq!(at("day_of_month", Some(1456790399.0)), 29.0);
        assert_eq!(at("month", Some(1456790400.0)), 3.0);
        assert_eq!(at("day_of_year", Some(1483191420.0)), 366.0);
        assert_eq!(at("day_of_year", Some(1672493820.0)), 365.0);
        assert_eq!(at("days_in_month", Some(1454284800.0)), 29.0);
        assert_eq!(at("days_in_month", Some(1485907200.0)), 28.0);
        assert_eq!(at("year", Some(-1.0)), 1969.0);
        assert_eq!(at("day_of_week", Some(-86400.0)), 3.0);
    }

    #[test]
    fn timestamp_reads_sample_times() {
        let v = [Sample {
            labels: Labels::from_pairs([("__name__", "m")]).unwrap(),
            t: 10_000,
            v: 1.0,
            drop_name: false,
        }];
        let args = [Arg::Vector(&v)];
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name: "timestamp",
            args: &args,
            arg_exprs: &[],
            ts: 15_000,
            window: None,
            annotations: &mut ann,
        })
        .unwrap();
        assert_eq!((out[0].v, out[0].t, out[0].drop_name), (10.0, 15_000, true));
    }
}
