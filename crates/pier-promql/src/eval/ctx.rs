//! The evaluation context shared by every node of one query: the store, the limits (sample
//! count, deadline), the query's own `[start, end]` (for `@ start()`/`@ end()`), and the
//! annotations collected so far.

use std::time::Instant;

use pier_tsdb::Storage;

use crate::engine::EngineOptions;
use crate::error::{Annotations, QueryError};

/// How often (in units of work) the deadline is checked inside long loops.
const DEADLINE_EVERY: u32 = 256;

/// Per-query state threaded through evaluation.
pub(super) struct Ctx<'a> {
    /// The store to read.
    pub storage: &'a dyn Storage,
    /// Lookback of instant selectors (ms).
    pub lookback: i64,
    /// Step of subqueries written without one (ms).
    pub default_subquery_step: i64,
    /// The query's start (what `@ start()` means).
    pub query_start: i64,
    /// The query's end (what `@ end()` means).
    pub query_end: i64,
    /// The range query's step (0 for an instant query).
    pub query_step: i64,
    /// Warnings and infos.
    pub annotations: Annotations,
    max_samples: usize,
    /// Samples held across steps: the result assembled so far, range windows, subquery
    /// buffers.
    held: usize,
    /// Samples held by the step being evaluated; reset at every top-level step.
    step: usize,
    deadline: Option<Instant>,
    ticks: u32,
}

impl<'a> Ctx<'a> {
    pub fn new(
        options: &EngineOptions,
        storage: &'a dyn Storage,
        start: i64,
        end: i64,
        step: i64,
    ) -> Self {
        Self {
            storage,
            lookback: options.lookback_delta_ms,
            default_subquery_step: options.default_subquery_step_ms.max(1),
            query_start: start,
            query_end: end,
            query_step: step.max(0),
            annotations: Annotations::default(),
            max_samples: options.max_samples,
            held: 0,
            step: 0,
            deadline: Instant::now().checked_add(options.timeout),
            ticks: 0,
        }
    }

    fn check_limit(&self) -> Result<(), QueryError> {
        if self.held.saturating_add(self.step) > self.max_samples {
            return Err(QueryError::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Counts `n` samples held until the end of the current step.
    pub fn add_step_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.step = self.step.saturating_add(n);
        self.check_limit()
    }

    /// Counts `n` samples held across steps (until [`Ctx::release`]).
    pub fn hold(&mut self, n: usize) -> Result<(), QueryError> {
        self.held = self.held.saturating_add(n);
        self.check_limit()
    }

    /// Stops counting `n` samples held across steps.
    pub fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    /// The per-step count, to restore after a nested evaluation (subquery steps).
    pub fn step_mark(&self) -> usize {
        self.step
    }

    /// Restores the per-step count saved by [`Ctx::step_mark`].
    pub fn reset_step(&mut self, mark: usize) {
        self.step = mark;
    }

    /// Fails when the deadline has passed.
    pub fn check_deadline(&mut self) -> Result<(), QueryError> {
        match self.deadline {
            Some(d) if Instant::now() > d => Err(QueryError::Timeout("query execution")),
            _ => Ok(()),
        }
    }

    /// Checks the deadline every so many calls; for tight loops.
    pub fn tick(&mut self) -> Result<(), QueryError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(DEADLINE_EVERY) {
            self.check_deadline()
        } else {
            Ok(())
        }
    }
}
