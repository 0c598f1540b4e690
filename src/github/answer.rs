//! What one answer from GitHub says, read without I/O but for its body: whether to retry it,
//! its headers, its `next` page, its body (bounded) and its JSON.

use std::time::Duration;

use reqwest::header::{HeaderMap, LINK, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use super::config::RetryPolicy;
use super::error::GithubError;

pub(super) enum Verdict {
    Fail,
    /// A server error: worth another try after the backoff, if the request is idempotent.
    Retry,
    /// A secondary rate limit: wait this long, then try again.
    RateLimited(Duration),
}

pub(super) fn classify(status: StatusCode, headers: &HeaderMap, message: &str, policy: &RetryPolicy) -> Verdict {
    if status.is_server_error() {
        return Verdict::Retry;
    }
    let rate_limit_status = matches!(status.as_u16(), 403 | 429);
    // A used-up primary limit is never retried before its reset: `error` reports it.
    if !rate_limit_status || header(headers, "x-ratelimit-remaining").as_deref() == Some("0") {
        return Verdict::Fail;
    }
    let retry_after = header(headers, RETRY_AFTER.as_str())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let secondary = retry_after.is_some() || message.to_ascii_lowercase().contains("secondary rate limit");
    // A 403 with neither sign is a real "forbidden"; a bare 429 is a rate limit all the same.
    if !secondary && status.as_u16() == 403 {
        return Verdict::Fail;
    }
    Verdict::RateLimited(retry_after.unwrap_or(policy.secondary_wait))
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The `rel="next"` URL of a `Link` header (case-insensitive), if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = header(headers, LINK.as_str())?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""));
        is_next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// Why a body was not read.
pub(super) enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// The body of `response` as text, refused past `limit` bytes (declared or sent).
pub(super) async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<String, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(super) fn decode<T: DeserializeOwned>(url: &Url, body: &str) -> Result<T, GithubError> {
    serde_json::from_str(body).map_err(|e| GithubError::Decode {
        url: url.to_string(),
        detail: format!("{e}; body starts {:?}", excerpt(body)),
    })
}

pub(super) fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn next_link_is_found_among_others_whatever_the_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; REL="NEXT", <https://x/a?page=9>; rel="last""#),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("https://x/a?page=3"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
