//! The hook handlers: install, config-changed, start, upgrade-charm, update-status, stop, and
//! the timer's reconcile-runners.
//!
//! Every hook with a valid config also makes sure LXD is set up for runners (RAM disk, pool,
//! profiles). Reconciling runners is not in this build yet, so no handler claims to have
//! created, reconciled or flushed a runner: the status says so plainly.

use super::Charm;
use crate::config::CharmConfig;
use crate::event::Hook;
use crate::host::timer::{Ensured, EventTimer};
use crate::juju::{self, status::Status};
use crate::lxd::LxdClient;
use crate::manager::setup;

/// The event the timer dispatches.
const RECONCILE_EVENT: &str = "reconcile-runners";
/// A timer the original charm wrote before it folded it into reconcile-runners.
const LEGACY_EVENTS: [&str; 1] = ["update-dependencies"];

pub async fn run(charm: &Charm, hook: Hook) -> anyhow::Result<()> {
    match hook {
        Hook::Stop => return stop(charm),
        Hook::Remove => return remove(charm),
        _ => {}
    }
    let Some(config) = charm.valid_config()? else {
        return Ok(());
    };
    if hook == Hook::ConfigChanged {
        let mut state = charm.state.load()?;
        state.path = Some(config.path.to_string());
        state.token = Some(config.token.clone());
        charm.state.save(&state)?;
    }
    if hook == Hook::ReconcileRunners {
        tracing::info!("reconcile-runners: runner management is not in this build; nothing to reconcile");
    }
    if matches!(hook, Hook::ConfigChanged | Hook::UpgradeCharm | Hook::UpdateStatus) && !ensure_timer(charm, &config)? {
        return Ok(());
    }
    // Every hook checks the setup (a few cheap LXD calls when nothing changed), so the status
    // never says ready while LXD is not.
    {
        if let Some(status) = setup_lxd(charm, &config).await {
            juju::status::set(&status)?;
            return Ok(());
        }
    }
    juju::status::set(&ready(&config))?;
    Ok(())
}

/// The status of a unit whose config is valid and whose timer runs.
fn ready(config: &CharmConfig) -> Status {
    Status::Waiting(format!(
        "config valid for {}; reconcile timer every {}m; runner management is not in this build yet",
        config.path, config.reconcile_interval
    ))
}

/// Sets up LXD for runners; `Some(status)` says why it could not.
async fn setup_lxd(charm: &Charm, config: &CharmConfig) -> Option<Status> {
    let lxd = match LxdClient::from_env() {
        Ok(lxd) => lxd,
        Err(e) => return Some(Status::Waiting(format!("{e}; the next hook retries"))),
    };
    if let Err(e) = juju::status::set(&Status::Maintenance("setting up LXD for runners".into())) {
        tracing::warn!("status-set: {e}");
    }
    match setup::ensure(&lxd, &charm.host, config).await {
        Ok(report) => {
            for made in &report.created {
                tracing::info!("LXD setup: created {made}");
            }
            None
        }
        Err(e) if e.needs_operator() => {
            tracing::error!("LXD setup: {e}");
            Some(Status::Blocked(e.to_string()))
        }
        Err(e) => {
            tracing::warn!("LXD setup: {e}");
            Some(Status::Waiting(format!("LXD setup failed: {e}; the next hook retries")))
        }
    }
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
        Ok(Ensured::Restarted) => {
            tracing::warn!("reconcile timer was not running; started it again")
        }
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

/// Removes the timers, whatever the config says: the unit is going away.
fn stop(charm: &Charm) -> anyhow::Result<()> {
    for event in std::iter::once(RECONCILE_EVENT).chain(LEGACY_EVENTS) {
        for e in EventTimer::remove(&charm.host, event) {
            tracing::warn!("removing the {event} timer: {e}");
        }
    }
    tracing::info!("reconcile timer removed");
    Ok(())
}

/// Deletes the unit's state, token included: nothing of the operator's secret stays on a
/// machine the unit has left.
fn remove(charm: &Charm) -> anyhow::Result<()> {
    charm.state.delete()?;
    tracing::info!("charm state removed");
    Ok(())
}
