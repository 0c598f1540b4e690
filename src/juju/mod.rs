//! The Juju hook tools, as this charm calls them.
//!
//! Owns every command line sent to Juju (research/juju-contract.md §2): tools are found by
//! name on `PATH`, data comes back with `--format=json`, free text goes after `--`, and an
//! `ERROR …` on stderr with exit 1 or 2 becomes a [`ToolError`]. One file per family:
//! [`status`], [`config`], [`action`], [`log`] (a tracing layer that forwards to `juju-log`),
//! [`unit`] (leadership, version, reboot). It knows nothing of GitHub, LXD or the host.

pub mod action;
pub mod config;
pub mod log;
pub mod status;
pub mod unit;

use crate::process::{self, ProcessError};

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
    #[error("hook tool `{tool}` printed {output:?}, which is not the JSON expected: {source}")]
    BadOutput {
        tool: &'static str,
        output: String,
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
    serde_json::from_str(&output).map_err(|source| ToolError::BadOutput { tool, output, source })
}
