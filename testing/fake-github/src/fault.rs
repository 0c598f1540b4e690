//! Faults a test injects into the next matching requests: a status, a delay, a rate limit.

use serde::{Deserialize, Serialize};

/// A fault to inject into the next `times` matching requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// `GET`, `POST`, …, or `*`.
    #[serde(default = "any")]
    pub method: String,
    /// Matches when the request path (after `/api/v3`) contains this text.
    pub path: String,
    #[serde(default = "one")]
    pub times: u32,
    /// Answer with this status (and a GitHub error body) instead of serving the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `primary` (limit used up), `secondary` (with `retry_after`), or plain.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

fn any() -> String {
    "*".into()
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault on the next `method` request (`*` for any) whose path contains `path`; on its
    /// own it answers normally: add a status, a delay, a kind.
    pub fn on(method: &str, path: &str) -> Fault {
        Fault {
            method: method.into(),
            path: path.into(),
            times: 1,
            status: None,
            delay_ms: None,
            kind: None,
            retry_after: None,
        }
    }

    /// For the next `times` matching requests instead of one.
    pub fn times(self, times: u32) -> Fault {
        Fault { times, ..self }
    }

    /// Answer with `status` and a GitHub error body.
    pub fn status(self, status: u16) -> Fault {
        Fault {
            status: Some(status),
            ..self
        }
    }

    pub fn delay(self, delay: std::time::Duration) -> Fault {
        Fault {
            delay_ms: Some(delay.as_millis() as u64),
            ..self
        }
    }

    /// `primary` (limit used up) or `secondary`.
    pub fn kind(self, kind: &str) -> Fault {
        Fault {
            kind: Some(kind.into()),
            ..self
        }
    }

    pub fn retry_after(self, seconds: u64) -> Fault {
        Fault {
            retry_after: Some(seconds),
            ..self
        }
    }
}
