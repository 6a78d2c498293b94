//! Job schedules: 5- and 6-field cron expressions (validated with `croner`), `@hourly`-style
//! macros and `@every <duration>`, plus IANA time zone names (validated with `jiff`). Owns only
//! the syntax; computing fire times belongs to the scheduler.

use std::str::FromStr;
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};

use crate::diagnostics::Problem;
use crate::duration;
use crate::explain::tidy;
use crate::model::Job;
use crate::suggest;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A cron expression with macros expanded (`@daily` → `0 0 * * *`); 5 fields, or 6 with
    /// seconds first. Parse it with `croner` (seconds optional, no year field).
    Cron(String),
    /// `@every 90s`: a fixed interval.
    Every(Duration),
}

/// Macros and the expressions they stand for.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Parses and checks a schedule as written in `[jobs.NAME] schedule`.
pub fn parse_schedule(s: &str) -> Result<Schedule, String> {
    schedule(s).map_err(|p| match p.hint {
        Some(hint) => format!("{} ({hint})", p.message),
        None => p.message,
    })
}

impl Job {
    /// This job's schedule, parsed (always `Ok` for a job produced by validation).
    pub fn parsed_schedule(&self) -> Result<Schedule, String> {
        parse_schedule(&self.schedule)
    }
}

/// [`parse_schedule`] with the message and hint kept apart.
pub(crate) fn schedule(s: &str) -> Result<Schedule, Problem> {
    let s = s.trim();
    if s.is_empty() {
        return Err(
            Problem::new("empty schedule").hint("write a cron expression such as `0 6 * * *`")
        );
    }
    if s.starts_with('@') {
        return at_schedule(s);
    }
    let fields = s.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(Problem::new(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found {fields}"
        ))
        .hint("write `0 6 * * *` for 06:00 every day"));
    }
    cron_parser().parse(s).map_err(|e| {
        Problem::new(format!("invalid cron expression `{s}`: {}", tidy(&e.to_string())))
            .hint("fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week (0-7, 0 and 7 are Sunday)")
    })?;
    Ok(Schedule::Cron(s.to_string()))
}

fn at_schedule(s: &str) -> Result<Schedule, Problem> {
    let lower = s.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("@every") {
        let rest = rest.trim();
        let every = duration::parse(rest).map_err(|p| {
            Problem::new(format!("invalid `@every` interval: {}", p.message)).maybe_hint(p.hint)
        })?;
        if every < Duration::from_secs(1) {
            return Err(Problem::new(format!(
                "`@every {rest}` is shorter than the scheduler's resolution of 1s"
            ))
            .hint("use an interval of at least 1s, such as `@every 30s`"));
        }
        return Ok(Schedule::Every(every));
    }
    if let Some((_, expr)) = MACROS.iter().find(|(m, _)| *m == lower) {
        return Ok(Schedule::Cron((*expr).to_string()));
    }
    let names: Vec<&str> = MACROS.iter().map(|(m, _)| *m).chain(["@every"]).collect();
    let problem = Problem::new(format!("unknown schedule `{s}`"));
    if lower == "@reboot" {
        return Err(
            problem.hint("jobs run on a schedule; use a service for work that starts with pier")
        );
    }
    Err(problem.maybe_hint(suggest::did_you_mean(&lower, &names, "known schedules")))
}

/// The parser pier accepts: seconds optional (6 fields), no year field.
fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Checks an IANA time zone name against the time zone database.
pub(crate) fn time_zone(name: &str) -> Result<(), Problem> {
    if jiff::tz::TimeZone::get(name).is_ok() {
        return Ok(());
    }
    let problem = Problem::new(format!("unknown time zone `{name}`"));
    let known: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    match suggest::closest(name, &known) {
        Some(best) => Err(problem.hint(format!("did you mean `{best}`?"))),
        None => Err(problem.hint("use an IANA time zone name such as `UTC` or `America/Chicago`")),
    }
}

/// Keeps `FromStr` in one place for callers that prefer it.
impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_schedule(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cron_macros_and_every() {
        assert_eq!(
            schedule("0 6 * * *"),
            Ok(Schedule::Cron("0 6 * * *".into()))
        );
        assert_eq!(
            schedule("*/10 * * * * *"),
            Ok(Schedule::Cron("*/10 * * * * *".into()))
        );
        assert_eq!(
            schedule("0 9 * * MON-FRI"),
            Ok(Schedule::Cron("0 9 * * MON-FRI".into()))
        );
        assert_eq!(
            schedule("@midnight"),
            Ok(Schedule::Cron("0 0 * * *".into()))
        );
        assert_eq!(schedule("@Hourly"), Ok(Schedule::Cron("0 * * * *".into())));
        assert_eq!(
            schedule("@every 90s"),
            Ok(Schedule::Every(Duration::from_secs(90)))
        );
        for (m, _) in MACROS {
            assert!(schedule(m).is_ok(), "{m}");
        }
    }

    #[test]
    fn rejects_bad_schedules() {
        let err = |s: &str| schedule(s).unwrap_err();
        assert!(err("* * *").message.contains("found 3"));
        assert!(err("0 0 0 * * * 2030").message.contains("found 7"));
        assert!(
            err("61 * * * *")
                .message
                .starts_with("invalid cron expression `61 * * * *`: ")
        );
        assert_eq!(
            err("@dayly").hint.as_deref(),
            Some("did you mean `@daily`?")
        );
        assert!(err("@reboot").hint.is_some());
        assert!(err("@every").message.contains("empty duration"));
        assert!(err("@every 0s").message.contains("resolution of 1s"));
        assert!(err("@every 500ms").message.contains("resolution of 1s"));
    }

    #[test]
    fn time_zones() {
        assert!(time_zone("UTC").is_ok());
        assert!(time_zone("America/Chicago").is_ok());
        let problem = time_zone("America/Chicgo").unwrap_err();
        assert_eq!(
            problem.hint.as_deref(),
            Some("did you mean `America/Chicago`?")
        );
    }
}
