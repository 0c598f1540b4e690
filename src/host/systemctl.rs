//! `systemctl`, found on `PATH` so that tests and the local setup can put a fake first.

use crate::process::{self, ProcessError};

const SYSTEMCTL: &str = "systemctl";

pub fn daemon_reload() -> Result<(), ProcessError> {
    process::run(SYSTEMCTL, &["daemon-reload"], None).map(drop)
}

/// Runs `systemctl <verb> <unit>`, e.g. `enable`, `start`, `restart`, `stop`, `disable`.
pub fn unit(verb: &str, unit: &str) -> Result<(), ProcessError> {
    process::run(SYSTEMCTL, &[verb, unit], None).map(drop)
}

/// Whether the unit is active; any failure to ask counts as not active.
pub fn is_active(unit: &str) -> bool {
    process::run(SYSTEMCTL, &["is-active", "--quiet", unit], None).is_ok()
}
