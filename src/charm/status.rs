//! What `juju status` says after a step: pure functions from outcomes to [`Status`].

use crate::github::GithubError;
use crate::juju::Status;
use crate::lxd::LxdError;
use crate::manager::{ManagerError, Reconciled, Stage};
use crate::runner::RunnerError;

/// The status an error leaves the unit in: blocked when the operator must act.
pub fn from_error(e: &ManagerError) -> Status {
    match e {
        ManagerError::Github(
            GithubError::TokenRejected { .. } | GithubError::NoAccess { .. } | GithubError::ForeignLink { .. },
        ) => Status::Blocked(e.to_string()),
        ManagerError::Github(GithubError::RateLimited { .. } | GithubError::SecondaryRateLimited { .. }) => {
            Status::Waiting(format!("{e}; the next reconcile retries"))
        }
        ManagerError::MissingBinary | ManagerError::Binary(_) => {
            Status::Maintenance(format!("Missing runner binary, automatic retry will be attempted: {e}"))
        }
        ManagerError::Lxd(LxdError::Unreachable { .. }) => Status::Waiting(format!("{e}; the next hook retries")),
        _ => Status::Waiting(format!("{e}; the next reconcile retries")),
    }
}

/// The status after a reconcile to `target`.
pub fn reconciled(reconciled: &Reconciled, target: u32) -> Status {
    let counts = format!("{}/{target} runners", reconciled.healthy);
    match reconciled.report.failures.first() {
        None => Status::Active(counts),
        // Retrying cannot help: the image must change.
        Some(first @ RunnerError::Preflight { .. }) => Status::Blocked(format!("{counts}; {first}")),
        Some(first) => Status::Waiting(format!(
            "{counts}; {} failed, first: {first}; the next reconcile retries",
            reconciled.report.failures.len()
        )),
    }
}

/// The maintenance status a hook shows while a stage runs, if it shows one.
pub fn during(stage: Stage) -> Option<Status> {
    match stage {
        Stage::Flushing(_) | Stage::ReplacingIdleForNewBinary => {
            Some(Status::Maintenance("replacing idle runners".into()))
        }
        Stage::Reconciling(_) => Some(Status::Maintenance("reconciling runners".into())),
        Stage::Flushed(..) | Stage::CheckingBinary => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::Report;

    #[test]
    fn a_missing_binary_says_it_retries_once() {
        let status = from_error(&ManagerError::MissingBinary);
        assert_eq!(status.message().matches("retry").count(), 1, "{status}");
    }

    #[test]
    fn a_clean_reconcile_is_active_with_healthy_over_target() {
        let done = Reconciled {
            delta: 0,
            report: Report::default(),
            healthy: 3,
            seen: Default::default(),
            names: Default::default(),
            busy: Default::default(),
        };
        assert_eq!(reconciled(&done, 3), Status::Active("3/3 runners".into()));
    }

    #[test]
    fn a_runner_that_cannot_start_in_the_image_blocks_with_the_reason() {
        let mut report = Report::default();
        report.failures.push(RunnerError::Preflight {
            name: "r-1".into(),
            reason: "the image lacks libicu".into(),
        });
        let done = Reconciled {
            delta: 1,
            report,
            healthy: 0,
            seen: Default::default(),
            names: Default::default(),
            busy: Default::default(),
        };
        assert_eq!(
            reconciled(&done, 1),
            Status::Blocked("0/1 runners; runner r-1: the runner cannot start in this image: the image lacks libicu".into())
        );
    }
}
