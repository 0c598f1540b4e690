//! `status-set` and `application-version-set`: what `juju status` shows for this unit and
//! in its application's `Version` column.
//!
//! Only the four statuses a charm may set exist here; `error` and `unknown` are Juju's. Both
//! take effect at once, and a failed hook does not undo them.

use super::ToolError;

const STATUS_SET: &str = "status-set";
const APPLICATION_VERSION_SET: &str = "application-version-set";

/// A workload status the charm can set, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Active(String),
    /// Needs the operator: the message says what to do.
    Blocked(String),
    /// Waiting for something outside the unit; no human needed.
    Waiting(String),
    /// Busy with something that resolves by itself.
    Maintenance(String),
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Active(_) => "active",
            Status::Blocked(_) => "blocked",
            Status::Waiting(_) => "waiting",
            Status::Maintenance(_) => "maintenance",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Status::Active(m) | Status::Blocked(m) | Status::Waiting(m) | Status::Maintenance(m) => m,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name(), self.message())
    }
}

/// Sets this unit's workload status (immediately; Juju never rolls it back).
pub(super) fn set(status: &Status) -> Result<(), ToolError> {
    super::run(
        STATUS_SET,
        &["--application=False", status.name(), "--", status.message()],
        None,
    )?;
    Ok(())
}

/// Sets the version `juju status` shows for the application (immediately).
pub(super) fn set_application_version(version: &str) -> Result<(), ToolError> {
    super::run(APPLICATION_VERSION_SET, &["--", version], None)?;
    Ok(())
}
