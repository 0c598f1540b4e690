//! GitHub's REST endpoints for self-hosted runners, at repository and organisation scope,
//! answering with the status codes, bodies and headers of the official description
//! (`Link` pagination, `ETag`s, 201 for tokens, 204 for deletes, 422 for a busy runner, 409 for
//! a taken JIT name).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::gate::error;
use crate::state::{labels, rfc3339, JitRecord, NewRunner, ScopeConfig, TokenKind, Tombstone};
use crate::Shared;

/// The runner routes, nested under each scope prefix.
pub fn runner_routes() -> Router<Shared> {
    Router::new()
        .route("/", get(list))
        .route("/downloads", get(downloads))
        .route("/registration-token", post(registration_token))
        .route("/remove-token", post(remove_token))
        .route("/generate-jitconfig", post(generate_jitconfig))
        .route("/{runner_id}", get(get_runner))
        .route("/{runner_id}", delete(delete_runner))
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .nest("/api/v3/repos/{owner}/{repo}/actions/runners", runner_routes())
        .nest("/api/v3/orgs/{org}/actions/runners", runner_routes())
        .route("/api/v3/orgs/{org}/actions/runner-groups", get(runner_groups))
        .route("/api/v3/rate_limit", get(rate_limit))
}

/// A JSON body with a weak ETag of its text; `304` when the client already has it.
pub(crate) fn with_etag(
    headers: &HeaderMap,
    status: StatusCode,
    body: Value,
    extra: Vec<(&'static str, String)>,
) -> Response {
    let text = body.to_string();
    let etag = format!(
        "W/\"{}\"",
        Sha256::digest(text.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response
            .headers_mut()
            .insert("etag", HeaderValue::from_str(&etag).expect("hex is a valid header"));
        return response;
    }
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert("etag", HeaderValue::from_str(&etag).expect("hex is a valid header"));
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn list(
    State(world): State<Shared>,
    Path(scope): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let w = world.lock().expect("world lock");
    let all: Vec<Value> = w
        .runners
        .values()
        .filter(|r| q.get("name").is_none_or(|n| *n == r.name))
        .map(|r| w.runner_json(r))
        .collect();
    let total = all.len();
    let runners: Vec<Value> = all.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let base = format!("{}/api/v3/{}/actions/runners", w.base_url, scope_prefix(&scope));
    let extra = page_links(&base, "", per_page, page, total);
    with_etag(
        &headers,
        StatusCode::OK,
        json!({"total_count": total, "runners": runners}),
        extra,
    )
}

/// The `Link` header of page `page` of `total` items (`query` goes before `per_page`, e.g.
/// `&status=queued`); none for a single page.
pub(crate) fn page_links(
    base: &str,
    query: &str,
    per_page: usize,
    page: usize,
    total: usize,
) -> Vec<(&'static str, String)> {
    let pages = total.div_ceil(per_page).max(1);
    let query = query.trim_start_matches('&');
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("{query}&")
    };
    let link = |p: usize, rel: &str| format!("<{base}?{query}per_page={per_page}&page={p}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < pages {
        links.push(link(page + 1, "next"));
        links.push(link(pages, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    if links.is_empty() {
        Vec::new()
    } else {
        vec![("link", links.join(", "))]
    }
}

fn scope_prefix(scope: &HashMap<String, String>) -> String {
    match (scope.get("org"), scope.get("owner"), scope.get("repo")) {
        (Some(org), _, _) => format!("orgs/{org}"),
        (_, Some(owner), Some(repo)) => format!("repos/{owner}/{repo}"),
        _ => String::new(),
    }
}

fn runner_id(params: &HashMap<String, String>) -> Option<u64> {
    params.get("runner_id").and_then(|v| v.parse().ok())
}

async fn get_runner(State(world): State<Shared>, Path(params): Path<HashMap<String, String>>) -> Response {
    let w = world.lock().expect("world lock");
    match runner_id(&params).and_then(|id| w.runners.get(&id)) {
        Some(runner) => Json(w.runner_json(runner)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn delete_runner(State(world): State<Shared>, Path(params): Path<HashMap<String, String>>) -> Response {
    let mut w = world.lock().expect("world lock");
    let Some(runner) = runner_id(&params).and_then(|id| w.runners.get(&id)).cloned() else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    if runner.busy {
        let message = format!("Bad request - Runner \"{}\" is still running a job", runner.name);
        let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest/actions/self-hosted-runners#delete-a-self-hosted-runner-from-an-organization"});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    w.remove_runner(runner.id, Tombstone::Removed);
    StatusCode::NO_CONTENT.into_response()
}

async fn downloads(State(world): State<Shared>, headers: HeaderMap) -> Response {
    let w = world.lock().expect("world lock");
    let t = &w.tarball;
    let mut linux = json!({
        "os": "linux",
        "architecture": crate::stub::arch(),
        "download_url": format!("{}/_emulator/downloads/{}", w.base_url, t.filename),
        "filename": t.filename,
        "sha256_checksum": t.sha256,
    });
    match w.tamper.as_deref() {
        Some("checksum") => linux["sha256_checksum"] = json!("0".repeat(64)),
        Some("no-checksum") => {
            linux
                .as_object_mut()
                .expect("an object literal")
                .remove("sha256_checksum");
        }
        _ => {}
    }
    let other = json!({"os": "osx", "architecture": "x64", "download_url": format!("{}/_emulator/downloads/none", w.base_url), "filename": "actions-runner-osx-x64.tar.gz"});
    with_etag(&headers, StatusCode::OK, json!([other, linux]), Vec::new())
}

fn token_response(world: &Shared, kind: TokenKind) -> Response {
    let mut w = world.lock().expect("world lock");
    let (token, expires) = w.issue_token(kind);
    (
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_at": rfc3339(expires)})),
    )
        .into_response()
}

async fn registration_token(State(world): State<Shared>) -> Response {
    token_response(&world, TokenKind::Registration)
}

async fn remove_token(State(world): State<Shared>) -> Response {
    token_response(&world, TokenKind::Remove)
}

fn invalid(message: &str) -> Response {
    let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization"});
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

async fn generate_jitconfig(State(world): State<Shared>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(name) = body.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        return invalid("Invalid request.\n\n\"name\" wasn't supplied.");
    };
    let Some(group_id) = body.get("runner_group_id").and_then(Value::as_u64) else {
        return invalid("Invalid request.\n\n\"runner_group_id\" wasn't supplied.");
    };
    let Some(names) = body.get("labels").and_then(Value::as_array).and_then(|l| {
        l.iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
    }) else {
        return invalid("Invalid request.\n\n\"labels\" wasn't supplied.");
    };
    if names.is_empty() || names.len() > 100 {
        return invalid("Invalid request.\n\n\"labels\" must have between 1 and 100 items.");
    }
    let mut w = world.lock().expect("world lock");
    let group_ok = match &w.config.scope {
        ScopeConfig::Org(_) => w.config.groups.iter().any(|(id, _)| *id == group_id),
        ScopeConfig::Repo { .. } => group_id == 1,
    };
    if !group_ok {
        return invalid(&format!("Invalid Argument - Runner group {group_id} does not exist."));
    }
    let runner = NewRunner {
        labels: labels(&names, false),
        group_id,
        os: "unknown".into(),
        ..NewRunner::named(name)
    };
    let id = match w.add_runner(runner) {
        Ok(id) => id,
        Err(message) => return error(StatusCode::CONFLICT, &message),
    };
    let secret = w.mint(40);
    let expires = w.now() + std::time::Duration::from_secs(3600);
    w.jit.insert(
        secret.clone(),
        JitRecord {
            runner_id: id,
            used: false,
            expires,
        },
    );
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let runner_file = format!(
        "RUNNER_ID={id}\nRUNNER_NAME={name}\nEPHEMERAL=true\nEMULATOR={}\n",
        w.base_url
    );
    let blob =
        json!({".runner": b64(&runner_file), ".credentials": b64(&secret), ".credentials_rsaparams": b64("stub")});
    let runner = w.runner_json(&w.runners[&id]);
    let encoded = b64(&blob.to_string());
    w.jit_configs.push(encoded.clone());
    (
        StatusCode::CREATED,
        Json(json!({"runner": runner, "encoded_jit_config": encoded})),
    )
        .into_response()
}

async fn runner_groups(State(world): State<Shared>) -> Response {
    let w = world.lock().expect("world lock");
    let groups: Vec<Value> = w
        .config
        .groups
        .iter()
        .map(|(id, name)| {
            json!({
                "id": id, "name": name, "visibility": "all", "default": *id == 1,
                "runners_url": format!("{}/api/v3/orgs/{}/actions/runner-groups/{id}/runners", w.base_url, w.config.scope.path()),
                "inherited": false, "allows_public_repositories": true,
                "restricted_to_workflows": false, "selected_workflows": [], "workflow_restrictions_read_only": false,
            })
        })
        .collect();
    Json(json!({"total_count": groups.len(), "runner_groups": groups})).into_response()
}

async fn rate_limit(State(world): State<Shared>, headers: HeaderMap) -> Response {
    let mut w = world.lock().expect("world lock");
    let token = crate::gate::bearer(&headers).unwrap_or_default();
    let (limit, used, reset) = w.budget(&token);
    let core = json!({"limit": limit, "used": used, "remaining": limit.saturating_sub(used), "reset": reset});
    let reset = w.epoch() + 60;
    let search = json!({"limit": 30, "used": 0, "remaining": 30, "reset": reset});
    let registration = json!({"limit": 10000, "used": 0, "remaining": 10000, "reset": reset + 3540});
    let resources = json!({"core": core, "search": search, "actions_runner_registration": registration});
    Json(json!({"resources": resources, "rate": core})).into_response()
}
