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

use super::runners::{self, error_status, reconciled_status};
use super::Charm;
use crate::config::CharmConfig;
use crate::event::Hook;
use crate::host::timer::{Ensured, EventTimer};
use crate::juju::{self, status::Status};
use crate::lxd::LxdClient;

/// The event the timer dispatches.
const RECONCILE_EVENT: &str = "reconcile-runners";
/// A timer the original charm wrote before it folded it into reconcile-runners.
const LEGACY_EVENTS: [&str; 1] = ["update-dependencies"];

pub async fn run(charm: &Charm, hook: Hook) -> anyhow::Result<()> {
    match hook {
        Hook::Stop => return stop(charm).await,
        Hook::Remove => return remove(charm),
        _ => {}
    }
    if hook == Hook::ReconcileRunners {
        // The timer's own event: worth a line, to see in debug-log that the timer fires.
        tracing::info!("reconcile-runners: dispatched by the reconcile timer");
    }
    let Some(config) = charm.valid_config()? else {
        return Ok(());
    };
    if matches!(hook, Hook::ConfigChanged | Hook::UpgradeCharm | Hook::UpdateStatus) && !ensure_timer(charm, &config)? {
        return Ok(());
    }
    if hook == Hook::UpdateStatus {
        return Ok(());
    }
    let mut state = charm.state.load()?;
    if hook == Hook::ConfigChanged {
        runners::flush_previous(charm, &config, &state).await;
        state.path = Some(config.path.to_string());
        state.token = Some(config.token.clone());
        charm.state.save(&state)?;
    }
    if let Some(status) = runners::setup_lxd(charm, &config).await {
        juju::status::set(&status)?;
        return Ok(());
    }
    let status = match reconcile(charm, &config, &mut state, hook).await {
        Ok(status) => status,
        Err(e) => {
            tracing::error!("{hook:?}: {e}", hook = hook.name());
            error_status(&e)
        }
    };
    charm.state.save(&state)?;
    juju::status::set(&status)?;
    Ok(())
}

/// Binary, then reconcile; the ETag cache goes back into `state`.
async fn reconcile(
    charm: &Charm,
    config: &CharmConfig,
    state: &mut crate::state::State,
    hook: Hook,
) -> Result<Status, crate::manager::ManagerError> {
    let manager = runners::manager(charm, config, state)?;
    let result = async {
        let updated = runners::ensure_binary(&manager, matches!(hook, Hook::Install | Hook::ReconcileRunners)).await?;
        if (updated && hook == Hook::ReconcileRunners) || hook == Hook::UpgradeCharm {
            juju::status::set(&Status::Maintenance("replacing idle runners".into())).ok();
            let flushed = manager.flush(false).await?;
            tracing::info!("{}: replaced {} idle runners", hook.name(), flushed.removed.len());
        }
        juju::status::set(&Status::Maintenance("reconciling runners".into())).ok();
        let reconciled = manager.reconcile(config.virtual_machines as usize).await?;
        Ok(reconciled_status(&reconciled, config.virtual_machines))
    }
    .await;
    let stats = manager.github().stats();
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
    state.etags = manager.github().etag_cache();
    result
}

/// Installs or repairs the reconcile timer. `false` when it failed and the unit is blocked.
fn ensure_timer(charm: &Charm, config: &CharmConfig) -> anyhow::Result<bool> {
    let timer = EventTimer {
        event: RECONCILE_EVENT,
        unit: &charm.unit,
        interval_minutes: config.reconcile_interval,
    };
    match timer.ensure(&charm.host) {
        Ok(Ensured::Installed) => tracing::info!("reconcile timer set to every {}m", config.reconcile_interval),
        Ok(Ensured::Restarted) => tracing::warn!("reconcile timer was not running; started it again"),
        Ok(Ensured::Unchanged) => {}
        Err(e) => {
            tracing::error!("reconcile timer: {e}");
            let timer_unit = EventTimer::timer_name(RECONCILE_EVENT);
            juju::status::set(&Status::Blocked(format!(
                "failed to start the reconcile timer: {e}; see `systemctl status {timer_unit}`"
            )))?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes every runner (busy too: the unit is going away) and the timers, whatever the
/// config says now: the runners were made with the path and token in the state.
async fn stop(charm: &Charm) -> anyhow::Result<()> {
    for event in std::iter::once(RECONCILE_EVENT).chain(LEGACY_EVENTS) {
        for e in EventTimer::remove(&charm.host, event) {
            tracing::warn!("removing the {event} timer: {e}");
        }
    }
    tracing::info!("reconcile timer removed");
    let state = charm.state.load()?;
    let config = match charm.config()? {
        Ok(config) => runners::made_with(&config, &state),
        Err(problems) => {
            // No GitHub client without a valid config; the instances can still go, and GitHub
            // deletes an ephemeral runner's registration a day after it went offline.
            tracing::warn!("stop: {problems}; removing the runner instances only");
            let prefix = crate::manager::runner_prefix(&charm.unit);
            match LxdClient::from_env() {
                Ok(lxd) => match crate::runner::remove_instances(&lxd, &prefix).await {
                    Ok(n) => tracing::info!("stop: removed {n} runner instances"),
                    Err(e) => tracing::warn!("stop: removing runner instances: {e}"),
                },
                Err(e) => tracing::warn!("stop: {e}"),
            }
            return Ok(());
        }
    };
    match runners::manager(charm, &config, &state) {
        Ok(manager) => match manager.flush(true).await {
            Ok(report) => tracing::info!(
                "stop: removed {} runners, {} failed",
                report.removed.len(),
                report.failures.len()
            ),
            Err(e) => tracing::warn!("stop: removing runners: {e}"),
        },
        Err(e) => tracing::warn!("stop: {e}"),
    }
    Ok(())
}

/// Deletes the unit's state, token included: nothing of the operator's secret stays on a
/// machine the unit has left.
fn remove(charm: &Charm) -> anyhow::Result<()> {
    charm.state.delete()?;
    tracing::info!("charm state removed");
    Ok(())
}
