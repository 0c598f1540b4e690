//! Observability: what the hooks record ([`record`]), the exporter that serves it to
//! Prometheus ([`exposition`], [`exporter`]) and the JSON event log ([`events`]).
//!
//! Hooks are short-lived processes, so the figures live in a small file,
//! `/var/lib/github-runner/<unit>/metrics.json`, rewritten atomically after every run of the manager's steps;
//! the exporter reads it on each scrape and never calls GitHub. Recording never fails a hook:
//! a file that cannot be written is a warning.

pub mod cos_agent;
pub mod events;
pub mod exporter;
pub mod exposition;
pub mod record;
#[cfg(test)]
mod reference_docs;

use std::path::{Path, PathBuf};

use crate::host::account::share_dir_with_group;
use crate::host::fs::{write_atomic, write_atomic_for};
use crate::host::Host;

pub use events::{EventLog, LogEntry};
pub use record::{Outcome, Record};

/// The unit's metrics file.
#[derive(Debug, Clone)]
pub struct MetricsFile {
    path: PathBuf,
    /// The exporter's group, which alone may read the file besides root (none: root's alone).
    group: Option<u32>,
}

impl MetricsFile {
    /// The file of `unit` (e.g. `github-runner/0`), beside its state ([`crate::state::unit_dir`]).
    pub fn new(host: &Host, unit: &str) -> Self {
        MetricsFile {
            path: crate::state::unit_dir(host, unit).join("metrics.json"),
            group: crate::host::account::group_id(host, crate::host::account::EXPORTER),
        }
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        MetricsFile {
            path: path.into(),
            group: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record; a missing or unreadable file is an empty one (counters start again).
    pub fn load(&self) -> Record {
        match std::fs::read(&self.path) {
            Ok(text) => serde_json::from_slice(&text).unwrap_or_else(|e| {
                tracing::warn!("metrics: {} is not a record ({e}); starting again", self.path.display());
                Record::default()
            }),
            Err(_) => Record::default(),
        }
    }

    /// Deletes the file (the unit is going away); one that is not there is fine.
    pub fn delete(&self) -> std::io::Result<()> {
        crate::host::fs::remove_if_exists(&self.path)
    }

    /// Loads the record, lets `change` update it and writes it back.
    pub fn update(&self, change: impl FnOnce(&mut Record)) {
        let mut record = self.load();
        change(&mut record);
        let text = serde_json::to_vec(&record).expect("a record serialises");
        // The exporter's group may read it, and traverse its directory; nobody else.
        let written = match (self.group, self.path.parent()) {
            (Some(gid), Some(dir)) => std::fs::create_dir_all(dir)
                .and_then(|_| share_dir_with_group(dir, gid))
                .and_then(|_| write_atomic_for(&self.path, &text, 0o640, Some(gid))),
            _ => write_atomic(&self.path, &text, 0o600),
        };
        if let Err(e) = written {
            tracing::warn!("metrics: writing {}: {e}", self.path.display());
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_file_and_a_corrupt_file_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = MetricsFile::new(&Host::new(dir.path()), "github-runner/0");
        file.update(|r| r.target = 3);
        file.update(|r| r.binary_update_failures += 1);
        let record = file.load();
        assert_eq!((record.target, record.binary_update_failures), (3, 1));
        std::fs::write(file.path(), "{\"target\": ").unwrap();
        assert_eq!(file.load(), Record::default());
    }
}
