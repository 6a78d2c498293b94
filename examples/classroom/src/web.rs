//! The public web service: one page with the teacher's question, a form that forwards answers to
//! the answers service, and the recent answers. When the answers service is unset or down the
//! page still renders (200) with a notice, and submitting fails with 502. It also serves
//! `/healthz`, `/metrics` and `/slow?ms=N` (a deliberately slow endpoint for router tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router, middleware};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::answers::{Answer, NewAnswer};
use crate::client::{AnswersClient, CallError};
use crate::metrics::{self, HttpMetrics};
use crate::page::{self, Home};
use crate::serve::{self, Signals};

/// Asked when `$CLASSROOM_QUESTION` is not set.
const DEFAULT_QUESTION: &str = "Which planet in our solar system has the most moons?";
/// How many answers the page lists.
const RECENT_ANSWERS: usize = 20;
/// A student counts as connected this long after their last answer.
const PRESENCE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Upper bound of `/slow?ms=N`.
const MAX_SLOW_MS: u64 = 60_000;

/// Runs the web service on 127.0.0.1:$PORT until SIGTERM or SIGINT.
pub async fn run() -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let port = serve::required_port("PORT")?;
    let answers = AnswersClient::from_env();
    if answers.is_none() {
        log!("web: ANSWERS_URL is not set, answers will be unavailable");
    }
    serve::run("web", port, router(answers), signals).await
}

#[derive(Clone)]
struct AppState {
    question: Arc<str>,
    served_by: Option<Arc<str>>,
    answers: Option<AnswersClient>,
    presence: Arc<Presence>,
    registry: Arc<Registry>,
    connected: Gauge,
}

fn router(answers: Option<AnswersClient>) -> Router {
    let mut registry = Registry::default();
    let http = HttpMetrics::register(&mut registry);
    let connected = metrics::register_gauge(
        &mut registry,
        metrics::CONNECTED_STUDENTS,
        "Distinct students who answered in the last 5 minutes (this replica)",
    );
    let question = std::env::var("CLASSROOM_QUESTION")
        .ok()
        .filter(|q| !q.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_QUESTION.to_owned());
    let served_by =
        std::env::var("PIER_REPLICA")
            .ok()
            .map(|replica| match std::env::var("PIER_RELEASE") {
                Ok(release) => format!("{replica} ({release})").into(),
                Err(_) => replica.into(),
            });
    let state = AppState {
        question: question.into(),
        served_by,
        answers,
        presence: Arc::new(Presence::default()),
        registry: Arc::new(registry),
        connected,
    };
    Router::new()
        .route("/", get(home))
        .route("/answer", post(submit))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render_metrics))
        .route("/slow", get(slow))
        .with_state(state)
        // Outermost, so that rejected and failed requests are counted too.
        .layer(middleware::from_fn_with_state(http, metrics::track))
}

async fn home(State(state): State<AppState>) -> Response {
    render_home(&state, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(alias = "name")]
    student: String,
    answer: String,
}

async fn submit(
    State(state): State<AppState>,
    form: Result<Form<AnswerForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        let notice = "Please give your name and an answer.";
        return render_home(&state, StatusCode::BAD_REQUEST, Some(notice)).await;
    };
    let Some(answers) = &state.answers else {
        let notice = "Your answer was not saved.";
        return render_home(&state, StatusCode::BAD_GATEWAY, Some(notice)).await;
    };
    let new = NewAnswer {
        student: form.student,
        answer: form.answer,
    };
    match answers.submit(&new).await {
        Ok(stored) => {
            state.presence.seen(&stored.student, Instant::now());
            Redirect::to("/").into_response()
        }
        Err(CallError::Rejected(reason)) => {
            let notice = format!("Your answer was not saved: {reason}.");
            render_home(&state, StatusCode::BAD_REQUEST, Some(&notice)).await
        }
        Err(error @ CallError::Unavailable(_)) => {
            log!("web: cannot save an answer, answers service {error}");
            let notice = "Your answer was not saved.";
            render_home(&state, StatusCode::BAD_GATEWAY, Some(notice)).await
        }
    }
}

/// Renders the page with the recent answers, or the degraded page if they cannot be fetched.
async fn render_home(state: &AppState, status: StatusCode, notice: Option<&str>) -> Response {
    let recent = fetch_recent(state).await;
    let html = page::home(&Home {
        question: &state.question,
        recent: recent.as_deref(),
        notice,
        connected: update_connected(state),
        served_by: state.served_by.as_deref(),
    });
    (status, Html(html)).into_response()
}

async fn fetch_recent(state: &AppState) -> Option<Vec<Answer>> {
    match state.answers.as_ref()?.recent(RECENT_ANSWERS).await {
        Ok(recent) => Some(recent),
        Err(error) => {
            log!("web: cannot list answers, answers service {error}");
            None
        }
    }
}

/// Recounts the students seen recently and publishes the count as a gauge.
fn update_connected(state: &AppState) -> usize {
    let active = state.presence.active(Instant::now());
    state
        .connected
        .set(i64::try_from(active).unwrap_or(i64::MAX));
    active
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    update_connected(&state);
    metrics::render(&state.registry)
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

async fn slow(params: Result<Query<SlowParams>, QueryRejection>) -> Response {
    let Ok(Query(params)) = params else {
        let message = format!("ms must be a number of milliseconds (at most {MAX_SLOW_MS})\n");
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let ms = params.ms.unwrap_or(0).min(MAX_SLOW_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms\n").into_response()
}

/// When each student was last seen, forgetting those outside [`PRESENCE_WINDOW`].
#[derive(Default)]
struct Presence {
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl Presence {
    fn seen(&self, student: &str, now: Instant) {
        let mut last_seen = self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last_seen.insert(student.to_owned(), now);
    }

    /// Students seen within the window before `now`; older entries are dropped.
    fn active(&self, now: Instant) -> usize {
        let mut last_seen = self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last_seen.retain(|_, seen| now.saturating_duration_since(*seen) < PRESENCE_WINDOW);
        last_seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_forgets_students_after_the_window() {
        let presence = Presence::default();
        let start = Instant::now();
        presence.seen("ada", start);
        presence.seen("bob", start + Duration::from_secs(60));
        presence.seen("ada", start + Duration::from_secs(120));
        assert_eq!(presence.active(start + Duration::from_secs(120)), 2);
        assert_eq!(
            presence.active(start + PRESENCE_WINDOW + Duration::from_secs(61)),
            1
        );
        assert_eq!(
            presence.active(start + PRESENCE_WINDOW + Duration::from_secs(121)),
            0
        );
    }
}
