//! Carries a [`Plan`] out: removals, then creations, each batch concurrently under a bound.
//!
//! Guarantees: every outcome is logged and reported, none dropped; one failure does not stop
//! the others (a removal that fails is tried again by the next reconcile); a busy runner is
//! never removed here unless the plan (a flush of busy runners) says so, and a runner that
//! took a job since the plan was made keeps it: its registration is deleted first, and
//! GitHub's "busy" answer leaves the instance alone; removal works on a runner that was only
//! half created.
//!
//! The bound, [`PARALLEL_RUNNER_OPS`] = 4: creating a runner is mostly LXD work (unpacking the
//! image, starting the instance, an exec or two) on a machine whose cores also run the
//! instances; beyond a few at once LXD's own database and disk serialise them anyway, and
//! GitHub's secondary limit (about 180 POSTs a minute per endpoint) is never approached.
//! `scripts/bench-scale` measures it against launching straight through LXD.

use futures_util::stream::{self, StreamExt};

use super::plan::{Plan, Reason, Removal};
use crate::github::GithubClient;
use crate::lxd::LxdClient;
use crate::runner::{self, Created, RemovalOrder, RunnerEnv, RunnerError};

pub(crate) const PARALLEL_RUNNER_OPS: usize = 4;

/// What was done.
#[derive(Debug, Default)]
pub struct Report {
    pub created: Vec<Created>,
    pub removed: Vec<Removal>,
    pub failures: Vec<RunnerError>,
    /// Why each removal that failed was tried.
    pub failed_removals: Vec<Reason>,
    /// What each creation that failed said.
    pub failed_creations: Vec<String>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.created.extend(other.created);
        self.removed.extend(other.removed);
        self.failures.extend(other.failures);
        self.failed_removals.extend(other.failed_removals);
        self.failed_creations.extend(other.failed_creations);
    }
}

/// Removes the plan's runners. Registrations are deleted by id, whoever made them, so no
/// remove token is needed.
pub async fn remove(lxd: &LxdClient, github: &GithubClient, removals: &[Removal]) -> Report {
    let outcomes: Vec<(Removal, Result<(), RunnerError>)> = stream::iter(removals.iter().cloned())
        .map(|removal| async move {
            let order = match removal.kill_busy {
                true => RemovalOrder::InstanceFirst,
                false => RemovalOrder::RegistrationFirst,
            };
            let result = runner::remove(lxd, github, &removal.name, removal.github_id, order).await;
            (removal, result)
        })
        .buffer_unordered(PARALLEL_RUNNER_OPS)
        .collect()
        .await;
    let mut report = Report::default();
    for (removal, outcome) in outcomes {
        match outcome {
            Ok(()) => {
                tracing::info!("removed runner {} ({:?})", removal.name, removal.reason);
                report.removed.push(removal);
            }
            Err(e) => {
                tracing::warn!("{e}");
                report.failures.push(e);
                report.failed_removals.push(removal.reason);
            }
        }
    }
    report
}

/// Creates `plan.create` runners named `<prefix><hex>`.
pub async fn create(env: &RunnerEnv<'_>, plan: &Plan, prefix: &str) -> Report {
    let outcomes: Vec<Result<Created, RunnerError>> = stream::iter(0..plan.create)
        .map(|_| async move { runner::create(env, &runner::new_name(prefix)).await })
        .buffer_unordered(PARALLEL_RUNNER_OPS)
        .collect()
        .await;
    let mut report = Report::default();
    for outcome in outcomes {
        match outcome {
            Ok(created) => {
                tracing::info!("created runner {}", created.name);
                report.created.push(created);
            }
            Err(e) => {
                tracing::warn!("{e}");
                report.failed_creations.push(e.to_string());
                report.failures.push(e);
            }
        }
    }
    report
}
