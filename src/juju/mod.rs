//! The Juju hook tools, as this charm calls them.
//!
//! Owns every command line sent to Juju (research/juju-contract.md §2): tools are found by
//! name on `PATH`, data comes back with `--format=json`, free text goes after `--`, and an
//! `ERROR …` on stderr with exit 1 or 2 becomes a [`ToolError`]. One file per family:
//! [`status`] (and the application version), [`config`], [`action`], [`relation`],
//! [`secret`], [`log`] (a tracing layer that forwards to `juju-log`).
//! Handlers see the tools as one [`HookTools`] value: [`ProcessTools`] runs the commands,
//! and `recorder::Recorder` (tests only) records them, so a handler's unit test needs no
//! process. It knows nothing of GitHub, LXD or the host.

pub mod action;
pub mod config;
pub mod log;
mod ports;
#[cfg(test)]
pub mod recorder;
pub mod relation;
pub mod secret;
pub mod status;

use std::collections::BTreeMap;

use crate::process::{self, ProcessError};
use crate::secret::Secret;

pub use action::Results;
pub use config::RawConfig;
pub use status::Status;

/// The hook tools a handler uses, as one value.
pub trait HookTools: Send + Sync {
    /// `config-get`: every option that is set or has a default.
    fn config_get(&self) -> Result<RawConfig, ToolError>;
    /// `status-set`: this unit's workload status.
    fn status_set(&self, status: &Status) -> Result<(), ToolError>;
    /// `action-set`: the action's results (several calls merge).
    fn action_set(&self, results: &Results) -> Result<(), ToolError>;
    /// `action-fail`: the action failed, with a message for the operator.
    fn action_fail(&self, message: &str) -> Result<(), ToolError>;
    /// `action-log`: a progress line for `juju run`.
    fn action_log(&self, message: &str) -> Result<(), ToolError>;
    /// `juju-log -l LEVEL`: a line in `juju debug-log`.
    fn juju_log(&self, level: &'static str, message: &str) -> Result<(), ToolError>;
    /// `relation-ids`: the ids (`cos-agent:1`) of the relations on `endpoint`, sorted.
    fn relation_ids(&self, endpoint: &str) -> Result<Vec<String>, ToolError>;
    /// `relation-set --file -`: this unit's data in relation `relation_id` (an empty value
    /// deletes its key), sent on stdin; Juju commits it when the hook succeeds.
    fn relation_set(&self, relation_id: &str, data: &BTreeMap<String, String>) -> Result<(), ToolError>;
    /// `secret-get <uri> <key>`: one value of a secret, at the revision this unit tracks, or
    /// at the latest (which it then tracks) with `refresh`.
    fn secret_get(&self, uri: &str, key: &str, refresh: bool) -> Result<Secret, ToolError>;
    /// `open-port <port>/tcp` (`open`) or `close-port <port>/tcp`: what `juju expose` opens.
    fn set_port(&self, port: u16, open: bool) -> Result<(), ToolError>;
    /// `opened-ports`: the TCP ports this unit opened.
    fn opened_ports(&self) -> Result<Vec<u16>, ToolError>;
    /// `application-version-set`: the version `juju status` shows for the application.
    fn application_version_set(&self, version: &str) -> Result<(), ToolError>;
    /// `relation-list` of the peer relation `endpoint`: the application's other units in it
    /// (none before the relation exists, or with no other unit).
    fn peer_units(&self, endpoint: &str) -> Result<Vec<String>, ToolError>;
    /// `goal-state`: the application's units Juju means to keep (not those `dying`),
    /// including those whose peer relation has not joined yet.
    fn goal_units(&self) -> Result<Vec<String>, ToolError>;
}

/// The real hook tools: commands found on `PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessTools;

impl HookTools for ProcessTools {
    fn config_get(&self) -> Result<RawConfig, ToolError> {
        config::get_all()
    }

    fn status_set(&self, status: &Status) -> Result<(), ToolError> {
        status::set(status)
    }

    fn action_set(&self, results: &Results) -> Result<(), ToolError> {
        action::set_results(results)
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        action::fail(message)
    }

    fn action_log(&self, message: &str) -> Result<(), ToolError> {
        action::log(message)
    }

    fn juju_log(&self, level: &'static str, message: &str) -> Result<(), ToolError> {
        log::juju_log(level, message)
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<String>, ToolError> {
        relation::ids(endpoint)
    }

    fn relation_set(&self, relation_id: &str, data: &BTreeMap<String, String>) -> Result<(), ToolError> {
        relation::set(relation_id, data)
    }

    fn secret_get(&self, uri: &str, key: &str, refresh: bool) -> Result<Secret, ToolError> {
        secret::get(uri, key, refresh)
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        status::set_application_version(version)
    }

    fn set_port(&self, port: u16, open: bool) -> Result<(), ToolError> {
        ports::set(port, open)
    }

    fn opened_ports(&self) -> Result<Vec<u16>, ToolError> {
        ports::opened()
    }

    fn peer_units(&self, endpoint: &str) -> Result<Vec<String>, ToolError> {
        relation::peer_units(endpoint)
    }

    fn goal_units(&self) -> Result<Vec<String>, ToolError> {
        relation::goal_units()
    }
}

/// A hook tool that did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("hook tool `{tool}` is not on PATH (is this running inside a Juju hook?)")]
    Missing { tool: &'static str },
    /// Juju refused: exit 1 is a runtime error, exit 2 a usage error.
    #[error("hook tool `{tool}` failed (exit {code}): {message}")]
    Refused {
        tool: &'static str,
        code: i32,
        message: String,
    },
    #[error("hook tool `{tool}` was killed by a signal: {message}")]
    Killed { tool: &'static str, message: String },
    /// What the tool printed is not quoted: `config-get` prints the token, `secret-get` a
    /// secret.
    #[error("hook tool `{tool}` printed {bytes} bytes that are not the JSON expected: {source}")]
    BadOutput {
        tool: &'static str,
        bytes: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Runs one hook tool and returns its stdout.
pub(crate) fn run(tool: &'static str, args: &[&str], stdin: Option<&[u8]>) -> Result<String, ToolError> {
    match process::run(tool, args, stdin) {
        Ok(out) => Ok(out.stdout),
        Err(ProcessError::Spawn { .. }) => Err(ToolError::Missing { tool }),
        Err(ProcessError::Failed { code, stderr, .. }) => {
            let message = stderr.strip_prefix("ERROR ").unwrap_or(&stderr).to_string();
            match code {
                Some(code) => Err(ToolError::Refused { tool, code, message }),
                None => Err(ToolError::Killed { tool, message }),
            }
        }
    }
}

/// Runs a tool with `--format=json` and parses what it printed.
pub(crate) fn run_json<T: serde::de::DeserializeOwned>(tool: &'static str, args: &[&str]) -> Result<T, ToolError> {
    let mut full = vec!["--format=json"];
    full.extend_from_slice(args);
    let output = run(tool, &full, None)?;
    serde_json::from_str(&output).map_err(|source| ToolError::BadOutput {
        tool,
        bytes: output.len(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::ToolError;

    #[test]
    fn output_that_is_not_json_is_never_quoted_it_may_hold_the_token() {
        let output = r#"{"token": "ghp_SECRETtoken", "path": "#;
        let source = serde_json::from_str::<super::RawConfig>(output).expect_err("truncated");
        let e = ToolError::BadOutput {
            tool: "config-get",
            bytes: output.len(),
            source,
        };
        assert!(!e.to_string().contains("ghp_SECRETtoken"), "{e}");
        assert!(e.to_string().contains("config-get` printed 37 bytes"), "{e}");
    }
}
