//! The unit's machine: every host path the charm reads or writes, and the host services.
//!
//! Every path goes through [`Host::path`], under `GITHUB_RUNNER_ROOT` (default `/`), so tests
//! and the local demo run the real code against a folder. [`fs`] writes files atomically,
//! [`timer`] owns the reconcile timer's systemd units, [`storage`] the runners' RAM disk,
//! [`systemctl`] how systemd is driven (the host carries its [`Systemd`]). Nothing here knows
//! Juju, GitHub or LXD.

pub mod account;
pub(crate) mod fs;
pub mod lxd_install;
pub mod net;
pub mod storage;
pub mod systemctl;
pub mod systemd_unit;
pub mod timer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use systemctl::{Systemctl, Systemd};

/// The environment variable that moves every host path under another root.
pub const ROOT_VAR: &str = "GITHUB_RUNNER_ROOT";

/// The machine the unit runs on, seen through its root directory, and its systemd.
#[derive(Clone)]
pub struct Host {
    root: PathBuf,
    systemd: Arc<dyn Systemd>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("root", &self.root).finish_non_exhaustive()
    }
}

impl Host {
    /// The host under `root`, driving the real `systemctl`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Host::with_systemd(root, Arc::new(Systemctl))
    }

    pub fn with_systemd(root: impl Into<PathBuf>, systemd: Arc<dyn Systemd>) -> Self {
        Host {
            root: root.into(),
            systemd,
        }
    }

    pub fn systemd(&self) -> &dyn Systemd {
        self.systemd.as_ref()
    }

    /// The root from `GITHUB_RUNNER_ROOT`, or `/`.
    pub fn from_env() -> Self {
        let root = std::env::var_os(ROOT_VAR)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/".into());
        Host::new(root)
    }

    /// Where the absolute host path `abs` (e.g. `/etc/systemd/system`) lives under the root.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        self.root.join(abs.strip_prefix("/").unwrap_or(abs))
    }
}
