//! systemd, as the charm drives it: the [`Systemd`] trait, and [`Systemctl`], which runs
//! `systemctl` found on `PATH` (so that the local setup can put a fake first). Handler tests
//! give the [`super::Host`] a recording value instead.

use crate::process::{self, ProcessError};

const SYSTEMCTL: &str = "systemctl";

/// What the charm asks of systemd.
pub trait Systemd: Send + Sync {
    fn daemon_reload(&self) -> Result<(), ProcessError>;
    /// `systemctl <verb> <unit>`, e.g. `enable`, `start`, `restart`, `stop`, `disable`.
    fn unit(&self, verb: &str, unit: &str) -> Result<(), ProcessError>;
    /// Whether the unit is active; any failure to ask counts as not active.
    fn is_active(&self, unit: &str) -> bool;
    /// `systemctl start --no-block <unit>`: queued, not waited for.
    fn start_in_background(&self, unit: &str) -> Result<(), ProcessError>;
    /// Whether the unit runs or is starting: a oneshot service is `activating` until its
    /// command ends, which `is-active` does not count.
    fn is_running(&self, unit: &str) -> bool;
}

/// The real one: `systemctl` commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Systemctl;

impl Systemd for Systemctl {
    fn daemon_reload(&self) -> Result<(), ProcessError> {
        process::run(SYSTEMCTL, &["daemon-reload"], None).map(drop)
    }

    fn unit(&self, verb: &str, unit: &str) -> Result<(), ProcessError> {
        process::run(SYSTEMCTL, &[verb, unit], None).map(drop)
    }

    fn is_active(&self, unit: &str) -> bool {
        process::run(SYSTEMCTL, &["is-active", "--quiet", unit], None).is_ok()
    }

    fn start_in_background(&self, unit: &str) -> Result<(), ProcessError> {
        process::run(SYSTEMCTL, &["start", "--no-block", unit], None).map(drop)
    }

    fn is_running(&self, unit: &str) -> bool {
        process::run(SYSTEMCTL, &["show", "--property=ActiveState", "--value", unit], None)
            .is_ok_and(|out| matches!(out.stdout.trim(), "active" | "activating" | "reloading"))
    }
}

/// A systemd that records what it was asked and keeps which units are active (tests).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FakeSystemd {
    pub calls: std::sync::Mutex<Vec<String>>,
    active: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

#[cfg(test)]
impl FakeSystemd {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls lock").clone()
    }
}

#[cfg(test)]
impl Systemd for FakeSystemd {
    fn daemon_reload(&self) -> Result<(), ProcessError> {
        self.calls.lock().expect("calls lock").push("daemon-reload".into());
        Ok(())
    }

    fn unit(&self, verb: &str, unit: &str) -> Result<(), ProcessError> {
        self.calls.lock().expect("calls lock").push(format!("{verb} {unit}"));
        let mut active = self.active.lock().expect("active lock");
        match verb {
            "start" | "restart" => drop(active.insert(unit.to_string())),
            "stop" => drop(active.remove(unit)),
            _ => {}
        }
        Ok(())
    }

    fn is_active(&self, unit: &str) -> bool {
        self.active.lock().expect("active lock").contains(unit)
    }

    fn start_in_background(&self, unit: &str) -> Result<(), ProcessError> {
        self.unit("start", unit)
    }

    fn is_running(&self, unit: &str) -> bool {
        self.is_active(unit)
    }
}
