//! The runner image the charm bakes from `base-image` (issue: runners jobs can use): a build
//! instance of the runners' kind, on their network behind their firewall, provisioned by
//! `templates/bake.sh.j2` step by step, published as an LXD image under the application's own
//! alias, with properties saying what it was baked from.
//!
//! A bake never runs in a hook: the hook decides ([`plan`]), writes a [`Request`] and starts
//! the systemd service [`SERVICE`], which runs `dispatch bake-image <request>` ([`run`]) one
//! at a time, writes its [`Progress`] for the hooks' status, and asks for a reconcile when it
//! is done. Modules: [`recipe`] (what goes in, pure), [`plan`] (whether to bake, pure),
//! [`service`] (the unit file), [`run`] (the bake itself).

pub mod plan;
pub mod recipe;
pub mod run;
pub mod service;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::host::Host;
use crate::lxd::{InstanceSource, InstanceType};
use crate::proxy::Proxy;
use crate::unit::UnitName;

/// The bake's systemd service.
pub const SERVICE: &str = "ghro.bake-image.service";

/// The names of one application's bake objects: the image alias, the build instance, and the
/// build instance's storage pool on disk (not the RAM disk: the runners' room is theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BakeNames {
    /// The alias runners are made from, e.g. `ghr-1a2b3c4d-image`; also the owner property
    /// of every image the application baked.
    pub image: String,
    /// The build instance and its pool, e.g. `ghr-1a2b3c4d-build`.
    pub build: String,
    /// The pool's directory on the host (under the root).
    pub build_dir: String,
}

impl BakeNames {
    /// Whether `image` is one this application baked (its owner property names the alias).
    pub fn owns(&self, image: &crate::lxd::Image) -> bool {
        image.properties.get(&owner_key()) == Some(&self.image)
    }

    pub fn for_unit(unit: &UnitName) -> BakeNames {
        let base = format!("ghr-{}", unit.object_tag());
        BakeNames {
            image: format!("{base}-image"),
            build: format!("{base}-build"),
            build_dir: format!("/var/lib/github-runner/build/{base}"),
        }
    }
}

/// The image property naming the application an image belongs to (its alias).
pub fn owner_key() -> String {
    recipe::key("owner")
}

/// Everything the service needs for one bake: the hook knows it, the service cannot ask Juju.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub unit: String,
    /// The LXD socket the hook used.
    pub lxd_socket: PathBuf,
    /// The host root (`GITHUB_RUNNER_ROOT`).
    pub root: PathBuf,
    pub names: BakeNames,
    pub kind: InstanceType,
    pub base: InstanceSource,
    /// The runners' NIC profile (their network and firewall).
    pub profiles: Vec<String>,
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
    pub limits: BTreeMap<String, String>,
    /// The verified runner tarball on the host.
    pub tarball: PathBuf,
    pub recipe: recipe::Recipe,
    /// The model's proxy, for the yq download (apt has it in the recipe).
    pub proxy: Proxy,
    /// The properties the image gets besides [`plan::BAKED_AT`] and the owner.
    pub inputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BakeState {
    Running,
    Done,
    Failed,
}

/// The last bake, as its service leaves it in `bake.json` beside the unit's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub state: BakeState,
    /// What it does or did last, in words ("installing packages").
    pub step: String,
    /// [`plan::digest`] of the inputs it bakes from.
    pub inputs: String,
    pub started: u64,
    pub finished: Option<u64>,
    /// Why it failed: the step and the last lines of its output.
    pub error: Option<String>,
    /// Failed bakes of these inputs in a row.
    pub failures: u32,
    /// The image it replaced, kept until a runner from the new one comes online.
    pub previous: Option<String>,
}

/// `bake.json` and `bake-request.json` of a unit (0600, in its 0700 directory).
#[derive(Debug, Clone)]
pub struct Files {
    pub progress: PathBuf,
    pub request: PathBuf,
}

impl Files {
    pub fn new(host: &Host, unit: &str) -> Files {
        let dir = crate::state::unit_dir(host, unit);
        Files {
            progress: dir.join("bake.json"),
            request: dir.join("bake-request.json"),
        }
    }

    /// The progress file, if there is a readable one.
    pub fn progress(&self) -> Option<Progress> {
        read_json(&self.progress)
    }

    pub fn write_progress(&self, progress: &Progress) -> std::io::Result<()> {
        write_json(&self.progress, progress)
    }

    pub fn request(&self) -> Option<Request> {
        read_json(&self.request)
    }

    pub fn write_request(&self, request: &Request) -> std::io::Result<()> {
        write_json(&self.request, request)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        // The unit's directory; the state's save keeps its mode.
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(value).expect("plain data serialises");
    crate::host::fs::write_atomic(path, &text, 0o600).map(drop)
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    crate::runner::unix_now()
}
