//! What can go wrong talking to GitHub, as variants callers can act on.

use std::time::Duration;

/// An error from the GitHub client. Messages keep what GitHub said.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub rejected the token (401 {message}): check config `token`")]
    TokenRejected { message: String },
    #[error(
        "no access to {path} ({status} {message}): the token needs `repo` (repository) or `admin:org` (organisation) \
         scope, or the path is wrong"
    )]
    NoAccess { path: String, status: u16, message: String },
    #[error("GitHub API rate limit used up ({message}); it resets at {reset} (epoch seconds)")]
    RateLimited { reset: u64, message: String },
    #[error("GitHub's secondary rate limit held after {attempts} tries ({message}); retry in {retry_after:?}")]
    SecondaryRateLimited {
        attempts: u32,
        retry_after: Duration,
        message: String,
    },
    #[error("runner {id} is busy with a job (422 {message})")]
    RunnerBusy { id: u64, message: String },
    #[error("GitHub has no just-in-time runner configuration at {url} (an older GitHub Enterprise Server)")]
    JitUnsupported { url: String },
    #[error("not found: {url} (404 {message})")]
    NotFound { url: String, message: String },
    #[error("conflict: {message} (409)")]
    Conflict { message: String },
    #[error("GitHub refused the request to {url}: {status} {message}")]
    Refused { url: String, status: u16, message: String },
    #[error("GitHub answered {status} for {url} after {attempts} tries: {message}")]
    Server {
        url: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("no answer from GitHub for {url} within {timeout:?} after {attempts} tries")]
    Timeout {
        url: String,
        timeout: Duration,
        attempts: u32,
    },
    #[error("could not reach GitHub at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error(
        "GitHub's answer for {url} links its next page to {link}, not the API's own scheme, host and port \
         ({api}): not followed, so that the token goes nowhere else (check `github-url`, and a proxy in front of \
         GitHub Enterprise that rewrites links)"
    )]
    ForeignLink { url: String, link: String, api: String },
    #[error("GitHub's answer for {url} is over {limit} bytes: not read (is `github-url` GitHub's?)")]
    TooLarge { url: String, limit: usize },
    #[error("GitHub's answer for {url} is not what the API documents: {detail}")]
    Decode { url: String, detail: String },
    #[error("invalid GitHub URL: {0}")]
    Url(String),
}

/// A transport error with its causes, `a: b: c`: reqwest's own message alone is "error
/// sending request for url (…)", the reason ("Connection refused") is in its sources. A cause
/// its parent already quoted is skipped.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
