//! Instances: list, create, start/stop, delete, exec with recorded output, file push/pull.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{decode, optional, segment, LxdClient};
use super::error::LxdError;
use super::types::{ExecResult, InstanceState, Operations};

const CREATE_TIMEOUT: Duration = Duration::from_secs(600);
const EXEC_TIMEOUT: Duration = Duration::from_secs(600);
/// LXD 5.0's transient exec failure, and how often an exec meeting it is sent.
const EXEC_TRIES: u64 = 4;
/// What is kept of a command's stdout or stderr.
const MAX_OUTPUT: usize = 64 * 1024;

/// An instance as `GET /1.0/instances?recursion=1` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Instance {
    pub name: String,
    /// `Running`, `Stopped`, …
    pub status: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub ephemeral: bool,
}

impl Instance {
    pub fn is_running(&self) -> bool {
        self.status.eq_ignore_ascii_case("running")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceType {
    Container,
    VirtualMachine,
}

/// Where an instance's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceSource {
    /// A local image alias.
    Alias(String),
    /// An image pulled from a simplestreams server, e.g. Ubuntu's daily images.
    Remote { server: String, alias: String },
}

/// What to create.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    pub kind: InstanceType,
    pub source: InstanceSource,
    pub profiles: Vec<String>,
    /// Devices of the instance itself, over its profiles'.
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
    pub config: BTreeMap<String, String>,
    /// Deleted by LXD when it stops.
    pub ephemeral: bool,
}

impl InstanceSpec {
    fn body(&self) -> Value {
        let source = match &self.source {
            InstanceSource::Alias(alias) => json!({"type": "image", "alias": alias}),
            InstanceSource::Remote { server, alias } => {
                json!({"type": "image", "mode": "pull", "server": server, "protocol": "simplestreams", "alias": alias})
            }
        };
        json!({
            "name": self.name,
            "type": match self.kind { InstanceType::Container => "container", InstanceType::VirtualMachine => "virtual-machine" },
            "source": source,
            "profiles": self.profiles,
            "devices": self.devices,
            "config": self.config,
            "ephemeral": self.ephemeral,
        })
    }
}

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

fn instance_path(name: &str) -> String {
    format!("/1.0/instances/{}", segment(name))
}

impl LxdClient {
    pub async fn instances(&self) -> Result<Vec<Instance>, LxdError> {
        self.get("/1.0/instances?recursion=1").await
    }

    /// The instance, or `None` when LXD has none of that name.
    pub async fn instance(&self, name: &str) -> Result<Option<Instance>, LxdError> {
        self.get_optional(&instance_path(name)).await
    }

    /// `GET …/state`: status and network addresses.
    pub async fn instance_state(&self, name: &str) -> Result<Option<InstanceState>, LxdError> {
        self.get_optional(&format!("{}/state", instance_path(name))).await
    }

    /// Creates an instance (stopped) and waits for it.
    pub async fn create_instance(&self, spec: &InstanceSpec) -> Result<(), LxdError> {
        self.send(Method::POST, "/1.0/instances", Some(&spec.body()), CREATE_TIMEOUT)
            .await
    }

    pub async fn start_instance(&self, name: &str, timeout: Duration) -> Result<(), LxdError> {
        self.change_state(name, json!({"action": "start", "timeout": timeout.as_secs()}), timeout)
            .await
    }

    /// Stops an instance at once (forced: a runner being removed gets no clean shutdown),
    /// waiting up to `timeout` for LXD.
    pub async fn stop_instance(&self, name: &str, timeout: Duration) -> Result<(), LxdError> {
        let body = json!({"action": "stop", "timeout": timeout.as_secs(), "force": true});
        self.change_state(name, body, timeout).await
    }

    /// `PUT …/state`, waiting a little longer than LXD's own `timeout`.
    async fn change_state(&self, name: &str, body: Value, timeout: Duration) -> Result<(), LxdError> {
        let path = format!("{}/state", instance_path(name));
        self.send(Method::PUT, &path, Some(&body), timeout + Duration::from_secs(30))
            .await
    }

    /// Waits for the operations LXD is still running on an instance, such as a create whose
    /// client was killed half way: LXD finishes it anyway, and refuses to stop or delete the
    /// instance meanwhile ("Instance is busy running a create operation").
    pub async fn wait_for_instance_operations(&self, name: &str, timeout: Duration) -> Result<(), LxdError> {
        let operations: Operations = self.get("/1.0/operations?recursion=1").await?;
        let target = instance_path(name);
        for op in operations.running.iter().filter(|op| op.works_on("instances", &target)) {
            // How the operation ends is not this caller's concern, only that it has.
            match optional(
                self.wait(&format!("/1.0/operations/{}", segment(&op.id)), timeout)
                    .await,
            ) {
                Ok(_) | Err(LxdError::OperationFailed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes a stopped instance.
    pub async fn delete_instance(&self, name: &str) -> Result<(), LxdError> {
        self.send::<()>(Method::DELETE, &instance_path(name), None, Duration::from_secs(120))
            .await
    }

    /// Runs `command` and waits for it, with its output recorded (and then deleted from LXD's
    /// logs). A non-zero exit is an `ExecOutput`, not an error; a command that cannot start is.
    /// The command may run twice: LXD 5.0 sometimes reports a command that ran as failed
    /// ("Failed to retrieve PID of executing child process"), and that is asked again. For a
    /// command that must not run twice, [`LxdClient::exec_once`].
    pub async fn exec(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, LxdError> {
        self.run(name, command, environment, EXEC_TRIES).await
    }

    /// [`LxdClient::exec`] for a command that must not run twice: that LXD error is returned.
    pub async fn exec_once(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, LxdError> {
        self.run(name, command, environment, 1).await
    }

    async fn run(
        &self,
        name: &str,
        command: &[&str],
        environment: &BTreeMap<String, String>,
        max_tries: u64,
    ) -> Result<ExecOutput, LxdError> {
        let body = json!({
            "command": command,
            "environment": environment,
            "wait-for-websocket": false,
            "record-output": true,
            "interactive": false,
        });
        let path = format!("{}/exec", instance_path(name));
        let mut tries = 0;
        let metadata = loop {
            tries += 1;
            match self.call(Method::POST, &path, Some(&body), EXEC_TIMEOUT).await {
                // LXD 5.0 loses the race with a command that ends at once now and then, under
                // load: the exec is asked again, a few times, a moment later.
                Err(e) if e.is_lost_exec() && tries < max_tries => {
                    tracing::debug!("exec in {name}: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                other => break other?,
            }
        };
        let result: ExecResult = decode(&path, metadata)?;
        let mut output = ExecOutput {
            code: result.code as i32,
            stdout: String::new(),
            stderr: String::new(),
        };
        for (fd, target) in [("1", &mut output.stdout), ("2", &mut output.stderr)] {
            if let Some(log) = result.output.get(fd) {
                if let Ok(mut response) = self.builder(Method::GET, log).send().await {
                    // Bounded: a command in an instance a job controls may print without end.
                    let mut bytes = Vec::new();
                    while let Ok(Some(chunk)) = response.chunk().await {
                        let room = MAX_OUTPUT.saturating_sub(bytes.len());
                        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        if room <= chunk.len() {
                            break;
                        }
                    }
                    *target = String::from_utf8_lossy(&bytes).into_owned();
                }
                // Recorded logs pile up in LXD otherwise.
                let _ = self.builder(Method::DELETE, log).send().await;
            }
        }
        Ok(output)
    }

    /// Writes a file owned by root into the instance (its directory must exist). `contents` may
    /// be bytes or a stream ([`reqwest::Body::wrap_stream`]), so a large file need not be held
    /// in memory.
    pub async fn push_file(
        &self,
        name: &str,
        path: &str,
        contents: impl Into<reqwest::Body>,
        mode: u32,
    ) -> Result<(), LxdError> {
        let api_path = format!("{}/files?path={}", instance_path(name), segment(path));
        let request = self
            .builder(Method::POST, &api_path)
            // Without it LXD takes the body for a form and writes an empty file.
            .header("Content-Type", "application/octet-stream")
            .header("X-LXD-type", "file")
            .header("X-LXD-mode", format!("{mode:04o}"))
            .header("X-LXD-uid", "0")
            .header("X-LXD-gid", "0")
            .header("X-LXD-write", "overwrite")
            .body(contents);
        self.envelope(Method::POST, &api_path, request).await.map(drop)
    }

    /// Reads a file from the instance; `None` when it does not exist.
    pub async fn pull_file(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>, LxdError> {
        let api_path = format!("{}/files?path={}", instance_path(name), segment(path));
        let response = self
            .builder(Method::GET, &api_path)
            .send()
            .await
            .map_err(|e| LxdError::Unreachable {
                socket: self.socket().to_path_buf(),
                detail: e.to_string(),
            })?;
        match response.status().as_u16() {
            404 => Ok(None),
            200 => Ok(Some(
                response
                    .bytes()
                    .await
                    .map_err(|e| LxdError::Decode {
                        path: api_path.clone(),
                        detail: e.to_string(),
                    })?
                    .to_vec(),
            )),
            status => Err(LxdError::Api {
                method: "GET".into(),
                path: api_path,
                status,
                message: response.text().await.unwrap_or_default(),
            }),
        }
    }
}
