//! systemd units the charm keeps on the host (the reconcile timer, the metrics exporter, the
//! services to come): written atomically where their text changed, restarted only then or when
//! they are not running, stopped, disabled and deleted on the way out. What each unit says is
//! its owner's business ([`super::timer`], `metrics::exporter`).

use super::fs::{self, Written};
use super::Host;
use crate::process::ProcessError;

/// Where unit files go (under the host root).
pub const UNIT_DIR: &str = "/etc/systemd/system";

#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error("writing {unit}: {source}")]
    Write {
        unit: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Systemctl(#[from] ProcessError),
    #[error(transparent)]
    Account(#[from] super::account::AccountError),
    #[error("rendering {template}: {source}")]
    Template {
        template: &'static str,
        #[source]
        source: minijinja::Error,
    },
}

/// When a unit that is already right is restarted anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Only when its text changed (or it was not running).
    IfChanged,
    /// Always: what it runs is new (the charm's binary after an upgrade).
    Always,
}

/// What [`ensure_units`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// Units written and the timer (re)started.
    Installed,
    /// Units were right; the timer was not running and has been started.
    Restarted,
    /// Nothing to do.
    Unchanged,
}

/// Writes `units` (name, text) where they changed, then makes sure `main` (one of them) is
/// enabled and running: restarted when anything changed (a running timer keeps its old
/// schedule otherwise), started when it was not running.
pub fn ensure_units(host: &Host, units: &[(String, String)], main: &str) -> Result<Ensured, UnitError> {
    let mut changed = false;
    for (name, text) in units {
        let path = host.path(UNIT_DIR).join(name);
        let written = fs::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| UnitError::Write {
            unit: name.clone(),
            source,
        })?;
        changed |= written == Written::Changed;
    }
    if changed {
        host.systemd().daemon_reload()?;
        host.systemd().unit("enable", main)?;
        host.systemd().unit("restart", main)?;
        return Ok(Ensured::Installed);
    }
    if host.systemd().is_active(main) {
        return Ok(Ensured::Unchanged);
    }
    host.systemd().unit("enable", main)?;
    host.systemd().unit("start", main)?;
    Ok(Ensured::Restarted)
}

/// Stops and disables `units` (in that order: a timer before its service) and deletes their
/// files. Every step is tried; the errors of those that failed are returned (units never
/// installed are not an error).
pub fn remove_units(host: &Host, units: &[String]) -> Vec<UnitError> {
    let unit_paths: Vec<_> = units.iter().map(|name| host.path(UNIT_DIR).join(name)).collect();
    if !unit_paths.iter().any(|p| p.exists()) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for unit in units {
        for verb in ["stop", "disable"] {
            if let Err(e) = host.systemd().unit(verb, unit) {
                errors.push(e.into());
            }
        }
    }
    for path in &unit_paths {
        if let Err(source) = fs::remove_if_exists(path) {
            errors.push(UnitError::Write {
                unit: path.display().to_string(),
                source,
            });
        }
    }
    if let Err(e) = host.systemd().daemon_reload() {
        errors.push(e.into());
    }
    errors
}
