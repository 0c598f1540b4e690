//! Every response the emulator gives for a covered operation validates against GitHub's own
//! OpenAPI schema for that operation and status; so does every error body.

use fake_github::contract::Spec;
use fake_github::{Config, Emulator, ScopeConfig};
use serde_json::{json, Value};

const TOKEN: &str = "ghp_emulatortoken";

struct Call {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

async fn send(emulator: &Emulator, call: &Call, token: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v3{}", emulator.base_url, call.path);
    let mut request = client
        .request(call.method.parse().expect("method"), url)
        .header("user-agent", "contract-test")
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let response = request.send().await.expect("emulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        },
    )
}

fn call(method: &'static str, path: impl Into<String>, body: Option<Value>) -> Call {
    Call {
        method,
        path: path.into(),
        body,
    }
}

/// An emulator on a free port serving `scope`.
async fn serving(scope: ScopeConfig) -> Emulator {
    Emulator::start(
        Config {
            scope,
            ..Config::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("starts")
}

async fn check_all(scope: ScopeConfig, prefix: &str) {
    let spec = Spec::load();
    let emulator = serving(scope).await;
    {
        let mut w = emulator.world();
        for i in 0..3 {
            let runner = fake_github::NewRunner {
                labels: fake_github::state::labels(&["gpu".to_string()], true),
                ephemeral: false,
                ..fake_github::NewRunner::named(format!("r-{i}"))
            };
            let id = w.add_runner(runner).expect("add");
            w.runners.get_mut(&id).expect("runner").version = Some("2.330.0".into());
        }
        let busy = *w.runners.keys().next().expect("a runner");
        w.runners.get_mut(&busy).expect("runner").busy = true;
    }
    let busy = *emulator.world().runners.keys().next().expect("a runner");
    let idle = *emulator.world().runners.keys().last().expect("a runner");
    let jit = json!({"name": "jit-1", "runner_group_id": 1, "labels": ["self-hosted", "x"]});
    let calls = [
        call("GET", format!("{prefix}/actions/runners"), None),
        call("GET", format!("{prefix}/actions/runners?per_page=1&page=2"), None),
        call("GET", format!("{prefix}/actions/runners/{busy}"), None),
        call("GET", format!("{prefix}/actions/runners/999999"), None),
        call("GET", format!("{prefix}/actions/runners/downloads"), None),
        call("POST", format!("{prefix}/actions/runners/registration-token"), None),
        call("POST", format!("{prefix}/actions/runners/remove-token"), None),
        call(
            "POST",
            format!("{prefix}/actions/runners/generate-jitconfig"),
            Some(jit.clone()),
        ),
        call(
            "POST",
            format!("{prefix}/actions/runners/generate-jitconfig"),
            Some(jit),
        ),
        call(
            "POST",
            format!("{prefix}/actions/runners/generate-jitconfig"),
            Some(json!({"name": "x", "runner_group_id": 1, "labels": []})),
        ),
        call("DELETE", format!("{prefix}/actions/runners/{busy}"), None),
        call("DELETE", format!("{prefix}/actions/runners/{idle}"), None),
        call("GET", "/rate_limit", None),
    ];
    let mut statuses = Vec::new();
    for c in &calls {
        let (status, body) = send(&emulator, c, Some(TOKEN)).await;
        let path = c.path.split('?').next().expect("path");
        spec.check_response(c.method, path, status, &body)
            .unwrap_or_else(|e| panic!("{e}\nbody: {body}"));
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 404, 200, 201, 201, 201, 409, 422, 422, 204, 200]
    );
    let (status, body) = send(&emulator, &calls[0], Some("ghp_wrong")).await;
    assert_eq!(status, 401);
    spec.check_response("GET", &calls[0].path, status, &body)
        .expect("401 body is a basic error");
}

#[tokio::test]
async fn organisation_responses_match_github_s_schemas() {
    check_all(ScopeConfig::Org("test-org".into()), "/orgs/test-org").await;
    let spec = Spec::load();
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let (status, body) = send(
        &emulator,
        &call("GET", "/orgs/test-org/actions/runner-groups", None),
        Some(TOKEN),
    )
    .await;
    spec.check_response("GET", "/orgs/test-org/actions/runner-groups", status, &body)
        .expect("runner groups");
}

#[tokio::test]
async fn repository_responses_match_github_s_schemas() {
    check_all(
        ScopeConfig::Repo {
            owner: "acme".into(),
            repo: "app".into(),
        },
        "/repos/acme/app",
    )
    .await;
}

#[test]
fn a_list_without_a_required_field_fails_the_contract() {
    let spec = Spec::load();
    let runner = json!({"id": 1, "name": "a", "os": "linux", "busy": false, "labels": []});
    let err = spec
        .check_response(
            "GET",
            "/orgs/o/actions/runners",
            200,
            &json!({"total_count": 1, "runners": [runner]}),
        )
        .expect_err("status is required");
    assert!(err.contains("status"), "{err}");
}

#[tokio::test]
async fn requests_without_user_agent_get_github_s_html_403() {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let response = reqwest::Client::new()
        .get(format!("{}/api/v3/orgs/test-org/actions/runners", emulator.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(response.headers()["content-type"], "text/html");
}

#[tokio::test]
async fn another_scope_is_not_found_for_the_token() {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let (status, body) = send(
        &emulator,
        &call("GET", "/orgs/other-org/actions/runners", None),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Not Found");
}

#[tokio::test]
async fn workflow_runs_and_jobs_match_github_s_schemas_and_follow_the_runner_that_takes_them() {
    let spec = Spec::load();
    let scope = ScopeConfig::Repo {
        owner: "acme".into(),
        repo: "app".into(),
    };
    let emulator = serving(scope).await;
    let (queued, other, runner) = {
        let mut w = emulator.world();
        let now = fake_github::state::rfc3339(w.now());
        let queued = w.actions.queue(vec!["self-hosted".into(), "linux".into()], now.clone());
        let other = w.actions.queue(vec!["self-hosted".into(), "gpu".into()], now);
        let runner = w.add_runner(fake_github::NewRunner::named("r-1")).expect("add");
        (queued, other, runner)
    };
    let get = |path: String| call("GET", path, None);
    let check = async |c: Call| {
        let (status, body) = send(&emulator, &c, Some(TOKEN)).await;
        let path = c.path.split('?').next().expect("path").to_string();
        spec.check_response("GET", &path, status, &body)
            .unwrap_or_else(|e| panic!("{} {e}\nbody: {body}", c.path));
        (status, body)
    };
    let (_, runs) = check(get("/repos/acme/app/actions/runs?status=queued&per_page=100".into())).await;
    let ids: Vec<u64> = runs["workflow_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [other, queued], "newest first");
    let (_, jobs) = check(get(format!("/repos/acme/app/actions/runs/{queued}/jobs?filter=latest"))).await;
    assert_eq!(jobs["jobs"][0]["status"], "queued");
    assert_eq!(jobs["jobs"][0]["runner_id"], Value::Null);
    // The runner (self-hosted, Linux, X64) takes the job its labels serve, not the gpu one.
    emulator.world().runners.get_mut(&runner).expect("runner").pinned_online = true;
    let taken = reqwest::Client::new()
        .post(format!("{}/_emulator/runners/{runner}/job", emulator.base_url))
        .send()
        .await
        .expect("admin");
    assert_eq!(taken.status().as_u16(), 200);
    let (_, jobs) = check(get(format!("/repos/acme/app/actions/runs/{queued}/jobs"))).await;
    assert_eq!(
        (&jobs["jobs"][0]["status"], &jobs["jobs"][0]["runner_id"]),
        (&json!("in_progress"), &json!(runner))
    );
    let (_, still) = check(get("/repos/acme/app/actions/runs?status=queued".into())).await;
    assert_eq!(still["total_count"], 1, "the gpu job waits");
    let (status, _) = check(get("/repos/acme/app/actions/runs/999/jobs".into())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn workflow_job_webhooks_are_signed_and_match_github_s_payload_schemas() {
    use std::sync::{Arc, Mutex};
    let spec = Spec::load();
    let emulator = serving(ScopeConfig::Org("acme".into())).await;
    // A receiver that keeps what it gets.
    type Received = Vec<(axum::http::HeaderMap, Vec<u8>)>;
    let got: Arc<Mutex<Received>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock().expect("lock").push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/webhook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let admin = reqwest::Client::new();
    let registered = admin
        .post(format!("{}/_emulator/webhooks", emulator.base_url))
        .json(&json!({"url": url, "secret": "s3cret-of-the-hook"}))
        .send()
        .await
        .expect("admin");
    assert_eq!(registered.status().as_u16(), 201);
    admin
        .post(format!("{}/_emulator/jobs", emulator.base_url))
        .json(&json!({"labels": ["self-hosted", "linux"]}))
        .send()
        .await
        .expect("queued");
    let runner = emulator
        .world()
        .add_runner(fake_github::NewRunner::named("r-1"))
        .expect("add");
    emulator.world().runners.get_mut(&runner).expect("runner").pinned_online = true;
    admin
        .post(format!("{}/_emulator/runners/{runner}/job", emulator.base_url))
        .send()
        .await
        .expect("taken");
    assert!(emulator.world().finish_job(runner));
    for _ in 0..100 {
        if got.lock().expect("lock").len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = got.lock().expect("lock").clone();
    let actions: Vec<String> = got
        .iter()
        .map(|(headers, body)| {
            let value: Value = serde_json::from_slice(body).expect("JSON");
            spec.check_webhook(&value).unwrap_or_else(|e| panic!("{e}\n{value}"));
            assert_eq!(headers["x-github-event"], "workflow_job");
            assert_eq!(
                headers["x-hub-signature-256"].to_str().expect("ascii"),
                fake_github::webhooks::signature("s3cret-of-the-hook", body)
            );
            assert_eq!(value["repository"]["full_name"], "acme/app");
            value["action"].as_str().expect("action").to_string()
        })
        .collect();
    assert_eq!(actions, ["queued", "in_progress", "completed"]);
    let ids: std::collections::BTreeSet<_> = got.iter().map(|(h, _)| h["x-github-delivery"].clone()).collect();
    assert_eq!(ids.len(), 3, "each delivery has its own id");
    let mut broken: Value = serde_json::from_slice(&got[0].1).expect("JSON");
    broken["workflow_job"].as_object_mut().expect("job").remove("labels");
    assert!(
        spec.check_webhook(&broken).is_err(),
        "a payload without labels fails the contract"
    );
}
