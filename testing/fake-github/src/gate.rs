//! What GitHub checks before it serves a REST call, as middleware in front of `api`: the
//! request log, injected faults, `User-Agent` (403 HTML without it), the API version (400),
//! the token (401 "Bad credentials"), the scope (404 for one the token cannot see), the
//! primary rate limit (403 with `x-ratelimit-remaining: 0`), and the headers every answer
//! carries. A `304 Not Modified` costs no budget.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::fault::Fault;
use crate::state::LoggedRequest;
use crate::Shared;

const LOGGED_HEADERS: [&str; 6] = [
    "accept",
    "user-agent",
    "x-github-api-version",
    "content-type",
    "if-none-match",
    "authorization",
];

/// A GitHub error response: `{message, documentation_url, status}` (status a string).
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.as_u16().to_string()});
    (status, axum::Json(body)).into_response()
}

pub async fn gate(State(world): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let api_path = path.strip_prefix("/api/v3").unwrap_or(&path).to_string();
    let mut logged = LoggedRequest {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: BTreeMap::new(),
        body: serde_json::from_slice(&bytes).ok(),
        status: 0,
    };
    for name in LOGGED_HEADERS {
        if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
            // The log shows how a request authenticated, never the token itself.
            let shown = if name == "authorization" {
                value.split(' ').next().unwrap_or("").to_string()
            } else {
                value.to_string()
            };
            logged.headers.insert(name.to_string(), shown);
        }
    }
    let token = bearer(&parts.headers);
    let response = match check(&world, &parts.headers, &method, &api_path, token.as_deref()).await {
        Some(refusal) => refusal,
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };
    finish(&world, response, token.as_deref(), &api_path, logged)
}

/// Every check before the handler; `Some` is the refusal.
async fn check(
    world: &Shared,
    headers: &HeaderMap,
    method: &str,
    api_path: &str,
    token: Option<&str>,
) -> Option<Response> {
    let fault = world.lock().expect("world lock").take_fault(method, api_path);
    if let Some(fault) = fault {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if fault.status.is_some() {
            return Some(injected(world, &fault));
        }
    }
    if !headers.contains_key("user-agent") {
        let body = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).";
        return Some((StatusCode::FORBIDDEN, [("content-type", "text/html")], body).into_response());
    }
    if let Some(version) = headers.get("x-github-api-version").and_then(|v| v.to_str().ok()) {
        if version != "2022-11-28" {
            return Some(error(
                StatusCode::BAD_REQUEST,
                &format!("API version {version} is not supported."),
            ));
        }
    }
    let mut w = world.lock().expect("world lock");
    let Some(token) = token.filter(|t| w.config.tokens.iter().any(|k| k == t)) else {
        return Some(error(StatusCode::UNAUTHORIZED, "Bad credentials"));
    };
    if api_path != "/rate_limit" && !in_scope(&w.config.scope.path(), api_path) {
        return Some(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let (limit, used, _) = w.budget(token);
    if api_path != "/rate_limit" && used >= limit {
        let mut response = error(StatusCode::FORBIDDEN, "API rate limit exceeded for user ID 1.");
        response
            .headers_mut()
            .insert("x-ratelimit-remaining", HeaderValue::from(0));
        return Some(response);
    }
    None
}

/// Whether `/orgs/{org}/…` or `/repos/{owner}/{repo}/…` names the served scope.
fn in_scope(scope: &str, api_path: &str) -> bool {
    let parts: Vec<&str> = api_path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["orgs", org, ..] => *org == scope,
        ["repos", owner, repo, ..] => format!("{owner}/{repo}") == scope,
        _ => false,
    }
}

fn injected(world: &Shared, fault: &Fault) -> Response {
    let status = StatusCode::from_u16(fault.status.unwrap_or(500)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match fault.kind.as_deref() {
        Some("primary") => {
            let mut r = error(status, "API rate limit exceeded for user ID 1.");
            r.headers_mut().insert("x-ratelimit-remaining", HeaderValue::from(0));
            r
        }
        Some("secondary") => error(
            status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        ),
        _ => error(status, status.canonical_reason().unwrap_or("Error")),
    };
    if let Some(seconds) = fault.retry_after {
        response.headers_mut().insert("retry-after", HeaderValue::from(seconds));
    }
    let reset = world.lock().expect("world lock").epoch() + 3600;
    response
        .headers_mut()
        .insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

/// Charges the budget (not for a 304), adds GitHub's headers, logs the request.
fn finish(
    world: &Shared,
    mut response: Response,
    token: Option<&str>,
    api_path: &str,
    mut logged: LoggedRequest,
) -> Response {
    let mut w = world.lock().expect("world lock");
    let status = response.status();
    let known = token.filter(|t| w.config.tokens.iter().any(|k| k == t));
    if let Some(token) = known {
        let free =
            status == StatusCode::NOT_MODIFIED || api_path == "/rate_limit" || status == StatusCode::UNAUTHORIZED;
        if !free && !response.headers().contains_key("x-ratelimit-remaining") {
            w.charge(token);
        }
        let (limit, used, reset) = w.budget(token);
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers
            .entry("x-ratelimit-remaining")
            .or_insert(HeaderValue::from(limit.saturating_sub(used)));
        headers.insert("x-ratelimit-used", HeaderValue::from(used));
        headers.entry("x-ratelimit-reset").or_insert(HeaderValue::from(reset));
        headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }
    let request_id = format!("EMU0:{:08X}", w.log.len());
    let headers = response.headers_mut();
    headers.insert("x-github-api-version-selected", HeaderValue::from_static("2022-11-28"));
    headers.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-github-request-id", id);
    }
    logged.status = status.as_u16();
    w.log.push(logged);
    response
}

/// The token of `Authorization: Bearer …` or `token …`.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| token.trim().to_string())
}
