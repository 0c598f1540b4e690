//! The hook handlers. With a valid config every hook but `update-status`, `stop` and `remove`
//! tells the same story: LXD set up, a runner binary cached, runners reconciled, a status that
//! says how it went. On top of it:
//! - `config-changed` keeps the reconcile timer and flushes idle runners made with a previous
//!   `path` or `token` (with that previous token);
//! - `reconcile-runners` (the timer) checks for a new runner binary and replaces idle runners
//!   when there is one;
//! - `upgrade-charm` replaces idle runners (the original flushed busy ones too, killing jobs);
//! - `start` only reconciles (the original flushed the runners config-changed had just made);
//! - `stop` removes every runner, busy ones too (the unit is going away), and the timer;
//! - `remove` deletes the charm's state, token included.

use super::bring_up::{bring_up, BringUp, When};
use super::{cos, made_with, observe, previous, status, Ctx};
use crate::config::CharmConfig;
use crate::event::Hook;
use crate::host::timer::{Ensured, EventTimer};
use crate::juju::{Status, ToolError};
use crate::manager::{BinaryCheck, Converge, Flush, OnNewBinary};
use crate::metrics::MetricsFile;
use crate::state::State;

/// The event the timer dispatches.
pub(super) const RECONCILE_EVENT: &str = "reconcile-runners";
/// A timer the original charm wrote before it folded it into reconcile-runners.
const LEGACY_EVENTS: [&str; 1] = ["update-dependencies"];

pub async fn run(ctx: &Ctx<'_>, hook: Hook) -> anyhow::Result<()> {
    use BinaryCheck::{CachedOnly, Latest};
    match hook {
        Hook::Install => converge(ctx, hook, |n| Converge::reconcile(Latest, n)).await,
        Hook::Start => converge(ctx, hook, |n| Converge::reconcile(CachedOnly, n)).await,
        Hook::ConfigChanged | Hook::SecretChanged => converge(ctx, hook, |n| Converge::reconcile(CachedOnly, n)).await,
        Hook::UpgradeCharm => converge(ctx, hook, |n| Converge::reconcile(CachedOnly, n).flushing(Flush::Idle)).await,
        Hook::ReconcileRunners if !EventTimer::installed(&ctx.deps.host, RECONCILE_EVENT) => {
            // A run that waited for the machine lock while `stop` removed the timer.
            tracing::info!("reconcile-runners: the reconcile timer is gone (the unit is stopping); nothing to do");
            Ok(())
        }
        Hook::ReconcileRunners => {
            // The timer's own event: worth a line, to see in debug-log that the timer fires.
            tracing::info!("reconcile-runners: dispatched by the reconcile timer");
            converge(ctx, hook, |n| {
                Converge::reconcile(Latest, n).on_new_binary(OnNewBinary::FlushIdle)
            })
            .await
        }
        Hook::CosAgentChanged => {
            if let Ok(Ok(config)) = ctx.config() {
                cos::update_relation(ctx, &config);
            }
            Ok(())
        }
        Hook::UpdateStatus => update_status(ctx),
        Hook::Stop => stop(ctx).await,
        Hook::Remove => remove(ctx),
    }
}

/// LXD brought up (install) → config → timer (where the hook keeps it) → LXD brought up
/// (start, config-changed, upgrade-charm) → previous path/token flushed (config-changed)
/// → LXD setup → `steps` → status.
async fn converge(ctx: &Ctx<'_>, hook: Hook, steps: impl FnOnce(u32) -> Converge) -> anyhow::Result<()> {
    // At install LXD comes first, whatever the config: a unit deployed before it is
    // configured (the usual `juju deploy`, then `juju config`) must have it by then.
    let installed = match hook {
        Hook::Install => match bring_up(ctx, When::Install).await? {
            BringUp::Blocked(status) => return Ok(ctx.status(&status)?),
            up => up.into_ctx(),
        },
        _ => None,
    };
    let ctx = installed.as_ref().unwrap_or(ctx);
    let Some(config) = ctx.valid_config()? else {
        return Ok(());
    };
    let changes = matches!(hook, Hook::ConfigChanged | Hook::SecretChanged);
    if matches!(hook, Hook::ConfigChanged | Hook::UpgradeCharm | Hook::SecretChanged) {
        if !ensure_timer(ctx, &config)? {
            return Ok(());
        }
        cos::ensure(ctx, &config, hook == Hook::UpgradeCharm);
    }
    let mut state = ctx.state.load_or_recover()?;
    if changes {
        previous::note_change(ctx, &config, &mut state).await;
        ctx.state.save(&state)?;
    }
    // New labels: idle runners are replaced by ones that carry them (in whichever hook gets
    // there first: a config-changed that failed leaves it to the next).
    let relabel = state.labels.as_ref().is_some_and(|made| *made != config.labels);
    // The hooks of a deploy, a `juju config` and an upgrade try again where install could
    // not (a store unreachable then): the unit stays blocked with the command meanwhile,
    // rather than waiting for a daemon nothing installs; start and config-changed only where
    // there is no LXD at all. The timer and the exporter are kept first (upgrade-charm brings
    // a new binary) even while LXD is missing.
    let installed = match hook {
        Hook::UpgradeCharm | Hook::ConfigChanged | Hook::Start => {
            let when = if hook == Hook::UpgradeCharm {
                When::Install
            } else {
                When::Retry
            };
            match bring_up(ctx, when).await? {
                BringUp::Blocked(status) => return Ok(ctx.status(&status)?),
                up => up.into_ctx(),
            }
        }
        _ => None,
    };
    let ctx = installed.as_ref().unwrap_or(ctx);
    if let Some(status) = ctx.setup_lxd(&config).await {
        ctx.status(&status)?;
        return Ok(());
    }
    if !state.previous.is_empty() {
        previous::retire(ctx, &config, &mut state, Flush::Idle).await;
        ctx.state.save(&state)?;
    }
    let mut steps = steps(config.virtual_machines);
    if relabel {
        tracing::info!("labels changed: replacing idle runners");
        steps = steps.flushing(Flush::Idle);
    }
    let (status, converged) = converge_runners(ctx, &config, &mut state, steps, hook).await;
    if converged {
        state.labels = Some(config.labels.clone());
    }
    ctx.state.save(&state)?;
    if let Some(status) = status {
        ctx.status(&status)?;
    }
    Ok(())
}

/// Runs `steps` and says how it went (`None`: nothing new to say, no reconcile was asked
/// for) and whether all of it did (every flush removal included); the ETag cache goes back
/// into `state`.
async fn converge_runners(
    ctx: &Ctx<'_>,
    config: &CharmConfig,
    state: &mut State,
    steps: Converge,
    hook: Hook,
) -> (Option<Status>, bool) {
    let manager = match ctx.manager(config, state) {
        Ok(manager) => manager,
        Err(e) => return (Some(status::from_error(&e)), false),
    };
    let progress = |stage| {
        if let Some(status) = status::during(stage) {
            if let Err(e) = ctx.status(&status) {
                tracing::warn!("status-set: {e}");
            }
        }
    };
    let outcome = observe::converge(ctx, &manager, steps, config.virtual_machines, &progress).await;
    let saved = manager.finish();
    let stats = saved.stats;
    tracing::info!(
        "GitHub: {} requests ({} free 304s, {} retries); rate limit remaining {}",
        stats.requests,
        stats.not_modified,
        stats.retries,
        stats
            .rate_limit
            .remaining
            .map_or("unknown".to_string(), |r| r.to_string())
    );
    state.etags = saved.etags;
    match outcome {
        Ok(done) => {
            for report in done.flushed.iter().chain(&done.replaced) {
                tracing::info!("{}: replaced {} idle runners", hook.name(), report.removed.len());
            }
            let status = done
                .reconciled
                .as_ref()
                .map(|reconciled| status::reconciled(reconciled, config.virtual_machines));
            let flushed = done.flushed.as_ref().is_none_or(|f| f.failures.is_empty());
            (status, flushed)
        }
        Err(e) => {
            tracing::error!("{}: {e}", hook.name());
            (Some(status::from_error(&e)), false)
        }
    }
}

/// Checks the timer (a stopped one is started again); nothing else: update-status holds the
/// machine lock and runs every few minutes.
fn update_status(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if let Some(config) = ctx.valid_config()? {
        ensure_timer(ctx, &config)?;
    }
    Ok(())
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
            ctx.status(&Status::Blocked(format!(
                "failed to start the reconcile timer: {e}; see `systemctl status {timer_unit}`"
            )))?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes this unit's runners made with `made`, as `which` says; how many went.
async fn flush(ctx: &Ctx<'_>, made: &CharmConfig, state: &State, which: Flush) -> Result<usize, String> {
    let manager = ctx.manager(made, state).map_err(|e| e.to_string())?;
    let done = observe::converge(
        ctx,
        &manager,
        Converge::flush_only(which),
        made.virtual_machines,
        &|_| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    let report = done.flushed.unwrap_or_default();
    if let Some(first) = report.failures.first() {
        tracing::warn!("{} runners could not be removed, first: {first}", report.failures.len());
    }
    Ok(report.removed.len())
}

/// Removes every runner (busy too: the unit is going away) and the timers, whatever the
/// config says now: the runners were made with the path and token in the state.
async fn stop(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    for event in std::iter::once(RECONCILE_EVENT).chain(LEGACY_EVENTS) {
        for e in EventTimer::remove(&ctx.deps.host, event) {
            tracing::warn!("removing the {event} timer: {e}");
        }
    }
    tracing::info!("reconcile timer removed");
    cos::remove_exporter(ctx);
    let mut state = ctx.state.load_or_recover()?;
    let config = ctx.config()?;
    if let Ok(config) = &config {
        previous::retire(ctx, config, &mut state, Flush::All).await;
    }
    match &config {
        Ok(config) => match flush(ctx, &made_with(config, &state), &state, Flush::All).await {
            Ok(removed) => tracing::info!("stop: removed {removed} runners"),
            Err(e) => tracing::warn!("stop: removing runners: {e}"),
        },
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
    let resource_profile = config.as_ref().ok().map(CharmConfig::resource_profile);
    let removed = ctx.deps.tear_down(resource_profile.as_deref()).await;
    if !removed.is_empty() {
        tracing::info!("stop: removed {}", removed.join(", "));
    }
    Ok(())
}

/// Deletes the unit's state, token included: nothing of the operator's secret stays on a
/// machine the unit has left.
fn remove(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if let Err(e) = MetricsFile::new(&ctx.deps.host, ctx.deps.unit.as_str()).delete() {
        tracing::warn!("removing the metrics file: {e}");
    }
    ctx.state.delete()?;
    tracing::info!("charm state removed");
    Ok(())
}
