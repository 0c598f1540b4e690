//! GitHub's REST API for self-hosted runners, as one typed client.
//!
//! Owns URLs, auth, wire types, retries, pagination, conditional requests and error mapping;
//! callers see domain types and [`GithubError`] variants they can act on. Endpoints used
//! (`{scope}` is `/repos/{owner}/{repo}` or `/orgs/{org}`):
//!
//! | call | endpoint | token needs |
//! |---|---|---|
//! | [`GithubClient::list_runners`] | `GET {scope}/actions/runners?per_page=100` (every page, ETag) | repo: `repo` / Administration read; org: `admin:org` / Self-hosted runners read |
//! | [`GithubClient::get_runner`] | `GET {scope}/actions/runners/{id}` | as above |
//! | [`GithubClient::delete_runner`] | `DELETE {scope}/actions/runners/{id}` | … write |
//! | [`GithubClient::registration_token`] | `POST {scope}/actions/runners/registration-token` | … write |
//! | [`GithubClient::remove_token`] | `POST {scope}/actions/runners/remove-token` | … write |
//! | [`GithubClient::generate_jit_config`] | `POST {scope}/actions/runners/generate-jitconfig` | … write |
//! | [`GithubClient::runner_downloads`] | `GET {scope}/actions/runners/downloads` (ETag) | … read |
//! | [`GithubClient::runner_groups`] | `GET /orgs/{org}/actions/runner-groups` | `admin:org` read |
//! | [`GithubClient::queued_jobs`] | `GET /repos/{owner}/{repo}/actions/runs?status=queued\|in_progress`, then `…/runs/{id}/jobs?filter=latest` (ETags) | `repo` / Actions read |
//!
//! It must not know about LXD, Juju or the host.

mod answer;
mod client;
mod config;
mod error;
mod etag;
mod jobs;
mod runners;
mod scope;
mod types;

pub use client::{CallStats, GithubClient, RateLimit, MAX_BODY};
pub use config::{api_base, http_client, ClientConfig, Proxy, RetryPolicy, REQUEST_TIMEOUT};
pub use error::GithubError;
pub use etag::{CachedPage, EtagCache};
pub use jobs::{serves, Jobs, WorkflowJob};
pub use runners::Deleted;
pub use scope::Scope;
pub use types::{AuthToken, JitConfig, Runner, RunnerApplication, RunnerGroup, RunnerLabel, RunnerStatus};
