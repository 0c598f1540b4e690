//! `workflow_job` webhooks, sent as GitHub sends them: tests register a hook
//! (`POST /_emulator/webhooks {"url", "secret"}`); every job queued, taken or completed makes
//! a delivery (`queued`, `in_progress`, `completed`) to each hook, a JSON body built on the
//! smallest payload GitHub's OpenAPI description accepts (`openapi/webhook-templates.json`,
//! made by `openapi/vendor_webhooks.py`), signed with `X-Hub-Signature-256` and named by a
//! fresh `X-GitHub-Delivery`. `GET /_emulator/webhooks` lists what was sent and how the
//! receiver answered; `POST /_emulator/webhooks/{delivery}/redeliver` sends one again, id
//! and all, as GitHub's "Redeliver" button does.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::actions::WorkflowJob;
use crate::Shared;

const TEMPLATES: &str = include_str!("../openapi/webhook-templates.json");

/// A hook tests registered.
#[derive(Debug, Clone, Deserialize)]
pub struct Hook {
    pub url: String,
    pub secret: String,
}

/// One delivery: what was sent, and the receiver's answer (`None` until it came; 0 when the
/// connection failed).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub action: String,
    pub job: u64,
    pub hook: Hook,
    pub body: Vec<u8>,
    pub answer: Option<u16>,
}

/// The hooks, the deliveries, and the sender's queue.
#[derive(Debug, Default)]
pub struct Webhooks {
    pub hooks: Vec<Hook>,
    pub deliveries: Vec<Delivery>,
    /// Set when the emulator serves: deliveries to send, by index.
    pub outbox: Option<tokio::sync::mpsc::UnboundedSender<usize>>,
}

impl Webhooks {
    /// A delivery of `action` for `job` to every hook.
    pub fn job_changed(&mut self, action: &str, job: &WorkflowJob, repo: &str) {
        for hook in self.hooks.clone() {
            let body = serde_json::to_vec(&payload(action, job, repo)).expect("a payload serialises");
            let id = format!("{:08x}-fa4e-11f0-8000-{:012x}", job.id, self.deliveries.len() + 1);
            self.deliveries.push(Delivery {
                id,
                action: action.to_string(),
                job: job.id,
                hook,
                body,
                answer: None,
            });
            self.send(self.deliveries.len() - 1);
        }
    }

    fn send(&self, index: usize) {
        if let Some(outbox) = &self.outbox {
            let _ = outbox.send(index);
        }
    }
}

/// `sha256=<hex>` of `body` with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The body of a delivery: GitHub's required fields, with the job's own.
pub fn payload(action: &str, job: &WorkflowJob, repo: &str) -> Value {
    let templates: Value = serde_json::from_str(TEMPLATES).expect("the templates are JSON");
    let (owner, name) = repo.split_once('/').unwrap_or((repo, repo));
    let mut repository = templates["repository"].clone();
    repository["full_name"] = json!(repo);
    repository["name"] = json!(name);
    repository["owner"]["login"] = json!(owner);
    let mut organization = templates["organization"].clone();
    organization["login"] = json!(owner);
    let mut workflow_job = templates["workflow_job"].clone();
    let done = action == "completed";
    for (key, value) in [
        ("id", json!(job.id)),
        ("run_id", json!(job.id)),
        ("status", json!(action)),
        ("labels", json!(job.labels)),
        ("created_at", json!(job.created_at)),
        ("started_at", json!(job.started_at.as_ref().unwrap_or(&job.created_at))),
        ("completed_at", json!(job.completed_at)),
        ("conclusion", if done { json!("success") } else { Value::Null }),
        ("runner_id", json!(job.runner.as_ref().map(|(id, _)| id))),
        ("runner_name", json!(job.runner.as_ref().map(|(_, n)| n))),
        ("name", json!("build")),
        ("workflow_name", json!("CI")),
    ] {
        workflow_job[key] = value;
    }
    if done {
        workflow_job["steps"] = json!([]);
    }
    json!({
        "action": action,
        "workflow_job": workflow_job,
        "repository": repository,
        "organization": organization,
        "sender": templates["sender"],
    })
}

/// Sends queued deliveries one at a time, in order, for as long as the emulator serves.
pub async fn sender(world: Shared, mut outbox: tokio::sync::mpsc::UnboundedReceiver<usize>) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    while let Some(index) = outbox.recv().await {
        let Some(delivery) = world
            .lock()
            .expect("world lock")
            .webhooks
            .deliveries
            .get(index)
            .cloned()
        else {
            continue;
        };
        let answer = client
            .post(&delivery.hook.url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/fake-github")
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", &delivery.id)
            .header("x-github-hook-id", "1")
            .header("x-hub-signature-256", signature(&delivery.hook.secret, &delivery.body))
            .body(delivery.body.clone())
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        if let Some(d) = world.lock().expect("world lock").webhooks.deliveries.get_mut(index) {
            d.answer = Some(answer);
        }
    }
}

pub fn admin_routes() -> Router<Shared> {
    Router::new()
        .route("/_emulator/webhooks", post(register).get(list))
        .route("/_emulator/webhooks/{delivery}/redeliver", post(redeliver))
}

async fn register(State(world): State<Shared>, Json(hook): Json<Hook>) -> Response {
    world.lock().expect("world lock").webhooks.hooks.push(hook);
    StatusCode::CREATED.into_response()
}

async fn list(State(world): State<Shared>) -> Json<Value> {
    let w = world.lock().expect("world lock");
    Json(Value::Array(
        w.webhooks
            .deliveries
            .iter()
            .map(|d| {
                json!({"id": d.id, "action": d.action, "job": d.job, "answer": d.answer,
                            "body": serde_json::from_slice::<Value>(&d.body).unwrap_or(Value::Null)})
            })
            .collect(),
    ))
}

async fn redeliver(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let mut w = world.lock().expect("world lock");
    let Some(old) = w.webhooks.deliveries.iter().find(|d| d.id == id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such delivery").into_response();
    };
    w.webhooks.deliveries.push(Delivery { answer: None, ..old });
    let index = w.webhooks.deliveries.len() - 1;
    w.webhooks.send(index);
    StatusCode::ACCEPTED.into_response()
}
