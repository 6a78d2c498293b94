//! The internal answers service: a JSON API that validates and stores students' answers in
//! memory (bounded to the most recent [`CAPACITY`]) and serves them back with a tally.
//! It knows nothing of HTML, forms or the web service; its wire types are shared with
//! [`crate::client`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::metrics::{self, HttpMetrics};
use crate::serve::{self, Signals};
use crate::timefmt::rfc3339;

/// How many answers are kept; older ones are dropped first.
pub const CAPACITY: usize = 10_000;
/// `GET /answers` returns this many answers when no `limit` is given.
const DEFAULT_LIMIT: usize = 20;
/// Upper bound of `limit`.
const MAX_LIMIT: usize = 200;
/// Longest accepted student name, in characters.
const MAX_STUDENT_CHARS: usize = 64;
/// Longest accepted answer, in characters.
const MAX_ANSWER_CHARS: usize = 500;

/// The body of `POST /answers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAnswer {
    pub student: String,
    pub answer: String,
}

/// A stored answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub id: u64,
    pub student: String,
    pub answer: String,
    /// When it was received (RFC 3339, UTC).
    pub at: String,
}

/// The body of `GET /stats`: answers held and distinct students among them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Stats {
    pub count: u64,
    pub students: u64,
}

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Runs the answers service on 127.0.0.1:$PORT until SIGTERM or SIGINT.
pub async fn run() -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let port = serve::required_port("PORT")?;
    serve::run("answers", port, router(), signals).await
}

#[derive(Clone)]
struct AppState {
    store: Arc<Mutex<Store>>,
    registry: Arc<Registry>,
    stored: Gauge,
}

fn router() -> Router {
    let mut registry = Registry::default();
    let http = HttpMetrics::register(&mut registry);
    let stored = metrics::register_gauge(
        &mut registry,
        metrics::ANSWERS_STORED,
        "Answers currently held in memory",
    );
    let state = AppState {
        store: Arc::new(Mutex::new(Store::default())),
        registry: Arc::new(registry),
        stored,
    };
    Router::new()
        .route("/answers", get(list).post(create))
        .route("/stats", get(stats))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render_metrics))
        .with_state(state)
        // Outermost, so that rejected and failed requests are counted too.
        .layer(middleware::from_fn_with_state(http, metrics::track))
}

async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewAnswer>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_request(rejection.body_text()),
    };
    let new = match validate(new) {
        Ok(new) => new,
        Err(message) => return bad_request(message),
    };
    let (answer, held) = {
        let mut store = state.store.lock().unwrap_or_else(PoisonError::into_inner);
        let answer = store.push(new, SystemTime::now());
        (answer, store.answers.len())
    };
    state.stored.set(i64::try_from(held).unwrap_or(i64::MAX));
    (StatusCode::CREATED, Json(answer)).into_response()
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let limit = match params {
        Ok(Query(params)) => params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
        Err(_) => return bad_request(format!("limit must be a number from 0 to {MAX_LIMIT}")),
    };
    let store = state.store.lock().unwrap_or_else(PoisonError::into_inner);
    Json(store.latest(limit)).into_response()
}

async fn stats(State(state): State<AppState>) -> Json<Stats> {
    let store = state.store.lock().unwrap_or_else(PoisonError::into_inner);
    Json(store.stats())
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    metrics::render(&state.registry)
}

fn bad_request(error: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: error.into(),
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Trims both fields and checks they are present and not too long.
fn validate(new: NewAnswer) -> Result<NewAnswer, String> {
    let student = new.student.trim();
    let answer = new.answer.trim();
    check_field("student", student, MAX_STUDENT_CHARS)?;
    check_field("answer", answer, MAX_ANSWER_CHARS)?;
    Ok(NewAnswer {
        student: student.to_owned(),
        answer: answer.to_owned(),
    })
}

fn check_field(name: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{name} must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(format!("{name} must be at most {max_chars} characters"));
    }
    Ok(())
}

/// The in-memory answers, oldest first, with a per-student count kept in step so that the
/// tally is O(1) and forgets students whose answers were all dropped.
#[derive(Default)]
struct Store {
    next_id: u64,
    answers: VecDeque<Answer>,
    per_student: HashMap<String, usize>,
}

impl Store {
    fn push(&mut self, new: NewAnswer, now: SystemTime) -> Answer {
        if self.answers.len() == CAPACITY {
            self.drop_oldest();
        }
        self.next_id += 1;
        let answer = Answer {
            id: self.next_id,
            student: new.student,
            answer: new.answer,
            at: rfc3339(now),
        };
        *self.per_student.entry(answer.student.clone()).or_default() += 1;
        self.answers.push_back(answer.clone());
        answer
    }

    fn drop_oldest(&mut self) {
        let Some(oldest) = self.answers.pop_front() else {
            return;
        };
        if let Some(count) = self.per_student.get_mut(&oldest.student) {
            *count -= 1;
            if *count == 0 {
                self.per_student.remove(&oldest.student);
            }
        }
    }

    fn latest(&self, limit: usize) -> Vec<Answer> {
        self.answers.iter().rev().take(limit).cloned().collect()
    }

    fn stats(&self) -> Stats {
        Stats {
            count: self.answers.len() as u64,
            students: self.per_student.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(student: &str, answer: &str) -> NewAnswer {
        NewAnswer {
            student: student.into(),
            answer: answer.into(),
        }
    }

    #[test]
    fn store_is_bounded_and_keeps_the_tally_in_step() {
        let mut store = Store::default();
        store.push(new("ada", "first"), SystemTime::now());
        for i in 0..CAPACITY {
            store.push(new("bob", &i.to_string()), SystemTime::now());
        }
        let stats = store.stats();
        assert_eq!((stats.count, stats.students), (CAPACITY as u64, 1));
        let latest = store.latest(2);
        assert_eq!(latest[0].answer, (CAPACITY - 1).to_string());
        assert_eq!(latest[0].id, CAPACITY as u64 + 1);
        assert_eq!(latest[1].id, CAPACITY as u64);
    }

    #[test]
    fn validation_trims_and_rejects() {
        let ok = validate(new("  ada ", " 56 ")).unwrap();
        assert_eq!((ok.student.as_str(), ok.answer.as_str()), ("ada", "56"));
        assert_eq!(
            validate(new(" ", "56")).unwrap_err(),
            "student must not be empty"
        );
        assert_eq!(
            validate(new("ada", &"x".repeat(501))).unwrap_err(),
            "answer must be at most 500 characters"
        );
    }
}
