//! Leadership, the workload version shown in `juju status`, and reboots.

use super::ToolError;

const IS_LEADER: &str = "is-leader";
const APPLICATION_VERSION_SET: &str = "application-version-set";
const JUJU_REBOOT: &str = "juju-reboot";

/// Whether this unit holds the leadership lease (good for about 30 s).
pub fn is_leader() -> Result<bool, ToolError> {
    super::run_json(IS_LEADER, &[])
}

/// Sets the `Version` column of `juju status`.
pub fn set_application_version(version: &str) -> Result<(), ToolError> {
    super::run(APPLICATION_VERSION_SET, &["--", version], None)?;
    Ok(())
}

/// When the machine reboots: after this hook succeeds, or now (Juju kills this process and
/// runs the hook again after the reboot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reboot {
    AfterHook,
    Now,
}

pub fn reboot(when: Reboot) -> Result<(), ToolError> {
    let args: &[&str] = match when {
        Reboot::AfterHook => &[],
        Reboot::Now => &["--now"],
    };
    super::run(JUJU_REBOOT, args, None)?;
    Ok(())
}
