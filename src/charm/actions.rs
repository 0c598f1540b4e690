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

use super::pipeline::{self, Outcome};
use super::{status, Ctx};
use crate::event::Action;
use crate::github::{Runner, RunnerStatus};
use crate::juju::{Results, ToolError};
use crate::manager::plan::{Demand, Sizing};
use crate::manager::{BinaryCheck, Flush, OnNewBinary, Stage, Steps, StepsDone};

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
fn steps(action: Action, target: Sizing) -> Option<Steps> {
    use BinaryCheck::{IfMissing, Latest};
    match action {
        Action::CheckRunners => None,
        Action::ReconcileRunners => Some(Steps::reconcile(Latest, target).on_new_binary(OnNewBinary::FlushIdle)),
        Action::FlushRunners => Some(Steps::reconcile(IfMissing, target).flushing(Flush::All)),
        Action::UpdateDependencies => Some(
            Steps::reconcile(Latest, target)
                .on_new_binary(OnNewBinary::FlushIdle)
                .binary_only(),
        ),
    }
}

async fn perform(ctx: &Ctx<'_>, action: Action) -> anyhow::Result<()> {
    let config = match ctx.config()? {
        Ok(config) => config,
        Err(problems) => {
            ctx.status(&status::invalid_config(&problems))?;
            return Err(anyhow!("{problems}"));
        }
    };
    let sizing = ctx.sizing(&config);
    let steps = steps(action, sizing);
    let acts = steps.is_some();
    let work = pipeline::Work {
        setup: acts,
        retire: acts.then_some(match action {
            Action::FlushRunners => Flush::All,
            _ => Flush::Idle,
        }),
        steps,
        made_with: config.generation(),
        list: action != Action::UpdateDependencies,
    };
    let progress = |stage| {
        if let Err(e) = ctx.tools.action_log(&progress_line(stage)) {
            tracing::warn!("action-log: {e}");
        }
    };
    let mut state = ctx.state.load_or_recover()?;
    let (done, registrations) = match pipeline::run(ctx, &config, &mut state, work, &progress).await? {
        Outcome::Done {
            done, registrations, ..
        } => (*done, registrations),
        Outcome::NoSetup(status) => {
            ctx.status(&status)?;
            return Err(anyhow!("{}", status.message()));
        }
        Outcome::NoImage(image) => {
            let status = status::no_image(&image, crate::bake::now());
            ctx.status(&status)?;
            return Err(anyhow!("{}", status.message()));
        }
        Outcome::Failed(e) => {
            if let Err(status_err) = ctx.status(&status::from_error(&e)) {
                tracing::warn!("status-set: {status_err}");
            }
            return Err(anyhow!("{e}"));
        }
    };
    let (results, failure) = results(ctx, action, done, &registrations, sizing);
    ctx.tools.action_set(&results)?;
    match failure {
        Some(message) => Err(anyhow!(message)),
        None => Ok(()),
    }
}

/// The action's results, and a failure message when part of it did not happen.
fn results(
    ctx: &Ctx<'_>,
    action: Action,
    done: StepsDone,
    registrations: &[Runner],
    sizing: Sizing,
) -> (Results, Option<String>) {
    let mut results = Results::new();
    if action == Action::UpdateDependencies {
        let changed = done.binary_changed;
        results.insert("flush".into(), if changed { "True" } else { "False" }.into());
        return (results, None);
    }
    let mut failure = None;
    let busy = registrations.iter().filter(|r| r.busy).count();
    let (mut target, mut demand) = wanted(sizing, busy);
    if let Some(reconciled) = done.reconciled {
        (target, demand) = (reconciled.target, reconciled.demand);
        ctx.status(&status::reconciled(&reconciled)).ok();
        results.insert("delta.virtual-machines".into(), reconciled.delta.to_string());
        failure = (!reconciled.report.failures.is_empty()).then(|| {
            let each: Vec<String> = reconciled.report.failures.iter().map(ToString::to_string).collect();
            format!("{} runner operations failed: {}", each.len(), each.join("; "))
        });
    }
    results.extend(check(registrations));
    results.insert("target".into(), target.to_string());
    if let Some(d) = demand {
        for (key, value) in [
            ("busy", d.busy),
            ("floor", d.floor),
            ("queued", d.queued),
            ("max", d.max),
        ] {
            results.insert(key.into(), value.to_string());
        }
    }
    (results, failure)
}

/// What a reconcile would aim at with `busy` runners busy (check-runners, which does not
/// reconcile, shows it too).
fn wanted(sizing: Sizing, busy: usize) -> (usize, Option<Demand>) {
    match sizing {
        Sizing::Fixed(n) => (n, None),
        Sizing::Elastic(e) => (e.target(busy, 0), Some(e.demand(busy))),
    }
}

/// What `juju run` shows while a stage runs.
fn progress_line(stage: Stage) -> String {
    match stage {
        Stage::Flushing(Flush::All) => "removing every runner, busy ones too".into(),
        Stage::Flushing(Flush::Idle) => "removing idle runners".into(),
        Stage::Flushed(_, removed) => format!("removed {removed} runners"),
        Stage::CheckingBinary => "checking GitHub for a new runner binary".into(),
        Stage::ReplacingIdleForNewBinary => "new runner binary: replacing idle runners".into(),
        Stage::Reconciling(Sizing::Fixed(target)) => format!("reconciling to {target} runners"),
        Stage::Reconciling(Sizing::Elastic(e)) => {
            format!(
                "reconciling: every busy runner and {} idle, at most {}",
                e.idle(),
                e.max
            )
        }
    }
}

/// `online`, `offline`, `unknown` counts and the online runners' names.
fn check(runners: &[Runner]) -> Results {
    let count = |status| runners.iter().filter(|r| r.status == status).count().to_string();
    let online: Vec<&str> = runners
        .iter()
        .filter(|r| r.status == RunnerStatus::Online)
        .map(|r| r.name.as_str())
        .collect();
    Results::from([
        ("online".to_string(), count(RunnerStatus::Online)),
        ("offline".to_string(), count(RunnerStatus::Offline)),
        ("unknown".to_string(), count(RunnerStatus::Unknown)),
        ("runners".to_string(), online.join(", ")),
    ])
}
