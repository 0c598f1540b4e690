//! What hooks and actions share about runners: building the manager from config and state,
//! keeping the binary current, reconciling, and saying in a status how it went.

use crate::config::{CharmConfig, GithubPath};
use crate::github::GithubError;
use crate::juju::status::Status;
use crate::lxd::{LxdClient, LxdError};
use crate::manager::{setup, ManagerError, Reconciled, RunnerManager};
use crate::state::State;

use super::Charm;

/// A manager for `config`, with the ETag cache kept in `state`.
pub fn manager(charm: &Charm, config: &CharmConfig, state: &State) -> Result<RunnerManager, ManagerError> {
    RunnerManager::new(
        config,
        &charm.unit,
        &charm.host,
        LxdClient::from_env()?,
        state.etags.clone(),
    )
}

/// Sets up LXD for runners; `Some(status)` says why it could not.
pub async fn setup_lxd(charm: &Charm, config: &CharmConfig) -> Option<Status> {
    let lxd = match LxdClient::from_env() {
        Ok(lxd) => lxd,
        Err(e) => return Some(Status::Waiting(format!("{e}; the next hook retries"))),
    };
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

/// The status an error leaves the unit in: blocked when the operator must act.
pub fn error_status(e: &ManagerError) -> Status {
    match e {
        ManagerError::Github(GithubError::TokenRejected { .. } | GithubError::NoAccess { .. }) => {
            Status::Blocked(e.to_string())
        }
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
pub fn reconciled_status(reconciled: &Reconciled, target: u32) -> Status {
    let counts = format!("{}/{target} runners", reconciled.healthy);
    match reconciled.report.failures.first() {
        None => Status::Active(counts),
        Some(first) => Status::Waiting(format!(
            "{counts}; {} failed, first: {first}; the next reconcile retries",
            reconciled.report.failures.len()
        )),
    }
}

/// Makes sure a runner binary is cached; with `check_update`, also that it is GitHub's latest.
/// `Ok(true)` when the binary changed (idle runners should then be replaced).
pub async fn ensure_binary(manager: &RunnerManager, check_update: bool) -> Result<bool, ManagerError> {
    if manager.check_runner_bin().is_some() && !check_update {
        return Ok(false);
    }
    match manager.ensure_latest_runner_bin().await {
        Ok(changed) => Ok(changed),
        // A failed check is not a failed reconcile while there is a binary to use.
        Err(e) if manager.check_runner_bin().is_some() => {
            tracing::warn!("checking for a new runner binary: {e}");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// `config` with the path and token the runners were made with (kept in the state), where
/// those are known: what removing those runners must use.
pub fn made_with(config: &CharmConfig, state: &State) -> CharmConfig {
    let mut made = config.clone();
    if let Some(path) = state.path.as_deref().and_then(|p| GithubPath::parse(p).ok()) {
        made.path = path;
    }
    if let Some(token) = &state.token {
        made.token = token.clone();
    }
    made
}

/// When `path` or `token` changed since the runners were made, flushes the idle runners made
/// with the *previous* values (the original used the new token, and flushed after creating).
pub async fn flush_previous(charm: &Charm, config: &CharmConfig, state: &State) {
    let path_changed = state.path.as_deref().is_some_and(|p| p != config.path.to_string());
    let token_changed = state.token.as_ref().is_some_and(|t| *t != config.token);
    if !path_changed && !token_changed {
        return;
    }
    let previous = made_with(config, state);
    let what = if path_changed {
        format!("path {}", state.path.as_deref().unwrap_or(""))
    } else {
        "token".to_string()
    };
    match manager(charm, &previous, state) {
        Ok(old) => match old.flush(false).await {
            Ok(report) => tracing::info!(
                "{what} changed: flushed {} idle runners made with the previous one",
                report.removed.len()
            ),
            Err(e) => tracing::warn!("{what} changed: flushing the runners made with the previous one: {e}"),
        },
        Err(e) => tracing::warn!("{what} changed: {e}"),
    }
}
