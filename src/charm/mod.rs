//! The charm's handlers: one per event, each reading like the operator's story.
//!
//! A hook builds one [`Ctx`] (hook tools, the unit's [`Deps`], its state file, the model
//! proxy) and passes it down. What each hook does is one row of [`plan`]; [`hooks`] carries it
//! out, and hooks and actions alike work on runners through the one [`pipeline`] (LXD set up,
//! previous generations retired, the manager's steps, recorded, ETags kept, state saved), then
//! say in `juju status` or the action's results how it went. No handler talks to LXD or
//! GitHub itself. Hooks fail (exit non-zero, so Juju retries) only when Juju itself could not be
//! talked to or the state could not be kept; a problem the operator must fix sets `blocked`
//! and exits 0. Actions never exit non-zero: they call `action-fail` with the reason.

mod actions;
mod bring_up;
mod cos;
mod generations;
mod hooks;
mod image;
mod pipeline;
mod plan;
mod record;
mod status;
#[cfg(test)]
mod status_docs;
#[cfg(test)]
mod tests;
mod watch;

/// The peer relation: every unit of the application, so that each takes its share of the
/// queued jobs.
pub const PEERS: &str = "runner-peers";

use std::time::Duration;

use anyhow::Context as _;

use crate::config::{CharmConfig, ConfigProblems};
use crate::event::Event;
use crate::host::Host;
use crate::juju::{HookTools, Status, ToolError};
use crate::lxd::LxdClient;
use crate::manager::Deps;
use crate::proxy::Proxy;
use crate::state::StateFile;
use crate::unit::UnitName;

/// What every handler of one hook works with, built once.
pub(crate) struct Ctx<'a> {
    pub tools: &'a dyn HookTools,
    pub deps: Deps,
    pub state: StateFile,
    /// The model's proxy (`JUJU_CHARM_*_PROXY`).
    pub proxy: Proxy,
    pub juju: JujuEnv,
    /// Whether `token-secret-id` is read at its latest revision (`secret-get --refresh`): where
    /// the hook's plan takes a new token.
    pub refresh_secret: bool,
}

/// What else Juju's environment says about the unit.
#[derive(Debug, Clone, Default)]
pub(crate) struct JujuEnv {
    pub model_name: String,
    pub model_uuid: String,
    /// `JUJU_CHARM_DIR`, where `dispatch` is.
    pub charm_dir: Option<std::path::PathBuf>,
}

/// Seconds one GitHub request may take (default 30): for the fault suite, whose GitHub hangs.
pub const GITHUB_TIMEOUT_VAR: &str = "GITHUB_RUNNER_GITHUB_TIMEOUT";
/// Seconds of the first wait before a GitHub request is tried again (default 0.5, doubling):
/// for the fault suite, whose GitHub fails every call type twice.
pub const GITHUB_RETRY_DELAY_VAR: &str = "GITHUB_RUNNER_GITHUB_RETRY_DELAY";
/// Seconds a new runner has to come online (default [`crate::manager::ONLINE_GRACE`]): for the
/// tests, which would otherwise wait 10 minutes to see an offline runner replaced.
pub const ONLINE_GRACE_VAR: &str = "GITHUB_RUNNER_ONLINE_GRACE";

/// A positive number of seconds from the environment variable `name`.
fn seconds_from_env(name: &str) -> Option<Duration> {
    let seconds = std::env::var(name).ok()?.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero())
}

impl<'a> Ctx<'a> {
    /// The context Juju's environment describes: `JUJU_UNIT_NAME`, `GITHUB_RUNNER_ROOT`,
    /// `LXD_DIR`, the proxy variables.
    pub fn from_env(tools: &'a dyn HookTools) -> anyhow::Result<Self> {
        let model = std::env::var("JUJU_MODEL_UUID")
            .ok()
            .filter(|m| !m.is_empty())
            .context("JUJU_MODEL_UUID is not set: dispatch must run inside a Juju hook")?;
        let unit = std::env::var("JUJU_UNIT_NAME")
            .ok()
            .and_then(|u| UnitName::parse(&u, &model))
            .context(
                "JUJU_UNIT_NAME is not a unit name such as `github-runner/0`: dispatch must run inside a Juju hook",
            )?;
        let lxd = LxdClient::from_env()?;
        let proxy = Proxy::from_env(|name| std::env::var(name).ok());
        let mut ctx = Ctx::new(tools, unit, Host::from_env(), lxd, proxy);
        ctx.juju = JujuEnv {
            model_name: std::env::var("JUJU_MODEL_NAME").unwrap_or_default(),
            model_uuid: model,
            charm_dir: std::env::var_os("JUJU_CHARM_DIR").map(Into::into),
        };
        if let Some(timeout) = seconds_from_env(GITHUB_TIMEOUT_VAR) {
            ctx.deps.github_timeout = timeout;
        }
        if let Some(delay) = seconds_from_env(GITHUB_RETRY_DELAY_VAR) {
            ctx.deps.github_retry.base_delay = delay;
        }
        if let Some(grace) = seconds_from_env(ONLINE_GRACE_VAR) {
            ctx.deps.online_grace = grace;
        }
        Ok(ctx)
    }

    pub fn new(tools: &'a dyn HookTools, unit: UnitName, host: Host, lxd: LxdClient, proxy: Proxy) -> Self {
        let state = StateFile::new(&host, unit.as_str());
        Ctx {
            tools,
            deps: Deps::new(unit, host, lxd),
            state,
            proxy,
            juju: JujuEnv::default(),
            refresh_secret: false,
        }
    }

    /// The config, checked; `Ok(Err(problems))` when the operator must fix it.
    fn config(&self) -> Result<Result<CharmConfig, ConfigProblems>, ToolError> {
        let raw = self.tools.config_get()?;
        let secret = |uri: &str, key: &str| {
            self.tools
                .secret_get(uri, key, self.refresh_secret)
                .map_err(|e| status::secret_problem(&e, key))
        };
        Ok(CharmConfig::from_raw_with(&raw, self.proxy.clone(), &secret))
    }

    /// How many runners `config` wants now: for an elastic pool, with this unit's share of
    /// the queue ([`Ctx::share`]).
    fn sizing(&self, config: &CharmConfig) -> crate::manager::plan::Sizing {
        let share = match config.pool {
            crate::config::Pool::Fixed => crate::manager::plan::Share::WHOLE,
            crate::config::Pool::Elastic { .. } => self.share(),
        };
        plan::sizing(config, jiff::Timestamp::now(), share)
    }

    /// This unit's share of the queued jobs, by its rank among the application's units: those
    /// in the peer relation [`PEERS`] and those `goal-state` names (a unit being added is
    /// there before its peer relation joins). None of it for a unit going away (not in
    /// `goal-state`), or where the peers cannot be read: without knowing the others, N units
    /// could each make the whole queue's runners.
    fn share(&self) -> crate::manager::plan::Share {
        use crate::manager::plan::Share;
        let me = self.deps.unit.as_str().to_string();
        let mut units = match self.tools.peer_units(PEERS) {
            Ok(units) => units,
            Err(e) => {
                tracing::warn!("relation-list of {PEERS}: {e}; queued jobs are not counted");
                return Share::NONE;
            }
        };
        match self.tools.goal_units() {
            Ok(goal) if !goal.contains(&me) => return Share::NONE,
            Ok(goal) => units.extend(goal),
            // An older Juju: the peer relation alone.
            Err(e) => tracing::debug!("goal-state: {e}"),
        }
        units.push(me);
        Share::among(&units, self.deps.unit.as_str())
    }

    /// The config when it is valid; otherwise the unit is set blocked with every problem.
    fn valid_config(&self) -> Result<Option<CharmConfig>, ToolError> {
        match self.config()? {
            Ok(config) => Ok(Some(config)),
            Err(problems) => {
                tracing::warn!("{problems}");
                self.status(&status::invalid_config(&problems))?;
                Ok(None)
            }
        }
    }

    fn status(&self, status: &Status) -> Result<(), ToolError> {
        self.tools.status_set(status)
    }
}

/// Runs the handler of `event` with the real environment.
///
/// # Errors
/// Only for hooks, when the hook must fail so that Juju runs it again.
pub async fn run(event: &Event, tools: &dyn HookTools) -> anyhow::Result<()> {
    match event {
        Event::Hook(hook) => hooks::run(&mut Ctx::from_env(tools)?, *hook).await,
        Event::Action(action) => match Ctx::from_env(tools) {
            Ok(ctx) => Ok(actions::run(&ctx, *action).await?),
            Err(e) => Ok(tools.action_fail(&e.to_string())?),
        },
        Event::UnknownAction(name) => Ok(tools.action_fail(&format!(
            "unknown action `{name}`: this charm has check-runners, reconcile-runners, flush-runners and update-dependencies"
        ))?),
        Event::Unhandled(name) => {
            tracing::debug!("nothing to do for {name}");
            Ok(())
        }
        Event::None => {
            eprintln!("no Juju event: JUJU_DISPATCH_PATH, JUJU_ACTION_NAME and JUJU_HOOK_NAME are unset");
            Ok(())
        }
    }
}
