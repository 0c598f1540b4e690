//! The HTTP side of the client: headers, timeouts, proxies, retries, pages and ETags (what
//! an answer says is read in [`super::answer`]).
//!
//! Retries (bounded, spaced, documented; research/github-api.md §5.2):
//! - 5xx, timeouts and connection failures are retried for idempotent requests only, with
//!   exponential backoff and jitter, at most `RetryPolicy::attempts` tries in all;
//! - a secondary rate limit (403/429 with `retry-after` or "secondary rate limit") waits
//!   `retry-after` (or `secondary_wait`) and retries, unless that wait is over `max_wait`;
//! - a used-up primary limit (`x-ratelimit-remaining: 0`) is never retried: the error
//!   carries the reset time, so no retry storm;
//! - anything else (401, 403, 404, 409, 422) is returned at once.
//!
//! The token goes only to the API's own origin: a `Link: next` to another scheme, host or port
//! is an error, never followed. No answer is read past [`MAX_BODY`] bytes.

use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::answer::{classify, decode, excerpt, header, next_link, read_body, BodyError, Verdict};
use super::config::{http_client, ClientConfig};
use super::error::with_causes;
use super::error::GithubError;
use super::etag::{CachedPage, EtagCache};
use super::scope::Scope;
use super::types::ErrorBody;

const API_VERSION: &str = "2022-11-28";
/// A guard against a server whose `next` links never end.
const MAX_PAGES: usize = 1000;
/// The largest answer body read from GitHub (a page of 100 runners is about 100 KB).
pub const MAX_BODY: usize = 8 << 20;

/// What the rate-limit headers said last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub used: Option<u64>,
    pub reset: Option<u64>,
}

/// Calls made by this client, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Of those, answered `304 Not Modified` (free of rate limit).
    pub not_modified: u64,
    pub retries: u64,
    /// Answers by HTTP status (`304`s included).
    pub by_status: std::collections::BTreeMap<u16, u64>,
    pub rate_limit: RateLimit,
}

/// A request described as data, sent from one place.
pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    /// The JSON request body, serialised from a wire type.
    pub body: Option<String>,
    /// Safe to send twice: retried on 5xx and timeouts.
    pub idempotent: bool,
    /// Send `If-None-Match` and keep the ETag.
    pub conditional: bool,
}

/// A successful answer.
pub(crate) struct Answer {
    pub body: String,
    pub next: Option<String>,
}

/// The GitHub client of one scope.
pub struct GithubClient {
    pub(crate) config: ClientConfig,
    http: reqwest::Client,
    stats: Mutex<CallStats>,
    pub(super) etags: Mutex<EtagCache>,
}

impl GithubClient {
    pub fn new(config: ClientConfig) -> Result<Self, GithubError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/vnd.github+json"));
        headers.insert("x-github-api-version", HeaderValue::from_static(API_VERSION));
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| GithubError::Url("the token holds characters HTTP headers cannot carry".into()))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let agent = concat!("github-runner-charm/", env!("CARGO_PKG_VERSION"));
        headers.insert(USER_AGENT, HeaderValue::from_static(agent));
        let builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout);
        let http = http_client(builder, &config.proxy, config.connect_timeout)?;
        Ok(GithubClient {
            config,
            http,
            stats: Mutex::default(),
            etags: Mutex::default(),
        })
    }

    pub fn scope(&self) -> &Scope {
        &self.config.scope
    }

    pub fn stats(&self) -> CallStats {
        self.stats.lock().expect("stats lock poisoned").clone()
    }

    /// The ETag cache, to keep in the charm's state between hooks.
    pub fn etag_cache(&self) -> EtagCache {
        self.etags.lock().expect("etag lock poisoned").clone()
    }

    pub fn with_etag_cache(self, cache: EtagCache) -> Self {
        *self.etags.lock().expect("etag lock poisoned") = cache;
        self
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, GithubError> {
        self.config
            .api_base
            .join(path)
            .map_err(|e| GithubError::Url(format!("{path}: {e}")))
    }

    /// Sends `request`, retrying as the module doc says.
    pub(crate) async fn send(&self, request: Request) -> Result<Answer, GithubError> {
        let policy = &self.config.retry;
        let url = request.url.to_string();
        let cached = request
            .conditional
            .then(|| self.etags.lock().expect("etag lock poisoned").get(&url).cloned())
            .flatten();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = self.http.request(request.method.clone(), request.url.clone());
            if let Some(page) = &cached {
                builder = builder.header(IF_NONE_MATCH, &page.etag);
            }
            if let Some(body) = &request.body {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            self.count(|s| s.requests += 1);
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) if request.idempotent && attempt < policy.attempts && (e.is_timeout() || e.is_connect()) => {
                    self.backoff(attempt, None).await;
                    continue;
                }
                Err(e) if e.is_timeout() => {
                    return Err(GithubError::Timeout {
                        url,
                        timeout: self.config.request_timeout,
                        attempts: attempt,
                    });
                }
                Err(e) => {
                    return Err(GithubError::Transport {
                        url,
                        detail: with_causes(&e),
                    })
                }
            };
            let status = response.status();
            self.count(|s| *s.by_status.entry(status.as_u16()).or_default() += 1);
            let headers = response.headers().clone();
            self.note_rate_limit(&headers);
            let body = match read_body(response, MAX_BODY).await {
                Ok(body) => body,
                Err(BodyError::TooLarge) => return Err(GithubError::TooLarge { url, limit: MAX_BODY }),
                Err(BodyError::Transport(e)) if request.idempotent && attempt < policy.attempts => {
                    tracing::debug!("reading {url}: {e}; retrying");
                    self.backoff(attempt, None).await;
                    continue;
                }
                Err(BodyError::Transport(e)) => {
                    return Err(GithubError::Transport {
                        url,
                        detail: with_causes(&e),
                    })
                }
            };
            if status == StatusCode::NOT_MODIFIED {
                if let Some(page) = cached {
                    self.count(|s| s.not_modified += 1);
                    return Ok(Answer {
                        body: page.body,
                        next: page.next,
                    });
                }
            }
            if status.is_success() {
                let next = next_link(&headers);
                if let (true, Some(etag)) = (request.conditional, header(&headers, ETAG.as_str())) {
                    let page = CachedPage {
                        etag,
                        body: body.clone(),
                        next: next.clone(),
                    };
                    self.etags.lock().expect("etag lock poisoned").put(url.clone(), page);
                }
                return Ok(Answer { body, next });
            }
            let message = serde_json::from_str::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.message)
                .unwrap_or_else(|| excerpt(&body));
            match classify(status, &headers, &message, policy) {
                Verdict::Fail => return Err(self.error(status, &url, message, attempt, &headers)),
                Verdict::Retry if request.idempotent && attempt < policy.attempts => self.backoff(attempt, None).await,
                Verdict::Retry => return Err(self.error(status, &url, message, attempt, &headers)),
                // Nothing was done by a rate-limited request, so even a POST may go again.
                Verdict::RateLimited(wait) if wait <= policy.max_wait && attempt < policy.attempts => {
                    self.backoff(attempt, Some(wait)).await;
                }
                Verdict::RateLimited(wait) => {
                    return Err(GithubError::SecondaryRateLimited {
                        attempts: attempt,
                        retry_after: wait,
                        message,
                    });
                }
            }
        }
    }

    /// Sends a GET and parses the body.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        url: Url,
        conditional: bool,
    ) -> Result<(T, Option<String>), GithubError> {
        let answer = self
            .send(Request {
                method: Method::GET,
                url: url.clone(),
                body: None,
                idempotent: true,
                conditional,
            })
            .await?;
        Ok((decode(&url, &answer.body)?, answer.next))
    }

    /// Follows `next` links from `first` to the end, parsing each page.
    pub(crate) async fn get_all<T: DeserializeOwned>(&self, first: Url) -> Result<Vec<T>, GithubError> {
        let mut pages = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if !seen.insert(url.to_string()) || pages.len() >= MAX_PAGES {
                return Err(GithubError::Decode {
                    url: url.to_string(),
                    detail: "pagination loops or never ends".into(),
                });
            }
            let (page, link) = self.get::<T>(url.clone(), true).await?;
            pages.push(page);
            next = match link {
                Some(link) => Some(self.follow(&url, &link)?),
                None => None,
            };
        }
        Ok(pages)
    }

    /// The next page `link` of `url`'s answer, only where it is on the API's own origin
    /// (scheme, host and port): the token is sent with it.
    fn follow(&self, url: &Url, link: &str) -> Result<Url, GithubError> {
        let next = Url::parse(link).map_err(|e| GithubError::Decode {
            url: url.to_string(),
            detail: format!("bad next link {link}: {e}"),
        })?;
        let api = &self.config.api_base;
        if next.origin() != api.origin() {
            return Err(GithubError::ForeignLink {
                url: url.to_string(),
                link: next.to_string(),
                api: api.origin().ascii_serialization(),
            });
        }
        Ok(next)
    }

    fn count(&self, change: impl FnOnce(&mut CallStats)) {
        change(&mut self.stats.lock().expect("stats lock poisoned"));
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        let number = |name: &str| header(headers, name).and_then(|v| v.parse().ok());
        let seen = RateLimit {
            limit: number("x-ratelimit-limit"),
            remaining: number("x-ratelimit-remaining"),
            used: number("x-ratelimit-used"),
            reset: number("x-ratelimit-reset"),
        };
        if seen.remaining.is_some() {
            self.count(|s| s.rate_limit = seen);
        }
    }

    async fn backoff(&self, attempt: u32, wait: Option<Duration>) {
        self.count(|s| s.retries += 1);
        let policy = &self.config.retry;
        let delay = wait.unwrap_or_else(|| {
            let exp = policy
                .base_delay
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(policy.max_delay);
            // Up to 50% jitter, so units that failed together do not retry together.
            let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 500;
            exp + exp.mul_f64(jitter as f64 / 1000.0)
        });
        tokio::time::sleep(delay).await;
    }

    fn error(&self, status: StatusCode, url: &str, message: String, attempts: u32, headers: &HeaderMap) -> GithubError {
        let path = self.config.scope.path();
        match status.as_u16() {
            401 => GithubError::TokenRejected { message },
            403 | 429 if header(headers, "x-ratelimit-remaining").as_deref() == Some("0") => GithubError::RateLimited {
                reset: header(headers, "x-ratelimit-reset")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                message,
            },
            403 => GithubError::NoAccess {
                path,
                status: 403,
                message,
            },
            404 => GithubError::NotFound {
                url: url.to_string(),
                message,
            },
            409 => GithubError::Conflict { message },
            s if s >= 500 => GithubError::Server {
                url: url.to_string(),
                status: s,
                attempts,
                message,
            },
            s => GithubError::Refused {
                url: url.to_string(),
                status: s,
                message,
            },
        }
    }
}
