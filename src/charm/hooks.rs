//! The hook handlers: install, config-changed, start, upgrade-charm, update-status, stop, and
//! the timer's reconcile-runners.
//!
//! Runner management (GitHub and LXD) is not in this build yet, so no handler claims to have
//! created, reconciled or flushed a runner: the status says so plainly.

use super::Charm;
use crate::config::CharmConfig;
use crate::event::Hook;
use crate::host::timer::{Ensured, EventTimer};
use crate::juju::{self, status::Status};

/// The event the timer dispatches.
const RECONCILE_EVENT: &str = "reconcile-runners";
/// A timer the original charm wrote before it folded it into reconcile-runners.
const LEGACY_EVENTS: [&str; 1] = ["update-dependencies"];

pub fn run(charm: &Charm, hook: Hook) -> anyhow::Result<()> {
    match hook {
        Hook::Stop => return stop(charm),
        Hook::Remove => return remove(charm),
        _ => {}
    }
    let Some(config) = charm.valid_config()? else {
        return Ok(());
    };
    match hook {
        Hook::Install | Hook::Start => {}
        Hook::ConfigChanged | Hook::UpgradeCharm | Hook::UpdateStatus => {
            if !ensure_timer(charm, &config)? {
                return Ok(());
            }
        }
        Hook::ReconcileRunners => {
            tracing::info!("reconcile-runners: runner management is not in this build; nothing to reconcile");
        }
        Hook::Stop | Hook::Remove => unreachable!("handled above"),
    }
    if hook == Hook::ConfigChanged {
        let mut state = charm.state.load()?;
        state.path = Some(config.path.to_string());
        state.token = Some(config.token.clone());
        charm.state.save(&state)?;
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
