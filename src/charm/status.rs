//! What `juju status` says after a step: pure functions from outcomes to [`Status`].
//!
//! Every status the charm sets is built here, so that `status_docs` can render each one and
//! find it in `docs/reference/statuses.md` (a test fails on a `Status::…(` built elsewhere).

use std::fmt::Display;
use std::time::Duration;

use crate::bake::plan::ImageStatus;
use crate::config::ConfigProblems;
use crate::github::GithubError;
use crate::juju::{Status, ToolError};
use crate::lxd::LxdError;
use crate::lxd_setup::SetupError;
use crate::manager::{ManagerError, Reconciled, Stage};
use crate::runner::RunnerError;

/// Config the operator must fix: every missing option and bad value at once.
pub fn invalid_config(problems: &ConfigProblems) -> Status {
    Status::Blocked(problems.to_string())
}

/// Why `token-secret-id`'s secret could not be read (a config problem: the unit blocks on it).
pub fn secret_problem(e: &ToolError, key: &str) -> String {
    match e {
        ToolError::Missing { .. } if key == "token" => {
            "needs Juju 3.3 or later (this Juju has no `secret-get`): use `token`".to_string()
        }
        ToolError::Missing { .. } => "needs Juju 3.3 or later (this Juju has no `secret-get`)".to_string(),
        e => format!("cannot be read: {e} (is the secret granted to the application? `juju grant-secret`)"),
    }
}

/// The unit's LXD setup failed: blocked when the operator must act, else waiting for LXD.
pub fn lxd_setup_failed(e: &SetupError) -> Status {
    match e.needs_operator() {
        true => Status::Blocked(e.to_string()),
        false => Status::Waiting(format!("LXD setup failed: {e}; the next hook retries")),
    }
}

/// While the charm installs (or refreshes) the LXD snap.
pub fn installing_lxd(snap_args: &[&str]) -> Status {
    Status::Maintenance(format!("installing LXD: snap {}", snap_args.join(" ")))
}

/// No LXD daemon answers at `socket`, and the charm could not bring one (`why`).
pub fn no_lxd(socket: &str, why: &dyn Display) -> Status {
    Status::Blocked(format!("LXD does not answer at {socket}: {why}"))
}

/// The snap `command` succeeded but no daemon answered within `waited`.
pub fn lxd_silent(command: &str, waited: Duration) -> Status {
    Status::Blocked(format!(
        "`{command}` succeeded but LXD did not answer within {} s: check `snap services lxd` and `snap logs lxd`",
        waited.as_secs()
    ))
}

/// systemd refused the reconcile timer `timer_unit`.
pub fn timer_failed(why: &dyn Display, timer_unit: &str) -> Status {
    Status::Blocked(format!(
        "failed to start the reconcile timer: {why}; see `systemctl status {timer_unit}`"
    ))
}

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
pub fn reconciled(reconciled: &Reconciled) -> Status {
    let why = reconciled.demand.map(|d| format!(" ({})", d.why())).unwrap_or_default();
    let counts = format!("{}/{} runners{why}", reconciled.healthy, reconciled.target);
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

/// The status while no runner image exists: its first bake runs, or failed.
pub fn no_image(image: &ImageStatus, now: u64) -> Status {
    match image {
        ImageStatus::Failed { error, retry_at, .. } => Status::Blocked(format!(
            "baking the runner image failed: {error}; retried in {} min, or at once when an option it is baked from changes",
            minutes(*retry_at, now)
        )),
        ImageStatus::Baking { step, .. } => Status::Waiting(format!(
            "baking the runner image: {step}; runners are made once it is ready"
        )),
        ImageStatus::Ready => Status::Waiting("the runner image is ready; the next reconcile makes runners".into()),
    }
}

/// `status`, with what a rebake is doing when it is `active`: the runners still come from the
/// previous image, which the unit says when the new one failed.
pub fn with_image(status: Status, image: Option<&ImageStatus>, now: u64) -> Status {
    let Status::Active(message) = &status else {
        return status;
    };
    match image {
        Some(ImageStatus::Baking { step, .. }) => {
            Status::Active(format!("{message}; baking a new runner image: {step}"))
        }
        Some(ImageStatus::Failed { error, retry_at, .. }) => Status::Active(format!(
            "{message}; a new runner image failed to bake ({error}): the previous one is in use; retried in {} min",
            minutes(*retry_at, now)
        )),
        _ => status,
    }
}

/// Whole minutes from `now` to `at`, at least 1.
fn minutes(at: u64, now: u64) -> u64 {
    at.saturating_sub(now).div_ceil(60).max(1)
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
        let mut done = Reconciled {
            target: 3,
            healthy: 3,
            ..Reconciled::default()
        };
        assert_eq!(reconciled(&done), Status::Active("3/3 runners".into()));
        done.demand = Some(crate::manager::plan::Demand {
            busy: 2,
            floor: 2,
            queued: 2,
            max: 6,
        });
        done.target = 6;
        done.healthy = 4;
        assert_eq!(
            reconciled(&done),
            Status::Active("4/6 runners (2 busy, floor 2, 2 queued)".into()),
            "an elastic pool says why"
        );
    }

    #[test]
    fn a_runner_that_cannot_start_in_the_image_blocks_with_the_reason() {
        let mut report = Report::default();
        report.failures.push(RunnerError::Preflight {
            name: "r-1".into(),
            reason: "the image lacks libicu".into(),
        });
        let done = Reconciled {
            target: 1,
            delta: 1,
            report,
            ..Reconciled::default()
        };
        assert_eq!(
            reconciled(&done),
            Status::Blocked(
                "0/1 runners; runner r-1: the runner cannot start in this image: the image lacks libicu".into()
            )
        );
    }

    #[test]
    fn a_first_bake_waits_with_its_step_and_a_failed_one_blocks_with_the_reason() {
        let baking = ImageStatus::Baking {
            step: "installing packages".into(),
            first: true,
        };
        assert_eq!(
            no_image(&baking, 0),
            Status::Waiting("baking the runner image: installing packages; runners are made once it is ready".into())
        );
        let failed = ImageStatus::Failed {
            error: "installing packages failed (exit 100): E: Unable to locate package nope".into(),
            first: true,
            retry_at: 600,
        };
        let status = no_image(&failed, 0);
        assert!(matches!(status, Status::Blocked(_)), "{status}");
        assert!(status.message().contains("Unable to locate package nope") && status.message().contains("10 min"));
    }

    #[test]
    fn a_failed_rebake_stays_active_and_says_the_previous_image_serves() {
        let failed = ImageStatus::Failed {
            error: "publishing the image: disk full".into(),
            first: false,
            retry_at: 61,
        };
        let status = with_image(Status::Active("2/2 runners".into()), Some(&failed), 0);
        assert_eq!(
            status,
            Status::Active("2/2 runners; a new runner image failed to bake (publishing the image: disk full): the previous one is in use; retried in 2 min".into())
        );
        let waiting = Status::Waiting("x".into());
        assert_eq!(with_image(waiting.clone(), Some(&failed), 0), waiting);
    }
}
