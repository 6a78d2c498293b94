//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`: parameters checked in
//! Prometheus's order and with its messages (the range guards: `end` not before `start`, a
//! positive `step`, at most 11,000 points per series), the query parsed up front so that a
//! parse error is `bad_data` with its position, then evaluated by `pier-promql` on a blocking
//! thread with the engine's limits (a `timeout` parameter can only shorten the engine's).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use pier_promql::{Engine, QueryError, QueryOutput, Value};
use promql_parser::parser::Expr;

use super::params::{Params, parse_duration_ns};
use super::position::parse_error_text;
use super::{PromData, PromError, blocking, json};
use crate::server::ApiContext;

type Ctx = State<Arc<ApiContext>>;

/// Prometheus's cap on the points of one series a range query may return.
const MAX_POINTS: i128 = 11_000;

/// `GET|POST /api/v1/query?query=…&time=…&timeout=…&limit=…`
pub async fn instant(State(ctx): Ctx, params: Params) -> Result<PromData, PromError> {
    let limit = params.limit()?;
    let time = params.time_or("time", now_ms())?;
    let engine = engine_for(&ctx.promql, &params)?;
    let (query, expr) = parse_query(&params)?;
    let tsdb = ctx.tsdb.clone();
    let output = blocking(move || engine.instant_expr(&*tsdb, &expr, time))
        .await?
        .map_err(|e| query_error(&query, e))?;
    Ok(respond(output, limit))
}

/// `GET|POST /api/v1/query_range?query=…&start=…&end=…&step=…&timeout=…&limit=…`
pub async fn range(State(ctx): Ctx, params: Params) -> Result<PromData, PromError> {
    let limit = params.limit()?;
    let start = params.time("start")?;
    let end = params.time("end")?;
    if end < start {
        return Err(PromError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step_ns =
        parse_duration_ns(params.value("step")).map_err(|e| PromError::invalid_param("step", e))?;
    if step_ns <= 0 {
        return Err(PromError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (i128::from(end) - i128::from(start)) * 1_000_000 / i128::from(step_ns) > MAX_POINTS {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let engine = engine_for(&ctx.promql, &params)?;
    let (query, expr) = parse_query(&params)?;
    let step_ms = step_ns / 1_000_000;
    let tsdb = ctx.tsdb.clone();
    let output = blocking(move || engine.range_expr(&*tsdb, &expr, start, end, step_ms))
        .await?
        .map_err(|e| query_error(&query, e))?;
    Ok(respond(output, limit))
}

/// `GET|POST /api/v1/format_query?query=…`: the query pretty-printed.
pub async fn format_query(params: Params) -> Result<PromData, PromError> {
    let (_, expr) = parse_query(&params)?;
    PromData::json(&expr.prettify())
}

/// The engine for this request: the daemon's limits, with a shorter `timeout` and another
/// `lookback_delta` when the request asks.
fn engine_for(engine: &Engine, params: &Params) -> Result<Engine, PromError> {
    let mut engine = engine.clone();
    if let Some(timeout_ms) = params
        .duration_ms("timeout")
        .map_err(|e| PromError::invalid_param("timeout", e))?
    {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        engine.options.timeout = engine.options.timeout.min(timeout);
    }
    if let Some(lookback_ms) = params
        .duration_ms("lookback_delta")
        .map_err(|e| PromError::bad_data(format!("error parsing lookback delta duration: {e}")))?
        && lookback_ms > 0
    {
        engine.options.lookback_delta_ms = lookback_ms;
    }
    Ok(engine)
}

/// The `query` parameter, parsed; a parse error is `bad_data` with the position.
fn parse_query(params: &Params) -> Result<(String, Expr), PromError> {
    let query = params.value("query").to_string();
    match Engine::parse(&query) {
        Ok(expr) => Ok((query, expr)),
        Err(e) => Err(query_error(&query, e)),
    }
}

fn query_error(query: &str, error: QueryError) -> PromError {
    match error {
        QueryError::Parse(message) => {
            PromError::invalid_param("query", parse_error_text(query, &message))
        }
        other => other.into(),
    }
}

/// The response: Prometheus's `limit` keeps the first `limit` series, with a warning.
fn respond(output: QueryOutput, limit: usize) -> PromData {
    let QueryOutput {
        mut value,
        annotations,
    } = output;
    let mut warnings = annotations.warnings;
    let truncated = match &mut value {
        Value::Vector(v) if limit > 0 && v.len() > limit => {
            v.truncate(limit);
            true
        }
        Value::Matrix(m) if limit > 0 && m.len() > limit => {
            m.truncate(limit);
            true
        }
        _ => false,
    };
    if truncated {
        warnings.push("results truncated due to limit".into());
    }
    let mut data = String::new();
    json::write_query_data(&mut data, &value);
    PromData {
        data,
        warnings,
        infos: annotations.infos,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
