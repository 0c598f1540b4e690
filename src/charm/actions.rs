//! The action handlers, with the original's result keys:
//! - `check-runners`: `online`, `offline`, `unknown`, `runners` (online names, `, `-joined);
//! - `reconcile-runners`: a binary update check, a reconcile, then those keys and
//!   `delta.virtual-machines`;
//! - `flush-runners`: every runner removed (busy too), a reconcile, the same keys;
//! - `update-dependencies`: a binary update check; `flush` is `True` when idle runners were
//!   replaced because the binary changed.
//!
//! A reconcile in which some runners failed fails the action (with the results set), so an
//! operator who asked for runners hears that not all came. A failed action is `action-fail`
//! with the reason, never a non-zero exit.

use anyhow::anyhow;

use super::{status, Ctx};
use crate::event::Action;
use crate::github::RunnerStatus;
use crate::juju::{Results, Status, ToolError};
use crate::manager::{BinaryCheck, Converge, Flush, ManagerError, OnNewBinary, RunnerManager, Stage};

/// Runs `action`; a failure is reported with `action-fail`.
///
/// # Errors
/// Only when `action-fail` itself could not be run.
pub async fn run(ctx: &Ctx<'_>, action: Action) -> Result<(), ToolError> {
    if let Err(e) = perform(ctx, action).await {
        tracing::error!("action {} failed: {e}", action.name());
        ctx.tools.action_fail(&e.to_string())?;
    }
    Ok(())
}

/// What each action asks the manager for; `None` only looks.
fn steps(action: Action, target: u32) -> Option<Converge> {
    use BinaryCheck::{CachedOnly, Latest};
    match action {
        Action::CheckRunners => None,
        Action::ReconcileRunners => Some(Converge::reconcile(Latest, target).on_new_binary(OnNewBinary::FlushIdle)),
        Action::FlushRunners => Some(Converge::reconcile(CachedOnly, target).flushing(Flush::All)),
        Action::UpdateDependencies => Some(
            Converge::reconcile(Latest, target)
                .on_new_binary(OnNewBinary::FlushIdle)
                .binary_only(),
        ),
    }
}

async fn perform(ctx: &Ctx<'_>, action: Action) -> anyhow::Result<()> {
    let config = match ctx.config()? {
        Ok(config) => config,
        Err(problems) => {
            ctx.status(&Status::Blocked(problems.to_string()))?;
            return Err(anyhow!("{problems}"));
        }
    };
    let steps = steps(action, config.virtual_machines);
    if steps.is_some() {
        if let Some(status) = ctx.setup_lxd(&config).await {
            ctx.status(&status)?;
            return Err(anyhow!("{}", status.message()));
        }
    }
    let mut state = ctx.state.load_or_recover()?;
    if steps.is_some() && !state.previous.is_empty() {
        let which = if action == Action::FlushRunners {
            Flush::All
        } else {
            Flush::Idle
        };
        super::previous::retire(ctx, &config, &mut state, which).await;
    }
    let manager = ctx.manager(&config, &state)?;
    let outcome = converge(ctx, &manager, action, steps, config.virtual_machines).await;
    state.etags = manager.finish().etags;
    ctx.state.save(&state)?;
    let (results, failure) = outcome.map_err(|e| {
        if let Err(status_err) = ctx.status(&status::from_error(&e)) {
            tracing::warn!("status-set: {status_err}");
        }
        anyhow!("{e}")
    })?;
    ctx.tools.action_set(&results)?;
    match failure {
        Some(message) => Err(anyhow!(message)),
        None => Ok(()),
    }
}

/// The action's results, and a failure message when part of it did not happen.
async fn converge(
    ctx: &Ctx<'_>,
    manager: &RunnerManager,
    action: Action,
    steps: Option<Converge>,
    target: u32,
) -> Result<(Results, Option<String>), ManagerError> {
    let progress = |stage| {
        if let Err(e) = ctx.tools.action_log(&progress_line(stage)) {
            tracing::warn!("action-log: {e}");
        }
    };
    let done = match steps {
        Some(steps) => Some(super::observe::converge(ctx, manager, steps, target, &progress).await?),
        None => None,
    };
    let mut results = Results::new();
    if action == Action::UpdateDependencies {
        let changed = done.is_some_and(|d| d.binary_changed);
        results.insert("flush".into(), if changed { "True" } else { "False" }.into());
        return Ok((results, None));
    }
    let mut failure = None;
    if let Some(reconciled) = done.and_then(|d| d.reconciled) {
        ctx.status(&status::reconciled(&reconciled, target)).ok();
        results.insert("delta.virtual-machines".into(), reconciled.delta.to_string());
        failure = (!reconciled.report.failures.is_empty()).then(|| {
            let each: Vec<String> = reconciled.report.failures.iter().map(ToString::to_string).collect();
            format!("{} runner operations failed: {}", each.len(), each.join("; "))
        });
    }
    results.extend(check(manager).await?);
    Ok((results, failure))
}

/// What `juju run` shows while a stage runs.
fn progress_line(stage: Stage) -> String {
    match stage {
        Stage::Flushing(Flush::All) => "removing every runner, busy ones too".into(),
        Stage::Flushing(Flush::Idle) => "removing idle runners".into(),
        Stage::Flushed(_, removed) => format!("removed {removed} runners"),
        Stage::CheckingBinary => "checking GitHub for a new runner binary".into(),
        Stage::ReplacingIdleForNewBinary => "new runner binary: replacing idle runners".into(),
        Stage::Reconciling(target) => format!("reconciling to {target} runners"),
    }
}

/// `online`, `offline`, `unknown` counts and the online runners' names.
async fn check(manager: &RunnerManager) -> Result<Results, ManagerError> {
    let runners = manager.github_runners().await?;
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
