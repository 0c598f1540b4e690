//! GitHub Actions' workflow runs and jobs of the emulated repository, as the charm's demand
//! poll reads them: tests queue jobs (`POST /_emulator/jobs` with `{"labels": [...]}`, one run
//! each); a runner taking a job (`/_emulator/runners/{id}/job`) takes the oldest queued job
//! its labels serve, and finishing it completes the job; `POST /_emulator/jobs/{id}/cancel`
//! completes a queued one without a runner. The API lists runs (`status`, pages,
//! ETags) and a run's jobs, built on GitHub's own examples from its OpenAPI description
//! (`openapi/workflow-templates.json`), which the contract test checks the answers against.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{page_links, with_etag};
use crate::gate::error;
use crate::state::rfc3339;
use crate::Shared;

const TEMPLATES: &str = include_str!("../openapi/workflow-templates.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    InProgress,
    Completed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
        }
    }
}

/// One job, alone in its run (the run shares its id).
#[derive(Debug, Clone)]
pub struct WorkflowJob {
    pub id: u64,
    pub labels: Vec<String>,
    pub status: JobStatus,
    /// The runner (id, name) that took it.
    pub runner: Option<(u64, String)>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// The repository's jobs.
#[derive(Debug, Default)]
pub struct Actions {
    pub jobs: BTreeMap<u64, WorkflowJob>,
    next_id: u64,
}

impl Actions {
    /// A new queued job (and its run); its id.
    pub fn queue(&mut self, labels: Vec<String>, now: String) -> u64 {
        self.next_id += 1;
        let id = 5_000 + self.next_id;
        self.jobs.insert(
            id,
            WorkflowJob {
                id,
                labels,
                status: JobStatus::Queued,
                runner: None,
                created_at: now,
                started_at: None,
                completed_at: None,
            },
        );
        id
    }

    /// The oldest queued job whose every label the runner carries (as GitHub matches them,
    /// without regard to case) goes in progress on it.
    pub fn take(&mut self, runner: (u64, String), runner_labels: &[String], now: String) -> Option<u64> {
        let serves = |job: &WorkflowJob| {
            job.labels
                .iter()
                .all(|l| runner_labels.iter().any(|r| r.eq_ignore_ascii_case(l)))
        };
        let job = self
            .jobs
            .values_mut()
            .find(|j| j.status == JobStatus::Queued && serves(j))?;
        job.status = JobStatus::InProgress;
        job.runner = Some(runner);
        job.started_at = Some(now);
        Some(job.id)
    }

    /// The job in progress on `runner_id`, if any, completes; the ids completed.
    pub fn finish(&mut self, runner_id: u64, now: String) -> Vec<u64> {
        let mut done = Vec::new();
        for job in self.jobs.values_mut() {
            if job.status == JobStatus::InProgress && job.runner.as_ref().is_some_and(|(id, _)| *id == runner_id) {
                job.status = JobStatus::Completed;
                job.completed_at = Some(now.clone());
                done.push(job.id);
            }
        }
        done
    }

    fn job_json(&self, job: &WorkflowJob, base: &str) -> Value {
        let mut value = template("job");
        let done = job.status == JobStatus::Completed;
        for (key, field) in [
            ("id", json!(job.id)),
            ("run_id", json!(job.id)),
            ("status", json!(job.status.as_str())),
            ("conclusion", if done { json!("success") } else { Value::Null }),
            ("labels", json!(job.labels)),
            ("runner_id", json!(job.runner.as_ref().map(|(id, _)| id))),
            ("runner_name", json!(job.runner.as_ref().map(|(_, name)| name))),
            ("created_at", json!(job.created_at)),
            ("started_at", json!(job.started_at.as_ref().unwrap_or(&job.created_at))),
            ("completed_at", json!(job.completed_at)),
            ("url", json!(format!("{base}/jobs/{}", job.id))),
            ("run_url", json!(format!("{base}/runs/{}", job.id))),
            ("steps", json!([])),
        ] {
            value[key] = field;
        }
        value
    }

    fn run_json(&self, job: &WorkflowJob, base: &str) -> Value {
        let mut value = template("workflow_run");
        let done = job.status == JobStatus::Completed;
        for (key, field) in [
            ("id", json!(job.id)),
            ("status", json!(job.status.as_str())),
            ("conclusion", if done { json!("success") } else { Value::Null }),
            ("created_at", json!(job.created_at)),
            (
                "updated_at",
                json!(job
                    .completed_at
                    .as_ref()
                    .or(job.started_at.as_ref())
                    .unwrap_or(&job.created_at)),
            ),
            ("url", json!(format!("{base}/runs/{}", job.id))),
            ("jobs_url", json!(format!("{base}/runs/{}/jobs", job.id))),
        ] {
            value[key] = field;
        }
        value
    }
}

/// GitHub's example of a `job` or a `workflow_run`.
fn template(kind: &str) -> Value {
    let templates: Value = serde_json::from_str(TEMPLATES).expect("the templates are JSON");
    templates[kind].clone()
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v3/repos/{owner}/{repo}/actions/runs", get(list_runs))
        .route(
            "/api/v3/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            get(list_jobs),
        )
        .route("/api/v3/repos/{owner}/{repo}/actions/jobs/{job_id}", get(get_job))
}

pub fn admin_routes() -> Router<Shared> {
    Router::new()
        .route("/_emulator/jobs", post(queue).get(jobs))
        .route("/_emulator/jobs/{id}/cancel", post(cancel))
}

/// A queued job is cancelled (completes without a runner), as a user cancelling its run does.
async fn cancel(State(world): State<Shared>, Path(id): Path<u64>) -> Response {
    let mut w = world.lock().expect("world lock");
    let now = rfc3339(w.now());
    match w.actions.jobs.get_mut(&id) {
        Some(job) if job.status == JobStatus::Queued => {
            job.status = JobStatus::Completed;
            job.completed_at = Some(now);
        }
        Some(_) => return error(StatusCode::CONFLICT, "the job is not queued"),
        None => return error(StatusCode::NOT_FOUND, "Not Found"),
    }
    w.job_changed(id, "completed");
    StatusCode::OK.into_response()
}

fn base(base_url: &str, owner: &str, repo: &str) -> String {
    format!("{base_url}/api/v3/repos/{owner}/{repo}/actions")
}

fn paging(q: &HashMap<String, String>) -> (usize, usize) {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    (per_page, page)
}

async fn list_runs(
    State(world): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (per_page, page) = paging(&q);
    let w = world.lock().expect("world lock");
    let base = base(&w.base_url, &owner, &repo);
    let mut runs: Vec<&WorkflowJob> = w
        .actions
        .jobs
        .values()
        .filter(|j| q.get("status").is_none_or(|s| s == j.status.as_str()))
        .collect();
    runs.reverse(); // newest first, as GitHub lists them
    let total = runs.len();
    let shown: Vec<Value> = runs
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|j| w.actions.run_json(j, &base))
        .collect();
    let status = q.get("status").map(|s| format!("&status={s}")).unwrap_or_default();
    let links = page_links(&format!("{base}/runs"), &status, per_page, page, total);
    with_etag(
        &headers,
        StatusCode::OK,
        json!({"total_count": total, "workflow_runs": shown}),
        links,
    )
}

async fn list_jobs(
    State(world): State<Shared>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let w = world.lock().expect("world lock");
    let Some(job) = w.actions.jobs.get(&run_id) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let body = json!({"total_count": 1, "jobs": [w.actions.job_json(job, &base(&w.base_url, &owner, &repo))]});
    with_etag(&headers, StatusCode::OK, body, Vec::new())
}

async fn get_job(
    State(world): State<Shared>,
    Path((owner, repo, job_id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let w = world.lock().expect("world lock");
    let Some(job) = w.actions.jobs.get(&job_id) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let body = w.actions.job_json(job, &base(&w.base_url, &owner, &repo));
    with_etag(&headers, StatusCode::OK, body, Vec::new())
}

#[derive(Deserialize)]
struct QueueRequest {
    labels: Vec<String>,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

async fn queue(State(world): State<Shared>, Json(request): Json<QueueRequest>) -> Response {
    let mut w = world.lock().expect("world lock");
    let now = rfc3339(w.now());
    let ids: Vec<u64> = (0..request.count)
        .map(|_| w.actions.queue(request.labels.clone(), now.clone()))
        .collect();
    for id in &ids {
        w.job_changed(*id, "queued");
    }
    (StatusCode::CREATED, Json(json!({"ids": ids}))).into_response()
}

async fn jobs(State(world): State<Shared>) -> Json<Value> {
    let w = world.lock().expect("world lock");
    Json(Value::Array(
        w.actions
            .jobs
            .values()
            .map(|j| json!({"id": j.id, "status": j.status.as_str(), "labels": j.labels, "runner_id": j.runner.as_ref().map(|(id, _)| id)}))
            .collect(),
    ))
}
