//! What can go wrong talking to LXD, keeping LXD's own message.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LxdError {
    #[error("LXD is not reachable at {socket}: {detail} (is the daemon running? `lxd waitready`)")]
    Unreachable { socket: PathBuf, detail: String },
    #[error("LXD refused {method} {path}: {status} {message}")]
    Api {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("LXD operation {description:?} failed: {err}")]
    OperationFailed { description: String, err: String },
    #[error("LXD operation {description:?} did not finish within {seconds} s")]
    Timeout { description: String, seconds: u64 },
    #[error("`{command}` in {instance} printed more than {limit} bytes on one stream: it was killed")]
    OutputTooLarge {
        command: String,
        instance: String,
        limit: usize,
    },
    #[error("LXD's answer to {path} is not what its API documents: {detail}")]
    Decode { path: String, detail: String },
}

impl LxdError {
    /// Whether LXD said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LxdError::Api { status: 404, .. })
    }

    /// Whether LXD lost track of an exec it may or may not have started (LXD 5.0, under load
    /// or while the instance's init is still setting up: "Failed to retrieve PID of executing
    /// child process").
    pub fn is_lost_exec(&self) -> bool {
        matches!(self, LxdError::OperationFailed { err, .. } if err.contains(LOST_PID))
    }
}

const LOST_PID: &str = "Failed to retrieve PID of executing child process";
