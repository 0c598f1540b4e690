//! The action handlers, with the original's result keys:
//! - `check-runners`: `online`, `offline`, `unknown`, `runners` (online names, `, `-joined);
//! - `reconcile-runners`: a binary update check, a reconcile, then those keys and
//!   `delta.virtual-machines`;
//! - `flush-runners`: every runner removed (busy too), a reconcile, the same keys;
//! - `update-dependencies`: a binary update check; `flush` is `True` when idle runners were
//!   replaced because the binary changed.
//!
//! A reconcile in which some runners failed fails the action (with the results set), so an
//! operator who asked for runners hears that not all came.

use anyhow::anyhow;

use super::runners::{self, reconciled_status};
use super::Charm;
use crate::event::Action;
use crate::github::RunnerStatus;
use crate::juju::{self, action::Results, status::Status};
use crate::manager::{ManagerError, RunnerManager};

pub async fn run(charm: &Charm, action: Action) -> anyhow::Result<()> {
    let config = match charm.config()? {
        Ok(config) => config,
        Err(problems) => {
            juju::status::set(&Status::Blocked(problems.to_string()))?;
            return Err(anyhow!("{problems}"));
        }
    };
    if action != Action::CheckRunners {
        if let Some(status) = runners::setup_lxd(charm, &config).await {
            juju::status::set(&status)?;
            return Err(anyhow!("{}", status.message()));
        }
    }
    let mut state = charm.state.load()?;
    let manager = runners::manager(charm, &config, &state)?;
    let outcome = perform(&manager, action, config.virtual_machines).await;
    state.etags = manager.github().etag_cache();
    charm.state.save(&state)?;
    let (results, failure) = outcome.map_err(|e| {
        if let Err(status_err) = juju::status::set(&runners::error_status(&e)) {
            tracing::warn!("status-set: {status_err}");
        }
        anyhow!("{e}")
    })?;
    juju::action::set_results(&results)?;
    match failure {
        Some(message) => Err(anyhow!(message)),
        None => Ok(()),
    }
}

/// The action's results, and a failure message when part of it did not happen.
async fn perform(
    manager: &RunnerManager,
    action: Action,
    target: u32,
) -> Result<(Results, Option<String>), ManagerError> {
    let progress = |line: &str| {
        if let Err(e) = juju::action::log(line) {
            tracing::warn!("action-log: {e}");
        }
    };
    let mut results = Results::new();
    match action {
        Action::CheckRunners => {}
        Action::UpdateDependencies => {
            progress("checking GitHub for a new runner binary");
            let changed = runners::ensure_binary(manager, true).await?;
            if changed {
                progress("new runner binary: replacing idle runners");
                manager.flush(false).await?;
            }
            results.insert("flush".into(), if changed { "True" } else { "False" }.into());
            return Ok((results, None));
        }
        Action::ReconcileRunners | Action::FlushRunners => {
            if action == Action::FlushRunners {
                progress("removing every runner, busy ones too");
                let flushed = manager.flush(true).await?;
                progress(&format!("removed {} runners", flushed.removed.len()));
                runners::ensure_binary(manager, false).await?;
            } else {
                progress("checking GitHub for a new runner binary");
                if runners::ensure_binary(manager, true).await? {
                    progress("new runner binary: replacing idle runners");
                    manager.flush(false).await?;
                }
            }
            progress(&format!("reconciling to {target} runners"));
            let reconciled = manager.reconcile(target as usize).await?;
            juju::status::set(&reconciled_status(&reconciled, target)).ok();
            results.insert("delta.virtual-machines".into(), reconciled.delta.to_string());
            let failure = (!reconciled.report.failures.is_empty()).then(|| {
                let each: Vec<String> = reconciled.report.failures.iter().map(ToString::to_string).collect();
                format!("{} runner operations failed: {}", each.len(), each.join("; "))
            });
            results.extend(check(manager).await?);
            return Ok((results, failure));
        }
    }
    results.extend(check(manager).await?);
    Ok((results, None))
}

/// `online`, `offline`, `unknown` counts and the online runners' names.
async fn check(manager: &RunnerManager) -> Result<Results, ManagerError> {
    let runners = manager.get_github_info().await?;
    let count = |status| runners.iter().filter(|r| r.status == status).count().to_string();
    let online: Vec<&str> = runners
        .iter()
        .filter(|r| r.status == RunnerStatus::Online)
        .map(|r| r.name.as_str())
        .collect();
    Ok(Results::from([
        ("online".to_string(), count(RunnerStatus::Online)),
        ("offline".to_string(), count(RunnerStatus::Offline)),
        ("unknown".to_string(), count(RunnerStatus::Unknown)),
        ("runners".to_string(), online.join(", ")),
    ]))
}
