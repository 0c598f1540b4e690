//! Instances: list, create, start/stop, delete, file push/pull (exec is [`super::exec`]).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{optional, segment, LxdClient};
use super::error::LxdError;
use super::types::{InstanceState, Operation, Operations};

const CREATE_TIMEOUT: Duration = Duration::from_secs(600);

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum InstanceType {
    Container,
    VirtualMachine,
}

/// Where an instance's image comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
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

pub(super) fn instance_path(name: &str) -> String {
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
        for op in self.running_operations(name).await? {
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

    /// The operations LXD is running on an instance (a create, a start, an exec…).
    pub(crate) async fn running_operations(&self, name: &str) -> Result<Vec<Operation>, LxdError> {
        let operations: Operations = self.get("/1.0/operations?recursion=1").await?;
        let target = instance_path(name);
        Ok(operations
            .running
            .into_iter()
            .filter(|op| op.works_on("instances", &target))
            .collect())
    }

    /// What LXD is running on an instance, by description (e.g. `Executing command`).
    pub async fn running_operations_on(&self, name: &str) -> Result<Vec<String>, LxdError> {
        Ok(self
            .running_operations(name)
            .await?
            .into_iter()
            .map(|op| op.description)
            .collect())
    }

    /// Deletes a stopped instance.
    /// Deletes a stopped instance. LXD 5.0 may fail a delete racing an operation it has just
    /// finished ("A matching non-reusable operation has now succeeded"): what counts is whether
    /// the instance is gone, so such a failure is looked at, and the delete asked again.
    pub async fn delete_instance(&self, name: &str) -> Result<(), LxdError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let deleted = self
                .send::<()>(Method::DELETE, &instance_path(name), None, Duration::from_secs(120))
                .await;
            match deleted {
                Err(e) if !e.is_not_found() && tries < 3 => {
                    if self.instance(name).await?.is_none() {
                        return Ok(());
                    }
                    tracing::debug!("deleting {name}: {e}; again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
    }

    /// Removes an instance whatever its state: LXD's operations on it waited for (up to
    /// `operations`: a client killed half way leaves LXD finishing them), stopped if it runs,
    /// deleted. One that is gone, or goes meanwhile (an ephemeral one once stopped), is fine.
    pub async fn remove_instance(&self, name: &str, operations: Duration) -> Result<(), LxdError> {
        self.wait_for_instance_operations(name, operations).await?;
        let Some(instance) = self.instance(name).await? else {
            return Ok(());
        };
        if instance.is_running() {
            match self.stop_instance(name, Duration::from_secs(30)).await {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        match self.delete_instance(name).await {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
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
