//! What the watcher is told: [`WatchSpec`], which the hooks write to `watch.json` beside the
//! unit's state (root's alone: it holds the token and the webhook secret, which never go on a
//! command line), and the systemd service that runs it, `ghro.watcher.service`, kept like the
//! metrics exporter's (written when it changes, restarted when the spec does, removed with a
//! fixed pool and on `stop`).

use std::path::{Path, PathBuf};

use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};

use crate::host::systemd_unit::{ensure_units, remove_units, Ensured, Restart, UnitError};
use crate::host::Host;
use crate::proxy::Proxy;

const TEMPLATE: &str = include_str!("../../templates/watcher.service.j2");
/// The watcher's systemd service.
pub const SERVICE: &str = "ghro.watcher.service";

/// Everything the watcher needs, from the config of the hook that wrote it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSpec {
    pub unit: String,
    pub github_url: String,
    /// `org` or `owner/repo`.
    pub path: String,
    pub group: Option<String>,
    pub token: String,
    pub proxy: Proxy,
    /// The names of the unit's runners start so.
    pub runner_prefix: String,
    /// The labels every runner of the unit carries.
    pub labels: Vec<String>,
    pub interval_secs: u32,
    /// 0: no webhook endpoint.
    pub webhook_port: u16,
    pub webhook_secret: String,
    /// `virtual-machines`, and `idle-schedule` as written (the floor now is worked out from them).
    pub floor: u32,
    pub idle_schedule: String,
    pub idle_wait_secs: u64,
    /// `max-virtual-machines`.
    pub max: u32,
    /// The reconcile timer's service: started to reconcile now.
    pub reconcile_service: String,
}

impl std::fmt::Debug for WatchSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchSpec")
            .field("unit", &self.unit)
            .field("path", &self.path)
            .field("interval_secs", &self.interval_secs)
            .field("webhook_port", &self.webhook_port)
            .finish_non_exhaustive()
    }
}

impl WatchSpec {
    /// The spec file of `unit`.
    pub fn file(host: &Host, unit: &str) -> PathBuf {
        crate::state::unit_dir(host, unit).join("watch.json")
    }

    pub fn load(file: &Path) -> Result<WatchSpec, String> {
        let text = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("{} is no watcher spec: {e}", file.display()))
    }
}

/// The watcher's service, as the charm writes it.
#[derive(Debug, Clone)]
pub struct WatcherService<'a> {
    pub spec: &'a WatchSpec,
    /// The charm's `dispatch` binary.
    pub dispatch: &'a Path,
}

impl WatcherService<'_> {
    pub fn render(&self, spec_file: &Path) -> Result<String, UnitError> {
        let ctx = context! {
            unit => &self.spec.unit,
            interval => self.spec.interval_secs,
            webhook_port => self.spec.webhook_port,
            reconcile => &self.spec.reconcile_service,
            dispatch => self.dispatch.display().to_string(),
            spec => spec_file.display().to_string(),
        };
        Environment::new()
            .render_str(TEMPLATE, ctx)
            .map(|text| text + "\n")
            .map_err(|source| UnitError::Template {
                template: "watcher.service.j2",
                source,
            })
    }

    /// Writes the spec (0600) and the service, and makes sure it runs: restarted when the
    /// spec changed, as the service reads it only when it starts, or when `restart` says so
    /// (a new binary).
    pub fn ensure(&self, host: &Host, restart: Restart) -> Result<Ensured, UnitError> {
        let file = WatchSpec::file(host, &self.spec.unit);
        let text = serde_json::to_vec_pretty(self.spec).expect("a spec serialises");
        let written = crate::host::fs::write_atomic(&file, &text, 0o600).map_err(|e| UnitError::Write {
            unit: file.display().to_string(),
            source: e,
        })?;
        let ensured = ensure_units(host, &[(SERVICE.to_string(), self.render(&file)?)], SERVICE)?;
        let stale = written == crate::host::fs::Written::Changed || restart == Restart::Always;
        if stale && ensured == Ensured::Unchanged {
            host.systemd().unit("restart", SERVICE)?;
            return Ok(Ensured::Restarted);
        }
        Ok(ensured)
    }

    /// Stops the watcher and deletes its service and spec (none installed is fine).
    pub fn remove(host: &Host, unit: &str) -> Vec<UnitError> {
        let mut errors = remove_units(host, &[SERVICE.to_string()]);
        let file = WatchSpec::file(host, unit);
        if let Err(e) = crate::host::fs::remove_if_exists(&file) {
            errors.push(UnitError::Write {
                unit: file.display().to_string(),
                source: e,
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_never_prints_its_token_or_secret_and_the_service_never_carries_them() {
        let spec = WatchSpec {
            unit: "github-runner/0".into(),
            github_url: "https://github.com/".into(),
            path: "acme".into(),
            group: Some("default".into()),
            token: "ghp_supersecret".into(),
            proxy: Proxy::default(),
            runner_prefix: "github-runner-0-abcd-".into(),
            labels: vec!["self-hosted".into()],
            interval_secs: 30,
            webhook_port: 8080,
            webhook_secret: "hook-secret-0123456789".into(),
            floor: 1,
            idle_schedule: String::new(),
            idle_wait_secs: 600,
            max: 4,
            reconcile_service: "ghro.reconcile-runners.service".into(),
        };
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("supersecret") && !shown.contains("hook-secret"),
            "{shown}"
        );
        let dispatch = Path::new("/var/lib/juju/agents/unit-github-runner-0/charm/dispatch");
        let unit = WatcherService { spec: &spec, dispatch }
            .render(Path::new("/var/lib/github-runner/github-runner-0/watch.json"))
            .expect("renders");
        assert!(
            unit.contains("watch --spec \"/var/lib/github-runner/github-runner-0/watch.json\""),
            "{unit}"
        );
        assert!(!unit.contains("supersecret") && !unit.contains("hook-secret"), "{unit}");
        assert!(unit.contains("Restart=always") && unit.contains("port 8080"), "{unit}");
    }
}
