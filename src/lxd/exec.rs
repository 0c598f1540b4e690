//! Commands in an instance, over LXD's exec websockets.
//!
//! Not `record-output`: LXD would write whatever the command prints into files on the host
//! (`logs/<instance>/exec-output/`), without limit, and an exec it runs that way cannot be
//! cancelled. A job with sudo controls every binary in its runner, so a probe may meet a
//! `timeout` or `sh` that prints forever. Here the output streams to the charm, in memory and
//! bounded: nothing is written on the host. A command that prints more than [`MAX_OUTPUT`] on
//! a stream, or is still running at its deadline, is killed (SIGKILL through the control
//! socket), so no LXD operation of the charm outlives the deadline it was given, and a flood
//! costs the host no more than that much copying.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::client::{decode, segment, LxdClient};
use super::error::LxdError;
use super::instances::instance_path;
use super::types::ExecResult;

/// How long a command the charm starts may run, unless its caller says less.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(600);
/// LXD 5.0's transient exec failure, and how often an exec meeting it is sent.
const EXEC_TRIES: u64 = 4;
/// The most a command may print on stdout or on stderr: past it, it is killed.
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// How long LXD has to report the exit code of a command that ended or was killed.
const SETTLE: Duration = Duration::from_secs(10);

/// A finished command: its exit code and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// The secrets of an exec's websockets, by file descriptor (`0`, `1`, `2`) and `control`.
#[derive(Debug, Deserialize)]
struct Fds {
    #[serde(rename = "0")]
    stdin: String,
    #[serde(rename = "1")]
    stdout: String,
    #[serde(rename = "2")]
    stderr: String,
    control: String,
}

#[derive(Debug, Deserialize)]
struct Started {
    id: String,
    metadata: StartedMetadata,
}

#[derive(Debug, Deserialize)]
struct StartedMetadata {
    fds: Fds,
}

type Socket = WebSocketStream<UnixStream>;

impl LxdClient {
    /// Runs `command` and waits for it, at most [`EXEC_TIMEOUT`]. A non-zero exit is an
    /// `ExecOutput`, not an error; a command that cannot start is. The command may run twice:
    /// LXD 5.0 sometimes reports a command that ran as failed ("Failed to retrieve PID of
    /// executing child process"), and that is asked again. For a command that must not run
    /// twice, [`LxdClient::exec_once`].
    pub async fn exec(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, LxdError> {
        self.exec_within(name, command, environment, EXEC_TIMEOUT).await
    }

    /// [`LxdClient::exec`] with a deadline: a command still running after `deadline` is
    /// killed, and [`LxdError::Timeout`] returned.
    pub async fn exec_within(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
        deadline: Duration,
    ) -> Result<ExecOutput, LxdError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.run(name, command, environment, deadline).await {
                // LXD 5.0 loses the race with a command that ends at once now and then, under
                // load: the exec is asked again, a few times, a moment later.
                Err(e) if e.is_lost_exec() && tries < EXEC_TRIES => {
                    tracing::debug!("exec in {name}: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                other => return other,
            }
        }
    }

    /// [`LxdClient::exec`] for a command that must not run twice: that LXD error is returned.
    pub async fn exec_once(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, LxdError> {
        self.run(name, command, environment, EXEC_TIMEOUT).await
    }

    async fn run(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
        deadline: Duration,
    ) -> Result<ExecOutput, LxdError> {
        let path = format!("{}/exec", instance_path(name));
        let body = json!({
            "command": command,
            "environment": environment,
            "wait-for-websocket": true,
            "record-output": false,
            "interactive": false,
        });
        let program = command.first().copied().unwrap_or_default();
        let timeout = || LxdError::Timeout {
            description: format!("exec of {program:?} in {name}"),
            seconds: deadline.as_secs(),
        };
        let deadline = tokio::time::Instant::now() + deadline;
        // Until the websockets connect, nothing runs: LXD gives up on an exec whose sockets
        // do not connect within 5 s.
        let start = async {
            let request = self.builder(Method::POST, &path).json(&body);
            let mut envelope = self.envelope(Method::POST, &path, request).await?;
            let started: Started = decode(&path, envelope["metadata"].take())?;
            let operation = format!("/1.0/operations/{}", segment(&started.id));
            // The control socket first: it is what kills the command at the deadline.
            let control = self.websocket(&operation, &started.metadata.fds.control).await?;
            Ok::<_, LxdError>((operation, started.metadata.fds, control))
        };
        let (operation, fds, mut control) = tokio::time::timeout_at(deadline, start)
            .await
            .map_err(|_| timeout())??;
        let streams = async {
            let mut stdin = self.websocket(&operation, &fds.stdin).await?;
            let stdout = self.websocket(&operation, &fds.stdout).await?;
            let stderr = self.websocket(&operation, &fds.stderr).await?;
            // Nothing to say: the command reads end-of-file.
            let _ = stdin.close(None).await;
            Ok::<_, LxdError>(tokio::try_join!(drain(stdout), drain(stderr)))
        };
        let streamed = match tokio::time::timeout_at(deadline, streams).await {
            Ok(Ok(Ok(output))) => Ok(output),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Err(TooLarge))) => Err(LxdError::OutputTooLarge {
                command: program.to_string(),
                instance: name.to_string(),
                limit: MAX_OUTPUT,
            }),
            Err(_) => Err(timeout()),
        };
        let (stdout, stderr) = match streamed {
            Ok(output) => output,
            Err(e) => {
                let kill = json!({"command": "signal", "signal": 9, "args": {}});
                let _ = control.send(Message::text(kill.to_string())).await;
                let _ = control.close(None).await;
                if let Err(e) = self.wait(&operation, SETTLE).await {
                    tracing::warn!("exec in {name}: the command killed ({e})");
                }
                return Err(e);
            }
        };
        let metadata = self.wait(&operation, SETTLE).await?;
        let _ = control.close(None).await;
        let result: ExecResult = decode(&operation, metadata)?;
        Ok(ExecOutput {
            code: result.code as i32,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// One of an operation's websockets, over the daemon's unix socket.
    async fn websocket(&self, operation: &str, secret: &str) -> Result<Socket, LxdError> {
        let stream = UnixStream::connect(self.socket())
            .await
            .map_err(|e| LxdError::Unreachable {
                socket: self.socket().to_path_buf(),
                detail: e.to_string(),
            })?;
        let url = format!("ws://lxd{operation}/websocket?secret={}", segment(secret));
        let (socket, _) =
            tokio_tungstenite::client_async(url, stream)
                .await
                .map_err(|e| LxdError::OperationFailed {
                    description: format!("exec websocket of {operation}"),
                    err: e.to_string(),
                })?;
        Ok(socket)
    }
}

/// A stream printed more than [`MAX_OUTPUT`].
struct TooLarge;

/// Everything a stream sends until it closes, at most [`MAX_OUTPUT`] bytes.
async fn drain(mut socket: Socket) -> Result<Vec<u8>, TooLarge> {
    let mut kept = Vec::new();
    while let Some(Ok(message)) = socket.next().await {
        match message {
            Message::Binary(data) => kept.extend_from_slice(&data),
            Message::Text(text) => kept.extend_from_slice(text.as_bytes()),
            Message::Close(_) => break,
            _ => continue,
        }
        if kept.len() > MAX_OUTPUT {
            return Err(TooLarge);
        }
    }
    Ok(kept)
}
