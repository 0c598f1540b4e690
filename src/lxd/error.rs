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
    #[error("LXD's answer to {path} is not what its API documents: {detail}")]
    Decode { path: String, detail: String },
}

impl LxdError {
    /// Whether LXD said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LxdError::Api { status: 404, .. })
    }
}
