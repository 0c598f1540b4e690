//! The charm's handlers: one per event, each reading like the operator's story.
//!
//! A handler reads config and state, calls the layers below, and says in `juju status` how it
//! went. Hooks fail (exit non-zero, so Juju retries) only when Juju itself could not be
//! talked to; a problem the operator must fix sets `blocked` and exits 0. Actions never exit
//! non-zero: they call `action-fail` with the reason.

mod actions;
mod hooks;
mod runners;

use anyhow::Context as _;

use crate::config::{CharmConfig, ConfigProblems, ProxyConfig};
use crate::event::Event;
use crate::host::Host;
use crate::juju::{self, status::Status, ToolError};
use crate::state::StateFile;

/// What every handler works with.
pub struct Charm {
    pub host: Host,
    /// This unit, e.g. `github-runner/0`.
    pub unit: String,
    pub state: StateFile,
}

impl Charm {
    pub fn from_env() -> anyhow::Result<Self> {
        let unit = std::env::var("JUJU_UNIT_NAME")
            .ok()
            .filter(|u| is_unit_name(u))
            .context(
                "JUJU_UNIT_NAME is not a unit name such as `github-runner/0`: dispatch must run inside a Juju hook",
            )?;
        let host = Host::from_env();
        let state = StateFile::new(&host, &unit);
        Ok(Charm { host, unit, state })
    }

    /// The config, checked; `Ok(Err(problems))` when the operator must fix it.
    pub(crate) fn config(&self) -> Result<Result<CharmConfig, ConfigProblems>, ToolError> {
        let raw = juju::config::get_all()?;
        Ok(CharmConfig::from_raw(
            &raw,
            ProxyConfig::from_env(|name| std::env::var(name).ok()),
        ))
    }

    /// The config when it is valid; otherwise the unit is set blocked with every problem.
    fn valid_config(&self) -> anyhow::Result<Option<CharmConfig>> {
        match self.config()? {
            Ok(config) => Ok(Some(config)),
            Err(problems) => {
                tracing::warn!("{problems}");
                juju::status::set(&Status::Blocked(problems.to_string()))?;
                Ok(None)
            }
        }
    }
}

/// Juju unit names: an application name, a slash, a number.
fn is_unit_name(unit: &str) -> bool {
    let Some((app, number)) = unit.split_once('/') else {
        return false;
    };
    !app.is_empty()
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// Runs the handler of `event`.
///
/// # Errors
/// Only for hooks, when the hook must fail so that Juju runs it again.
pub async fn run(event: &Event) -> anyhow::Result<()> {
    match event {
        Event::Hook(hook) => hooks::run(&Charm::from_env()?, *hook).await,
        Event::Action(action) => {
            let outcome = match Charm::from_env() {
                Ok(charm) => actions::run(&charm, *action).await,
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::error!("action {} failed: {e:#}", action.name());
                juju::action::fail(&format!("{e:#}"))?;
            }
            Ok(())
        }
        Event::UnknownAction(name) => {
            juju::action::fail(&format!(
                "unknown action `{name}`: this charm has check-runners, reconcile-runners, flush-runners and update-dependencies"
            ))?;
            Ok(())
        }
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

#[cfg(test)]
mod tests {
    #[test]
    fn unit_names_are_app_slash_number() {
        assert!(super::is_unit_name("github-runner/0"));
        assert!(super::is_unit_name("gh2/15"));
        assert!(!super::is_unit_name("github-runner"));
        assert!(!super::is_unit_name("github-runner/x"));
        assert!(!super::is_unit_name("a b/0"));
    }
}
