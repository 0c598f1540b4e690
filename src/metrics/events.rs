//! The runner event log, `/var/log/github-runner/metrics.log`: one JSON object a line (runner
//! created, creation failed, removed, job seen done, reconciliation), for Loki through the
//! `cos-agent` relation, as the original charm wrote (at `/var/log/github-runner-metrics.log`:
//! moved into a directory only root may write, since `/var/log` is group-writable on Ubuntu
//! and whoever can create a name there could put a FIFO or a file of theirs in the log's
//! place). Rotated by the logrotate file written beside it ([`EventLog::ensure_rotation`]).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde::Serialize;

use crate::host::fs::write_atomic;
use crate::host::Host;

const LOG: &str = "/var/log/github-runner/metrics.log";
/// The log's directory: root's alone.
const LOG_DIR_MODE: u32 = 0o755;
const LOGROTATE: &str = "/etc/logrotate.d/github-runner";

/// One line of the log (the `event` field names the kind).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LogEntry {
    RunnerCreated {
        runner: String,
        /// From the start of the creation to the runner process started.
        seconds: f64,
    },
    RunnerCreationFailed {
        error: String,
    },
    RunnerRemoved {
        runner: String,
        reason: &'static str,
    },
    /// A runner seen busy that has gone since: its job is over.
    JobDone {
        runner: String,
    },
    Reconciliation {
        result: &'static str,
        target: usize,
        healthy: usize,
        created: usize,
        removed: usize,
        failed: usize,
        seconds: f64,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    timestamp: f64,
    unit: &'a str,
    #[serde(flatten)]
    event: &'a LogEntry,
}

/// The log of one machine.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    logrotate: PathBuf,
}

impl EventLog {
    pub fn new(host: &Host) -> Self {
        EventLog {
            path: host.path(LOG),
            logrotate: host.path(LOGROTATE),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends `events` of `unit`, one line each, stamped `now` (Unix seconds). A log that
    /// cannot be written is a warning, never a failed hook.
    pub fn append(&self, unit: &str, now: f64, events: &[LogEntry]) {
        if events.is_empty() {
            return;
        }
        let mut text = Vec::new();
        for event in events {
            let line = Line {
                timestamp: now,
                unit,
                event,
            };
            serde_json::to_writer(&mut text, &line).expect("an event serialises");
            text.push(b'\n');
        }
        if let Err(e) = self.own_dir() {
            tracing::warn!("event log {}: {e}", self.path.display());
            return;
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            // A link put in its place (a group that may write in /var/log) is not followed.
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&self.path)
            .and_then(|mut file| file.write_all(&text));
        if let Err(e) = written {
            tracing::warn!("event log {}: {e}", self.path.display());
        }
    }

    /// Makes the log's directory, root's and not writable by anyone else, or says why not
    /// (a directory of another owner, or not a directory, is left alone and not written in).
    fn own_dir(&self) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let dir = self.path.parent().expect("the log is inside a directory");
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(LOG_DIR_MODE).create(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let meta = std::fs::symlink_metadata(dir)?;
        let ours = nix::unistd::Uid::effective().as_raw();
        if !meta.is_dir() || meta.uid() != ours {
            return Err(std::io::Error::other(format!(
                "{} is not a directory of uid {ours}: not written in",
                dir.display()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(LOG_DIR_MODE))?;
        }
        Ok(())
    }

    /// Writes the logrotate file: daily, a week kept, compressed, copied then truncated (the
    /// hooks append; nothing holds the file open).
    pub fn ensure_rotation(&self) -> std::io::Result<()> {
        let text = format!(
            "{LOG} {{\n    daily\n    rotate 7\n    maxsize 100M\n    missingok\n    notifempty\n    compress\n    delaycompress\n    copytruncate\n}}\n"
        );
        write_atomic(&self.logrotate, text.as_bytes(), 0o644).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_is_one_json_line_with_its_kind_time_and_unit() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let log = EventLog::new(&host);
        let created = LogEntry::RunnerCreated {
            runner: "github-runner-0-aa-bb".into(),
            seconds: 4.5,
        };
        let removed = LogEntry::RunnerRemoved {
            runner: "github-runner-0-aa-cc".into(),
            reason: "scale_down",
        };
        log.append("github-runner/0", 1.5, &[created]);
        log.append("github-runner/0", 2.0, &[removed]);
        let text = std::fs::read_to_string(log.path()).unwrap();
        #[derive(serde::Deserialize)]
        struct Line {
            event: String,
            unit: String,
            timestamp: f64,
            seconds: Option<f64>,
            reason: Option<String>,
        }
        let lines: Vec<Line> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].event, "runner_created");
        assert_eq!(lines[0].seconds, Some(4.5));
        assert_eq!(lines[0].unit, "github-runner/0");
        assert_eq!(lines[1].event, "runner_removed");
        assert_eq!(lines[1].reason.as_deref(), Some("scale_down"));
        assert_eq!(lines[1].timestamp, 2.0);
    }

    #[test]
    fn the_logrotate_file_names_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        EventLog::new(&host).ensure_rotation().unwrap();
        let text = std::fs::read_to_string(host.path(LOGROTATE)).unwrap();
        assert!(text.starts_with("/var/log/github-runner/metrics.log {"), "{text}");
        assert!(text.contains("copytruncate"));
    }

    #[test]
    fn a_link_in_the_log_s_place_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let target = dir.path().join("shadow");
        std::fs::write(&target, "untouched\n").unwrap();
        std::fs::create_dir_all(host.path("/var/log/github-runner")).unwrap();
        std::os::unix::fs::symlink(&target, host.path(LOG)).unwrap();
        let done = LogEntry::JobDone { runner: "r".into() };
        EventLog::new(&host).append("github-runner/0", 1.0, &[done]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    }

    #[test]
    fn the_log_s_directory_is_root_s_alone_and_a_link_in_its_place_is_not_written_through() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let log = EventLog::new(&host);
        let done = || [LogEntry::JobDone { runner: "r".into() }];
        log.append("github-runner/0", 1.0, &done());
        let logs = host.path("/var/log/github-runner");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&logs), 0o755);
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
        log.append("github-runner/0", 2.0, &done());
        assert_eq!(mode(&logs), 0o755, "a directory others may write in is tightened");
        assert_eq!(std::fs::read_to_string(log.path()).unwrap().lines().count(), 2);

        std::fs::remove_dir_all(&logs).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &logs).unwrap();
        log.append("github-runner/0", 3.0, &done());
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing written through the link"
        );
    }
}
