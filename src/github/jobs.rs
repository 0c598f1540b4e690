//! The jobs of a repository waiting for a runner: the demand the elastic pool follows between
//! webhooks. Its workflow runs that are queued or in progress (a matrix run is in progress
//! while some of its jobs still wait), then each run's latest jobs, keeping those `queued`.
//! Every page is asked for with its ETag, so an unchanged queue costs only free 304s.

use serde::Deserialize;

use super::client::GithubClient;
use super::error::GithubError;
use super::scope::Scope;

/// A repository's jobs as one look saw them: those waiting (`queued`), and those a runner has
/// taken (`in_progress` or `completed`, with the time it did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jobs {
    pub queued: Vec<WorkflowJob>,
    pub started: Vec<WorkflowJob>,
}

#[derive(Debug, Deserialize)]
struct RunList {
    workflow_runs: Vec<Run>,
}

#[derive(Debug, Deserialize)]
struct Run {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct JobList {
    jobs: Vec<WorkflowJob>,
}

/// A job as GitHub describes it, in a run's list, alone, or in a `workflow_job` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowJob {
    pub id: u64,
    /// `queued`, `waiting`, `in_progress`, `completed`, …
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: Vec<String>,
    /// When it was queued and when a runner took it (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    /// The runner that took it.
    #[serde(default)]
    pub runner_name: Option<String>,
}

impl WorkflowJob {
    /// Whether a runner whose name starts with `prefix` (one unit's) took it.
    pub fn taken_by(&self, prefix: &str) -> bool {
        self.runner_name.as_deref().is_some_and(|name| name.starts_with(prefix))
    }
}

impl GithubClient {
    /// The repository's queued jobs; `None` for an organisation (see [`GithubClient::jobs`]).
    pub async fn queued_jobs(&self) -> Result<Option<Vec<WorkflowJob>>, GithubError> {
        Ok(self.jobs().await?.map(|jobs| jobs.queued))
    }

    /// One job of `owner/repo` as GitHub sees it now (with its ETag: free while unchanged);
    /// `None` when there is no such job (any more).
    pub async fn job(&self, owner: &str, repo: &str, id: u64) -> Result<Option<WorkflowJob>, GithubError> {
        let url = self.url(&format!("repos/{owner}/{repo}/actions/jobs/{id}"))?;
        match self.get(url, true).await {
            Ok((job, _)) => Ok(Some(job)),
            Err(GithubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The repository's queued jobs, and those its runs' runners took; `None` for an
    /// organisation, which has no such listing (its queue is heard from `workflow_job`
    /// webhooks).
    pub async fn jobs(&self) -> Result<Option<Jobs>, GithubError> {
        let Scope::Repo { owner, repo } = self.scope().clone() else {
            return Ok(None);
        };
        // By id: a run moving from queued to in progress between the lists is in both.
        let mut runs = std::collections::BTreeSet::new();
        for status in ["queued", "in_progress"] {
            let mut url = self.url(&format!("repos/{owner}/{repo}/actions/runs"))?;
            url.query_pairs_mut()
                .append_pair("status", status)
                .append_pair("per_page", "100");
            let pages: Vec<RunList> = self.get_all(url).await?;
            runs.extend(pages.into_iter().flat_map(|p| p.workflow_runs).map(|r| r.id));
        }
        self.forget_jobs_of_other_runs(&owner, &repo, &runs);
        let mut queued = std::collections::BTreeMap::new();
        let mut started = Vec::new();
        for run in runs {
            let mut url = self.url(&format!("repos/{owner}/{repo}/actions/runs/{run}/jobs"))?;
            url.query_pairs_mut()
                .append_pair("filter", "latest")
                .append_pair("per_page", "100");
            let pages: Vec<JobList> = match self.get_all(url).await {
                Ok(pages) => pages,
                // The run finished and was deleted between the two lists.
                Err(GithubError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            for job in pages.into_iter().flat_map(|p| p.jobs) {
                match job.status.as_str() {
                    "queued" => {
                        queued.insert(job.id, job);
                    }
                    "in_progress" | "completed" if job.started_at.is_some() => started.push(job),
                    _ => {}
                }
            }
        }
        Ok(Some(Jobs {
            queued: queued.into_values().collect(),
            started,
        }))
    }

    /// Drops the cached page of one job (it ended: it is not asked after again).
    pub fn forget_job(&self, owner: &str, repo: &str, id: u64) {
        if let Ok(url) = self.url(&format!("repos/{owner}/{repo}/actions/jobs/{id}")) {
            let url = url.to_string();
            self.etags.lock().expect("etag lock poisoned").retain(|u| u != url);
        }
    }

    /// Drops the cached jobs pages of runs no longer queued or running: the cache lives in the
    /// state file every hook reads, and a busy repository has runs without end.
    fn forget_jobs_of_other_runs(&self, owner: &str, repo: &str, runs: &std::collections::BTreeSet<u64>) {
        let Ok(base) = self.url(&format!("repos/{owner}/{repo}/actions/runs/")) else {
            return;
        };
        let base = base.to_string();
        let mut etags = self.etags.lock().expect("etag lock poisoned");
        etags.retain(|url| {
            let Some(rest) = url.strip_prefix(&base) else {
                return true;
            };
            match rest.split_once("/jobs") {
                Some((run, _)) => run.parse().is_ok_and(|run: u64| runs.contains(&run)),
                None => true,
            }
        });
    }
}

/// Whether runners with `runner_labels` can take a job asking for `job_labels`: every label
/// of the job among the runner's, without regard to case (as GitHub matches them).
pub fn serves(runner_labels: &[String], job_labels: &[String]) -> bool {
    job_labels
        .iter()
        .all(|l| runner_labels.iter().any(|r| r.eq_ignore_ascii_case(l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_job_is_served_when_every_label_it_asks_for_is_the_runner_s_whatever_the_case() {
        let runner = labels(&["self-hosted", "linux", "x64", "github-runner", "large"]);
        assert!(serves(&runner, &labels(&["self-hosted", "Linux"])));
        assert!(serves(&runner, &labels(&["large"])));
        assert!(!serves(&runner, &labels(&["self-hosted", "gpu"])));
        assert!(!serves(&runner, &labels(&["ubuntu-latest"])), "a GitHub-hosted label");
    }
}
