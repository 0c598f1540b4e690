//! What tests tell a runner's listener through fake-github, as GitHub's private runner
//! protocol would: run this job (a shell script, whose output and exit code come back), update
//! yourself to this version, exit with this code. The listener hears each order on its next
//! heartbeat; a test reads a job's outcome once the stub has reported it.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::Shared;

/// One order for one runner's listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// A job to run: handed out once, on the listener's request.
    Job { script: String, taken: bool },
    /// A self-update to `version`, whose `_update.sh` swaps `bin/` after `delay_secs`.
    Update { version: String, delay_secs: u64 },
    /// Exit with this code (2: retryable, 5: session conflict).
    Exit(i32),
}

/// What a job's script printed and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct JobResult {
    pub code: i32,
    pub output: String,
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_emulator/runners/{id}/update", post(order_update))
        .route("/_emulator/runners/{id}/exit", post(order_exit))
        .route("/_emulator/runners/{id}/job-result", get(job_result))
        .route("/_emulator/stub/{id}/job", get(take_job))
        .route("/_emulator/stub/{id}/job-result", post(report_job))
}

/// The heartbeat's answer for an order, if one is waiting; an update or an exit is given once.
pub fn heartbeat_answer(orders: &mut std::collections::HashMap<u64, Order>, id: u64) -> Option<String> {
    match orders.get(&id)? {
        Order::Job { taken: false, .. } => Some("job".into()),
        Order::Job { taken: true, .. } => None,
        Order::Update { version, delay_secs } => {
            let answer = format!("update {version} {delay_secs}");
            orders.remove(&id);
            Some(answer)
        }
        Order::Exit(code) => {
            let answer = format!("exit {code}");
            orders.remove(&id);
            Some(answer)
        }
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

#[derive(Deserialize)]
struct UpdateOrder {
    version: String,
    #[serde(default)]
    delay_secs: u64,
}

async fn order_update(State(world): State<Shared>, Path(id): Path<u64>, Json(o): Json<UpdateOrder>) -> Response {
    let mut w = world.lock().expect("world lock");
    if !w.runners.contains_key(&id) {
        return text(StatusCode::NOT_FOUND, "no such runner");
    }
    w.orders.insert(
        id,
        Order::Update {
            version: o.version,
            delay_secs: o.delay_secs,
        },
    );
    text(StatusCode::OK, "ordered")
}

#[derive(Deserialize)]
struct ExitOrder {
    code: i32,
}

async fn order_exit(State(world): State<Shared>, Path(id): Path<u64>, Json(o): Json<ExitOrder>) -> Response {
    let mut w = world.lock().expect("world lock");
    if !w.runners.contains_key(&id) {
        return text(StatusCode::NOT_FOUND, "no such runner");
    }
    w.orders.insert(id, Order::Exit(o.code));
    text(StatusCode::OK, "ordered")
}

async fn job_result(State(world): State<Shared>, Path(id): Path<u64>) -> Response {
    match world.lock().expect("world lock").job_results.get(&id) {
        Some(result) => Json(result.clone()).into_response(),
        None => text(StatusCode::NOT_FOUND, "no result yet"),
    }
}

async fn take_job(State(world): State<Shared>, Path(id): Path<u64>) -> Response {
    let mut w = world.lock().expect("world lock");
    match w.orders.get_mut(&id) {
        Some(Order::Job { script, taken }) if !*taken => {
            *taken = true;
            text(StatusCode::OK, script.clone())
        }
        _ => text(StatusCode::NOT_FOUND, "no job for this runner"),
    }
}

#[derive(Deserialize)]
struct Code {
    code: i32,
}

/// The job's outcome: kept for the test, and the job is finished (an ephemeral runner's
/// registration goes, as GitHub's does).
async fn report_job(State(world): State<Shared>, Path(id): Path<u64>, Query(c): Query<Code>, body: Bytes) -> Response {
    let mut w = world.lock().expect("world lock");
    if !matches!(w.orders.get(&id), Some(Order::Job { taken: true, .. })) {
        return text(StatusCode::CONFLICT, "this runner was given no job");
    }
    w.orders.remove(&id);
    let output = String::from_utf8_lossy(&body).into_owned();
    w.job_results.insert(id, JobResult { code: c.code, output });
    w.finish_job(id);
    text(StatusCode::OK, "done")
}
