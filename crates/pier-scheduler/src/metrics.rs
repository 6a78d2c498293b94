//! The scheduler's metrics on pier's `/metrics`: runs by result, the last success, durations
//! and missed slots by reason — what lets a user alert on "the nightly job has not succeeded
//! in 25 h".

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    job: String,
    result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    job: String,
    reason: String,
}

/// Handles on the scheduler's metric families. Cheap to clone.
#[derive(Clone)]
pub struct SchedulerMetrics {
    runs: Family<ResultLabels, Counter>,
    last_success: Family<JobLabels, Gauge<f64, AtomicU64>>,
    duration: Family<JobLabels, Histogram>,
    missed: Family<ReasonLabels, Counter>,
    start_delay: Histogram,
}

impl SchedulerMetrics {
    /// Registers the families in `registry`.
    pub fn new(registry: &mut Registry) -> SchedulerMetrics {
        let metrics = SchedulerMetrics::unregistered();
        registry.register(
            "pier_job_runs",
            "Job runs that ended, by job and result (succeeded, failed, timed_out, lost)",
            metrics.runs.clone(),
        );
        registry.register(
            "pier_job_last_success_timestamp_seconds",
            "When each job last succeeded (Unix time)",
            metrics.last_success.clone(),
        );
        registry.register(
            "pier_job_duration_seconds",
            "How long job runs took",
            metrics.duration.clone(),
        );
        registry.register(
            "pier_job_missed_slots",
            "Slots that did not run, by job and reason (downtime, catch_up, catch_up_limit, deadline, concurrency, suspended)",
            metrics.missed.clone(),
        );
        registry.register(
            "pier_scheduler_start_delay_seconds",
            "Delay between a slot and its run's start",
            metrics.start_delay.clone(),
        );
        metrics
    }

    /// Families that are not exposed anywhere (tests, a scheduler without /metrics).
    pub fn unregistered() -> SchedulerMetrics {
        SchedulerMetrics {
            runs: Family::default(),
            last_success: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0])
            }),
            missed: Family::default(),
            start_delay: Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0]),
        }
    }

    pub fn run_ended(&self, job: &str, result: &str, duration_secs: Option<f64>) {
        self.runs
            .get_or_create(&ResultLabels {
                job: job.to_string(),
                result: result.to_string(),
            })
            .inc();
        if let Some(secs) = duration_secs {
            self.duration
                .get_or_create(&JobLabels {
                    job: job.to_string(),
                })
                .observe(secs);
        }
    }

    pub fn succeeded_at(&self, job: &str, unix_secs: f64) {
        self.last_success
            .get_or_create(&JobLabels {
                job: job.to_string(),
            })
            .set(unix_secs);
    }

    pub fn missed(&self, job: &str, reason: &str, slots: u64) {
        self.missed
            .get_or_create(&ReasonLabels {
                job: job.to_string(),
                reason: reason.to_string(),
            })
            .inc_by(slots);
    }

    pub fn started_late_by(&self, secs: f64) {
        self.start_delay.observe(secs.max(0.0));
    }

    /// The value of `pier_job_runs_total{job,result}` (for tests and the CLI).
    pub fn runs(&self, job: &str, result: &str) -> u64 {
        self.runs
            .get_or_create(&ResultLabels {
                job: job.to_string(),
                result: result.to_string(),
            })
            .get()
    }

    /// The value of `pier_job_missed_slots_total{job,reason}`.
    pub fn missed_count(&self, job: &str, reason: &str) -> u64 {
        self.missed
            .get_or_create(&ReasonLabels {
                job: job.to_string(),
                reason: reason.to_string(),
            })
            .get()
    }
}
