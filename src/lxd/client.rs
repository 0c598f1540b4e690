//! The HTTP side: the socket, the envelope, operations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::LxdError;
use super::types::{Operation, Server};

/// How long one operation `wait` call may block before it is asked again.
const WAIT_STEP_SECS: u64 = 30;

/// The socket: `$LXD_DIR/unix.socket`, else the snap's, else Debian's `/var/lib/lxd`.
pub fn socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("LXD_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&dir).join("unix.socket");
    }
    let snap = Path::new("/var/snap/lxd/common/lxd/unix.socket");
    if snap.exists() {
        return snap.to_path_buf();
    }
    PathBuf::from("/var/lib/lxd/unix.socket")
}

/// A client of one LXD daemon.
#[derive(Debug, Clone)]
pub struct LxdClient {
    http: reqwest::Client,
    socket: PathBuf,
}

impl LxdClient {
    pub fn new(socket: impl Into<PathBuf>) -> Result<Self, LxdError> {
        let socket = socket.into();
        let http = reqwest::Client::builder()
            .unix_socket(socket.as_path())
            // Never keep an idle, silent connection: LXD 5.0 blocks its accept loop on it.
            .pool_max_idle_per_host(0)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(WAIT_STEP_SECS + 30))
            .build()
            .map_err(|e| LxdError::Unreachable {
                socket: socket.clone(),
                detail: e.to_string(),
            })?;
        Ok(LxdClient { http, socket })
    }

    pub fn from_env() -> Result<Self, LxdError> {
        LxdClient::new(socket_path())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://lxd{path}")
    }

    pub(super) fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// Sends a request and reads LXD's envelope; an `error` envelope becomes [`LxdError::Api`].
    pub(super) async fn envelope(
        &self,
        method: Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, LxdError> {
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.transport(e))?;
        let envelope: Value = serde_json::from_str(&text).map_err(|e| LxdError::Decode {
            path: path.to_string(),
            detail: format!("{e}: {}", text.chars().take(200).collect::<String>()),
        })?;
        if envelope["type"] == "error" || status >= 400 {
            let message = envelope["error"].as_str().unwrap_or("").to_string();
            let status = envelope["error_code"].as_u64().map_or(status, |c| c as u16);
            return Err(LxdError::Api {
                method: method.to_string(),
                path: path.to_string(),
                status,
                message,
            });
        }
        Ok(envelope)
    }

    /// A sync call's metadata, or an async call's operation result once it succeeded.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, LxdError> {
        let mut request = self.builder(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let envelope = self.envelope(method, path, request).await?;
        match envelope["type"].as_str() {
            Some("async") => {
                let op = envelope["operation"].as_str().ok_or_else(|| LxdError::Decode {
                    path: path.to_string(),
                    detail: "async answer without an operation".into(),
                })?;
                self.wait(op, timeout).await
            }
            _ => Ok(envelope["metadata"].clone()),
        }
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, LxdError> {
        let metadata = self.call(Method::GET, path, None, Duration::ZERO).await?;
        decode(path, metadata)
    }

    /// [`LxdClient::get`], with LXD's 404 as `None`.
    pub(super) async fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, LxdError> {
        optional(self.get(path).await)
    }

    /// Sends a request whose answer is only "done" (sync, or an async operation that succeeded).
    pub(super) async fn send<B: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<(), LxdError> {
        let body = body.map(|b| serde_json::to_value(b).expect("request bodies are plain data"));
        self.call(method, path, body.as_ref(), timeout).await.map(drop)
    }

    /// Waits for an operation, in steps, up to `timeout`; checks how it ended, not just
    /// that `wait` answered (it answers 200 for failed operations too). Returns the
    /// operation's own `metadata` (an exec's exit code, …).
    pub(super) async fn wait(&self, operation: &str, timeout: Duration) -> Result<Value, LxdError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_secs()
                .clamp(1, WAIT_STEP_SECS);
            let path = format!("{operation}/wait?timeout={left}");
            let mut envelope = self
                .envelope(Method::GET, &path, self.builder(Method::GET, &path))
                .await?;
            let raw = envelope["metadata"].take();
            let metadata = raw.get("metadata").cloned().unwrap_or(Value::Null);
            let op: Operation = decode(&path, raw)?;
            let description = if op.description.is_empty() {
                "operation".to_string()
            } else {
                op.description.clone()
            };
            match op.status_code {
                200 => return Ok(metadata),
                _ if op.is_pending() && tokio::time::Instant::now() < deadline => continue,
                _ if op.is_pending() => {
                    return Err(LxdError::Timeout {
                        description,
                        seconds: timeout.as_secs(),
                    })
                }
                _ => {
                    let err = if op.err.is_empty() {
                        "no reason given".to_string()
                    } else {
                        op.err
                    };
                    return Err(LxdError::OperationFailed { description, err });
                }
            }
        }
    }

    fn transport(&self, e: reqwest::Error) -> LxdError {
        LxdError::Unreachable {
            socket: self.socket.clone(),
            detail: e.to_string(),
        }
    }

    /// The server's API extensions and version; also a cheap "is LXD there?".
    pub async fn server(&self) -> Result<Server, LxdError> {
        self.get("/1.0").await
    }
}

/// `name` as one URL path segment: every byte but the unreserved ones percent-encoded, so a
/// name (one that came from GitHub, say) can never say `../` or `?` to LXD.
pub(super) fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~') && !(b == b'.' && (name == "." || name == ".."))
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One of LXD's JSON answers as the type its API documents.
pub(super) fn decode<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, LxdError> {
    serde_json::from_value(value).map_err(|e| LxdError::Decode {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// A 404 as `None`: missing is not a failure.
pub(super) fn optional<T>(result: Result<T, LxdError>) -> Result<Option<T>, LxdError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn names_are_one_path_segment_whatever_they_hold() {
        assert_eq!(
            segment("github-runner-0-1a2b3c4d-3f9a0c1e"),
            "github-runner-0-1a2b3c4d-3f9a0c1e"
        );
        assert_eq!(segment("../1.0?recursion=1"), "..%2F1.0%3Frecursion%3D1");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
