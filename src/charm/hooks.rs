//! The hooks: each carries out its row of [`plan`](super::plan::plan). With a valid config
//! every hook that works on runners tells the same story, in one straight line
//! ([`runners`]): LXD brought up where the plan says, services kept, a new path or token
//! taken, then the [`pipeline`](super::pipeline) (LXD set up, previous generations retired,
//! the manager's steps, recorded, saved), then a status that says how it went. The rest:
//! - `update-status` repairs the timer, and nothing else (it holds the machine lock);
//! - `stop` removes the services, every runner (busy ones too: the unit is going away) and
//!   the unit's LXD objects;
//! - `remove` deletes the charm's state, token included.

use super::bring_up::{bring_up, When};
use super::pipeline::{self, Outcome};
use super::plan::{plan, BringUp, HookPlan, RunnerSteps, Services, Work};
use super::{cos, generations, status, watch, Ctx};
use crate::config::CharmConfig;
use crate::event::Hook;
use crate::host::systemd_unit::{Ensured, Restart};
use crate::host::timer::EventTimer;
use crate::juju::ToolError;
use crate::manager::{Flush, Steps};
use crate::metrics::MetricsFile;

/// The event the timer dispatches.
pub(super) use crate::host::timer::RECONCILE_EVENT;
/// A timer the original charm wrote before it folded it into reconcile-runners.
const LEGACY_EVENTS: [&str; 1] = ["update-dependencies"];

pub async fn run(ctx: &mut Ctx<'_>, hook: Hook) -> anyhow::Result<()> {
    let plan = plan(hook);
    ctx.refresh_secret = plan.takes_new_token;
    if plan.services == Services::Remove {
        remove_services(ctx);
    }
    if plan.publishes_cos {
        let restart = match plan.services {
            Services::Keep { exporter } => exporter,
            _ => Restart::IfChanged,
        };
        cos::ensure(ctx, restart);
    }
    match plan.work {
        Work::Runners {
            steps,
            only_while_timer,
        } => {
            if only_while_timer && !EventTimer::installed(&ctx.deps.host, RECONCILE_EVENT) {
                // A run that waited for the machine lock while `stop` removed the timer.
                tracing::info!(
                    "{}: the reconcile timer is gone (the unit is stopping); nothing to do",
                    hook.name()
                );
                return Ok(());
            }
            if only_while_timer {
                // The timer's own event: worth a line, to see in debug-log that the timer fires.
                tracing::info!("{}: dispatched by the reconcile timer", hook.name());
            }
            runners(ctx, hook, &plan, steps).await
        }
        Work::CosRelation => Ok(()),
        Work::Nothing => {
            if let Some(config) = ctx.valid_config()? {
                keep_services(ctx, plan.services, &config)?;
            }
            Ok(())
        }
        Work::TearDown => tear_down(ctx).await,
        Work::ForgetState => forget(ctx),
    }
}

/// A hook that works on runners, from LXD to the status.
async fn runners(ctx: &mut Ctx<'_>, hook: Hook, plan: &HookPlan, steps: RunnerSteps) -> anyhow::Result<()> {
    if plan.lxd == BringUp::First {
        if let Some(status) = bring_up(ctx, When::Install).await? {
            return Ok(ctx.status(&status)?);
        }
    }
    let Some(config) = ctx.valid_config()? else {
        return Ok(());
    };
    // The services come before LXD: upgrade-charm brings a new exporter binary even while
    // LXD is missing.
    if !keep_services(ctx, plan.services, &config)? {
        return Ok(());
    }
    let mut state = ctx.state.load_or_recover()?;
    if plan.takes_new_token {
        generations::note_change(ctx, &config, &mut state).await;
        ctx.state.save(&state)?;
    }
    if let BringUp::AfterServices(when) = plan.lxd {
        if let Some(status) = bring_up(ctx, when).await? {
            return Ok(ctx.status(&status)?);
        }
    }
    // New labels: idle runners are replaced by ones that carry them (in whichever hook gets
    // there first: a config-changed that failed leaves it to the next).
    let relabel = state.labels.as_ref().is_some_and(|made| *made != config.labels);
    if relabel {
        tracing::info!("labels changed: replacing idle runners");
    }
    let work = pipeline::Work {
        setup: true,
        retire: Some(Flush::Idle),
        steps: Some(steps.to(ctx.sizing(&config), relabel)),
        made_with: config.generation(),
        list: false,
    };
    let progress = |stage| {
        if let Some(status) = status::during(stage) {
            if let Err(e) = ctx.status(&status) {
                tracing::warn!("status-set: {e}");
            }
        }
    };
    let outcome = pipeline::run(ctx, &config, &mut state, work, &progress).await?;
    if outcome.flushed_all() {
        state.labels = Some(config.labels.clone());
        ctx.state.save(&state)?;
    }
    let status = match outcome {
        Outcome::NoSetup(status) => Some(status),
        Outcome::Failed(e) => {
            tracing::error!("{}: {e}", hook.name());
            Some(status::from_error(&e))
        }
        Outcome::NoImage(image) => Some(status::no_image(&image, crate::bake::now())),
        Outcome::Done { done, image, .. } => {
            for report in done.flushed.iter().chain(&done.replaced) {
                tracing::info!("{}: replaced {} idle runners", hook.name(), report.removed.len());
            }
            done.reconciled.as_ref().map(|reconciled| {
                let status = status::reconciled(reconciled);
                status::with_image(status, image.as_ref(), crate::bake::now())
            })
        }
    };
    if let Some(status) = status {
        ctx.status(&status)?;
    }
    Ok(())
}

/// Does to the timer, the watcher and the exporter what `services` says. `false` when the
/// timer could not be started and the unit is blocked.
fn keep_services(ctx: &Ctx<'_>, services: Services, config: &CharmConfig) -> Result<bool, ToolError> {
    let restart = match services {
        Services::Leave | Services::Remove => return Ok(true),
        Services::RepairTimer => Restart::IfChanged,
        // The exporter and the cos-agent data were kept first ([`HookPlan::publishes_cos`]);
        // the watcher runs the same binary.
        Services::Keep { exporter } => exporter,
    };
    let timer = ensure_timer(ctx, config)?;
    watch::ensure(ctx, config, restart);
    Ok(timer)
}

/// Installs or repairs the reconcile timer. `false` when it failed and the unit is blocked.
fn ensure_timer(ctx: &Ctx<'_>, config: &CharmConfig) -> Result<bool, ToolError> {
    let timer = EventTimer {
        event: RECONCILE_EVENT,
        unit: ctx.deps.unit.as_str(),
        interval_minutes: config.reconcile_interval,
    };
    match timer.ensure(&ctx.deps.host) {
        Ok(Ensured::Installed) => tracing::info!("reconcile timer set to every {}m", config.reconcile_interval),
        Ok(Ensured::Restarted) => tracing::warn!("reconcile timer was not running; started it again"),
        Ok(Ensured::Unchanged) => {}
        Err(e) => {
            tracing::error!("reconcile timer: {e}");
            let timer_unit = EventTimer::timer_name(RECONCILE_EVENT);
            ctx.status(&status::timer_failed(&e, &timer_unit))?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Stops and deletes the timers (the original's too), the watcher and the exporter.
fn remove_services(ctx: &Ctx<'_>) {
    for event in std::iter::once(RECONCILE_EVENT).chain(LEGACY_EVENTS) {
        for e in EventTimer::remove(&ctx.deps.host, event) {
            tracing::warn!("removing the {event} timer: {e}");
        }
    }
    tracing::info!("reconcile timer removed");
    watch::remove(ctx);
    cos::remove_exporter(ctx);
}

/// `stop`, once the services are gone: every runner (busy too: the unit is going away), whatever the
/// config says now (the runners were made with the path and token in the state), then the
/// unit's LXD objects.
async fn tear_down(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let mut state = ctx.state.load_or_recover()?;
    let config = ctx.config()?;
    match &config {
        Ok(config) => {
            let work = pipeline::Work {
                setup: false,
                retire: Some(Flush::All),
                steps: Some(Steps::flush_only(Flush::All)),
                made_with: state.current.clone().unwrap_or_else(|| config.generation()),
                list: false,
            };
            match pipeline::run(ctx, config, &mut state, work, &|_| {}).await? {
                Outcome::Done { done, .. } => {
                    let report = done.flushed.unwrap_or_default();
                    if let Some(first) = report.failures.first() {
                        tracing::warn!("{} runners could not be removed, first: {first}", report.failures.len());
                    }
                    tracing::info!("stop: removed {} runners", report.removed.len());
                }
                Outcome::Failed(e) => tracing::warn!("stop: removing runners: {e}"),
                Outcome::NoSetup(status) => tracing::warn!("stop: {}", status.message()),
                Outcome::NoImage(_) => {}
            }
        }
        Err(problems) => {
            // No GitHub client without a valid config; the instances can still go, and GitHub
            // deletes an ephemeral runner's registration a day after it went offline.
            tracing::warn!("stop: {problems}; removing the runner instances only");
            match ctx.deps.remove_instances().await {
                Ok(n) => tracing::info!("stop: removed {n} runner instances"),
                Err(e) => tracing::warn!("stop: removing runner instances: {e}"),
            }
        }
    }
    let mut removed = crate::bake::run::teardown(
        &ctx.deps.lxd,
        &ctx.deps.host,
        &crate::bake::BakeNames::for_unit(&ctx.deps.unit),
    )
    .await;
    removed.extend(ctx.deps.tear_down(config.as_ref().ok()).await);
    if !removed.is_empty() {
        tracing::info!("stop: removed {}", removed.join(", "));
    }
    Ok(())
}

/// `remove`: deletes the unit's state, token included, and its metrics: nothing of the
/// operator's secret stays on a machine the unit has left.
fn forget(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if let Err(e) = MetricsFile::new(&ctx.deps.host, ctx.deps.unit.as_str()).delete() {
        tracing::warn!("removing the metrics file: {e}");
    }
    let bake = crate::bake::Files::new(&ctx.deps.host, ctx.deps.unit.as_str());
    let unit = ctx.deps.unit.as_str();
    // The watcher's spec (token and webhook secret) went with its service at `stop`; its job
    // book stays until now.
    let watch = [
        crate::watch::book::JobBook::file(&ctx.deps.host, unit),
        crate::watch::WatchSpec::file(&ctx.deps.host, unit),
    ];
    for file in [&bake.progress, &bake.request].into_iter().chain(&watch) {
        if let Err(e) = crate::host::fs::remove_if_exists(file) {
            tracing::warn!("removing {}: {e}", file.display());
        }
    }
    ctx.state.delete()?;
    tracing::info!("charm state removed");
    Ok(())
}
