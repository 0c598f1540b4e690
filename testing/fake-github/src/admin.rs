//! The emulator's own API under `/_emulator/`, for tests and the stub runner; GitHub has none
//! of it.
//!
//! For tests: seed runners, inject faults, read the request log, publish a runner version,
//! give a runner a job and finish it, move the clock, tamper with downloads.
//! For the stub runner (its stand-in for GitHub's private runner protocol): register with a
//! registration token, redeem a JIT config once, heartbeat (the answer is an order of
//! [`crate::orders`], or idle, busy, done or removed), go offline, unregister with a remove token; and the tarball download.

use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::fault::Fault;
use crate::orders::{self, Order};
use crate::state::{labels, NewRunner, ScopeConfig, TokenKind, Tombstone};
use crate::Shared;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_emulator/runners", get(list_runners).post(seed))
        .route("/_emulator/runners/{id}/job", post(start_job))
        .route("/_emulator/runners/{id}/finish", post(finish_job))
        .route("/_emulator/faults", post(add_fault).delete(clear_faults))
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/publish", post(publish))
        .route("/_emulator/clock", post(advance_clock))
        .route("/_emulator/tamper", post(tamper))
        .route("/_emulator/downloads/{filename}", get(download))
        .route("/_emulator/stub/register", post(stub_register))
        .route("/_emulator/stub/jit", post(stub_jit))
        .route("/_emulator/stub/{id}/heartbeat", post(stub_heartbeat))
        .route("/_emulator/stub/{id}/offline", post(stub_offline))
        .route("/_emulator/stub/{id}/remove", post(stub_remove))
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [("content-type", "text/plain")], body.into()).into_response()
}

async fn list_runners(State(world): State<Shared>) -> Json<Value> {
    let w = world.lock().expect("world lock");
    Json(Value::Array(w.runners.values().map(|r| w.runner_json(r)).collect()))
}

#[derive(Deserialize)]
struct Seed {
    count: usize,
    #[serde(default = "seed_prefix")]
    prefix: String,
    #[serde(default)]
    online: bool,
    #[serde(default)]
    busy: bool,
    #[serde(default)]
    ephemeral: bool,
}

fn seed_prefix() -> String {
    "seeded-".into()
}

async fn seed(State(world): State<Shared>, Json(seed): Json<Seed>) -> Response {
    let mut w = world.lock().expect("world lock");
    let mut ids = Vec::new();
    for i in 0..seed.count {
        let name = format!("{}{i}", seed.prefix);
        let runner = NewRunner {
            ephemeral: seed.ephemeral,
            ..NewRunner::named(name)
        };
        let id = match w.add_runner(runner) {
            Ok(id) => id,
            Err(message) => return text(StatusCode::CONFLICT, message),
        };
        let version = w.config.runner_version.clone();
        let runner = w.runners.get_mut(&id).expect("just added");
        runner.pinned_online = seed.online;
        runner.busy = seed.busy;
        runner.version = Some(version);
        ids.push(id);
    }
    Json(json!({"ids": ids})).into_response()
}

/// Makes a runner busy; a body, if any, is the job's shell script, which the stub runs.
async fn start_job(State(world): State<Shared>, Path(id): Path<u64>, body: Bytes) -> Response {
    let mut w = world.lock().expect("world lock");
    let Some(runner) = w.runners.get(&id).cloned() else {
        return text(StatusCode::NOT_FOUND, "no such runner");
    };
    if !w.online(&runner) {
        return text(StatusCode::CONFLICT, "runner is offline: it cannot take a job");
    }
    w.runners.get_mut(&id).expect("checked").busy = true;
    let labels: Vec<String> = runner.labels.iter().map(|l| l.name.clone()).collect();
    let now = crate::state::rfc3339(w.now());
    if let Some(job) = w.actions.take((id, runner.name.clone()), &labels, now) {
        w.job_changed(job, "in_progress");
    }
    if !body.is_empty() {
        let script = String::from_utf8_lossy(&body).into_owned();
        w.orders.insert(id, Order::Job { script, taken: false });
    }
    text(StatusCode::OK, "busy")
}

async fn finish_job(State(world): State<Shared>, Path(id): Path<u64>) -> Response {
    let mut w = world.lock().expect("world lock");
    if !w.finish_job(id) {
        return text(StatusCode::NOT_FOUND, "no such runner");
    }
    text(StatusCode::OK, "done")
}

async fn add_fault(State(world): State<Shared>, Json(fault): Json<Fault>) -> StatusCode {
    world.lock().expect("world lock").faults.push(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(world): State<Shared>) -> StatusCode {
    world.lock().expect("world lock").faults.clear();
    StatusCode::NO_CONTENT
}

async fn requests(State(world): State<Shared>) -> Json<Value> {
    Json(serde_json::to_value(&world.lock().expect("world lock").log).unwrap_or_default())
}

async fn clear_requests(State(world): State<Shared>) -> StatusCode {
    world.lock().expect("world lock").log.clear();
    StatusCode::NO_CONTENT
}

async fn publish(State(world): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(version) = body.get("version").and_then(Value::as_str) else {
        return text(StatusCode::BAD_REQUEST, "body needs {\"version\": \"x.y.z\"}");
    };
    world.lock().expect("world lock").publish(version);
    text(StatusCode::OK, version)
}

async fn advance_clock(State(world): State<Shared>, Json(body): Json<Value>) -> StatusCode {
    let secs = body.get("advance_secs").and_then(Value::as_u64).unwrap_or(0);
    world.lock().expect("world lock").clock_offset += Duration::from_secs(secs);
    StatusCode::NO_CONTENT
}

async fn tamper(State(world): State<Shared>, Json(body): Json<Value>) -> StatusCode {
    world.lock().expect("world lock").tamper = body.get("mode").and_then(Value::as_str).map(String::from);
    StatusCode::NO_CONTENT
}

async fn download(State(world): State<Shared>, Path(filename): Path<String>) -> Response {
    let w = world.lock().expect("world lock");
    if filename != w.tarball.filename {
        return text(StatusCode::NOT_FOUND, "Not Found");
    }
    let bytes = if w.tamper.as_deref() == Some("not-tar") {
        b"this is not a tarball".to_vec()
    } else {
        w.tarball.bytes.clone()
    };
    (StatusCode::OK, [("content-type", "application/octet-stream")], bytes).into_response()
}

fn remote_auth(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("RemoteAuth ").map(|t| t.trim().to_string())
}

#[derive(Deserialize)]
struct Registration {
    path: String,
    name: String,
    #[serde(default)]
    labels: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    ephemeral: bool,
    /// The version of the runner build that registers (its tarball's `VERSION`).
    #[serde(default)]
    version: String,
    /// The registration token (in the body: a header would be an argument of the stub's wget).
    #[serde(default)]
    token: String,
}

/// `config.sh`: a valid registration token for this scope, and a free name.
async fn stub_register(State(world): State<Shared>, headers: HeaderMap, Json(reg): Json<Registration>) -> Response {
    let mut w = world.lock().expect("world lock");
    let token = remote_auth(&headers).unwrap_or_else(|| reg.token.clone());
    if !w.token_valid(&token, TokenKind::Registration) || reg.path.trim_end_matches('/') != w.config.scope.path() {
        return text(StatusCode::NOT_FOUND, "Not Found");
    }
    let group_id = match &w.config.scope {
        ScopeConfig::Org(_) => match w.config.groups.iter().find(|(_, n)| n.eq_ignore_ascii_case(&reg.group)) {
            Some((id, _)) => *id,
            None => {
                return text(
                    StatusCode::NOT_FOUND,
                    format!("Could not find any self-hosted runner group named \"{}\".", reg.group),
                )
            }
        },
        ScopeConfig::Repo { .. } => 1,
    };
    let names: Vec<String> = reg.labels.split(',').map(|l| l.trim().to_string()).collect();
    let runner = NewRunner {
        labels: labels(&names, true),
        group_id,
        ephemeral: reg.ephemeral,
        ..NewRunner::named(reg.name.clone())
    };
    let id = match w.add_runner(runner) {
        Ok(id) => id,
        Err(message) => return text(StatusCode::CONFLICT, message),
    };
    let version = if reg.version.is_empty() {
        w.config.runner_version.clone()
    } else {
        reg.version.clone()
    };
    w.runners.get_mut(&id).expect("just added").version = Some(version);
    text(
        StatusCode::OK,
        format!("RUNNER_ID={id}\nRUNNER_NAME={}\nEPHEMERAL={}", reg.name, reg.ephemeral),
    )
}

/// `run.sh --jitconfig`: the config's secret, once, before it expires.
async fn stub_jit(State(world): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut w = world.lock().expect("world lock");
    let secret = remote_auth(&headers).unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    let now = w.now();
    let Some(record) = w.jit.get_mut(&secret).filter(|r| !r.used && r.expires > now) else {
        return text(StatusCode::NOT_FOUND, "Not Found");
    };
    record.used = true;
    let id = record.runner_id;
    let reported = headers
        .get("x-runner-version")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let version = reported.map_or_else(|| w.config.runner_version.clone(), String::from);
    let Some(runner) = w.runners.get_mut(&id) else {
        return text(StatusCode::NOT_FOUND, "Not Found");
    };
    runner.os = "Linux".into();
    runner.version = Some(version);
    runner.labels.splice(0..0, labels(&[], true));
    text(StatusCode::OK, "ok")
}

/// The listener's heartbeat: it keeps the runner online and reports its version; the answer
/// is an order waiting for it, else idle, busy, done or removed.
async fn stub_heartbeat(State(world): State<Shared>, Path(id): Path<u64>, headers: HeaderMap) -> Response {
    let mut w = world.lock().expect("world lock");
    let now: SystemTime = w.now();
    let version = headers
        .get("x-runner-version")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(String::from);
    if let Some(runner) = w.runners.get_mut(&id) {
        runner.last_heartbeat = Some(now);
        if version.is_some() {
            runner.version = version;
        }
        let busy = runner.busy;
        if let Some(order) = orders::heartbeat_answer(&mut w.orders, id) {
            return text(StatusCode::OK, order);
        }
        return text(StatusCode::OK, if busy { "busy" } else { "idle" });
    }
    match w.tombstones.get(&id) {
        Some(Tombstone::Done) => text(StatusCode::OK, "done"),
        _ => text(StatusCode::OK, "removed"),
    }
}

async fn stub_offline(State(world): State<Shared>, Path(id): Path<u64>) -> StatusCode {
    if let Some(runner) = world.lock().expect("world lock").runners.get_mut(&id) {
        runner.last_heartbeat = None;
    }
    StatusCode::NO_CONTENT
}

/// `config.sh remove --token`: a valid remove token, and a runner that is not busy.
async fn stub_remove(State(world): State<Shared>, Path(id): Path<u64>, headers: HeaderMap, body: Bytes) -> Response {
    let mut w = world.lock().expect("world lock");
    let token = remote_auth(&headers).unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    if !w.token_valid(&token, TokenKind::Remove) {
        return text(StatusCode::NOT_FOUND, "Not Found");
    }
    match w.runners.get(&id).map(|r| r.busy) {
        None => text(StatusCode::NOT_FOUND, "Not Found"),
        Some(true) => text(StatusCode::UNPROCESSABLE_ENTITY, "the runner is running a job"),
        Some(false) => {
            w.remove_runner(id, Tombstone::Removed);
            text(StatusCode::OK, "ok")
        }
    }
}
