//! One runner's life in one LXD instance: create, check, remove.
//!
//! Parity with the original's `Runner`, faster: no fixed sleeps (readiness is polled with a
//! deadline), one rendered bootstrap script instead of a dozen execs, JIT configuration by
//! default (a registration token and `config.sh` where GitHub has no JIT), and a creation that
//! fails at any step removes what it made (instance, registration) before returning the error.
//!
//! Secrets: the PAT never enters an instance. The single-use token (JIT config or registration
//! token) is pushed as a 0600 file over LXD's API and handed to the runner alone through its
//! environment: it is in no command line and no log, on the host or in the instance, and in no
//! file once the runner runs. Creation is [`create`]'s; the script [`bootstrap`]'s, the files
//! it writes [`files`]'s.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::github::{GithubClient, GithubError};
use crate::lxd::{InstanceSource, InstanceType, LxdClient, LxdError};
use crate::proxy::Proxy;
use crate::runner_binary::VerifiedTarball;

mod bootstrap;
mod create;
pub mod files;
pub mod preflight;

pub use bootstrap::{
    aproxy_rules, environment as shell_templates, render_bootstrap, APROXY_PORT, RUNNER_USER_TEMPLATE,
};
pub use create::{create, wait_ready};

/// Where the charm puts what it pushes (made by the charm, root's only); `runner` in it links
/// to the runner's directory (`~<user>/github-runner`), wherever the bootstrap put it.
const SETUP_DIR: &str = "/var/lib/github-runner";
/// The instance config key holding when the charm created it (Unix seconds): a runner's age.
pub const CREATED_KEY: &str = "user.github-runner.created";

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
const PID_FILE: &str = "/run/github-runner.pid";
/// How long one health probe may take, all in.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Ubuntu's daily images, for a `base-image` LXD has no local alias for.
pub const UBUNTU_DAILY: &str = "https://cloud-images.ubuntu.com/daily";

/// How a runner registers with GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// `generate-jitconfig`: registered by the charm, configured by an opaque single-use blob.
    Jit,
    /// A registration token and `config.sh`, where GitHub has no JIT configuration.
    Token,
}

/// What every runner of the unit shares.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub kind: InstanceType,
    pub source: InstanceSource,
    /// The image holds this runner already (a baked one): no tarball is pushed.
    pub runner_in_image: bool,
    pub profiles: Vec<String>,
    /// Devices of the instance itself, over its profiles' (a VM's root disk with `io.cache`).
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
    /// `config.sh --url`: `<github-url>/<org>` or `…/<owner>/<repo>`.
    pub url: String,
    pub labels: Vec<String>,
    /// The organisation runner group: its name (for `config.sh`) and id (for JIT).
    pub group: Option<String>,
    pub group_id: u64,
    pub registration: Registration,
    /// The model proxy, for the runner's environment, `/etc/environment` and Docker (none
    /// with aproxy, which is transparent).
    pub proxy: Proxy,
    pub dockerhub_mirror: Option<String>,
    /// `host:port` of the model proxy aproxy forwards to (`experimental-use-aproxy`).
    pub aproxy: Option<String>,
    /// How long an instance may take to answer exec and get an address.
    pub ready_timeout: Duration,
}

/// The clients and files a runner is made with.
pub struct RunnerEnv<'a> {
    pub lxd: &'a LxdClient,
    pub github: &'a GithubClient,
    pub tarball: &'a VerifiedTarball,
    pub settings: &'a RunnerSettings,
}

/// A runner that was created.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub name: String,
    /// GitHub's id when the charm registered it (JIT); `None` when `config.sh` did.
    pub github_id: Option<u64>,
    /// From the start of the creation to the runner process started in its instance.
    pub seconds: f64,
}

/// What the instance says about its runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// The instance exists but is not running.
    Stopped,
    /// The instance runs, the runner process does not.
    RunnerDead,
    /// The probe itself failed or hung (a broken instance): unhealthy too.
    ProbeFailed,
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("runner {name}: {step}: {source}")]
    Lxd {
        name: String,
        step: &'static str,
        #[source]
        source: LxdError,
    },
    #[error("runner {name}: {step}: {source}")]
    Github {
        name: String,
        step: &'static str,
        #[source]
        source: GithubError,
    },
    #[error("runner {name}: the instance was not ready after {waited:?} ({what})")]
    NotReady {
        name: String,
        waited: Duration,
        what: &'static str,
    },
    #[error("runner {name}: the runner cannot start in this image: {reason}")]
    Preflight { name: String, reason: String },
    #[error("runner {name}: the bootstrap script failed (exit {code}): {stderr}")]
    Bootstrap { name: String, code: i32, stderr: String },
    #[error("runner {name}: cannot write {source}")]
    BadValue {
        name: String,
        #[source]
        source: files::BadValue,
    },
    #[error("runner {name}: rendering the bootstrap script: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// A fresh runner name: `<prefix><8 hex>`, e.g. `github-runner-0-1a2b3c4d-3f9a0c1e`.
pub fn new_name(prefix: &str) -> String {
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("{prefix}{:08x}", random as u32)
}

/// A local image alias when LXD has one, else Ubuntu's daily image of that name.
pub async fn resolve_source(lxd: &LxdClient, base_image: &str) -> Result<InstanceSource, LxdError> {
    Ok(match lxd.image_alias(base_image).await? {
        Some(_) => InstanceSource::Alias(base_image.to_string()),
        None => InstanceSource::Remote {
            server: UBUNTU_DAILY.into(),
            alias: base_image.to_string(),
        },
    })
}

/// Whether the instance runs and its runner process lives.
pub async fn health(lxd: &LxdClient, name: &str) -> Result<Health, LxdError> {
    let Some(instance) = lxd.instance(name).await? else {
        return Ok(Health::Missing);
    };
    if !instance.is_running() {
        return Ok(Health::Stopped);
    }
    // Bounded twice: in the instance (a pid file made a FIFO blocks `cat`), and by LXD (an
    // exec still running at the deadline is killed; its output never reaches the host's disk).
    // A job with sudo can break the instance in any way, `timeout` and `sh` included: whatever
    // the probe meets, the runner is unhealthy, and the rest of the pass goes on.
    // A pid that is not a number is no runner: busybox's `kill -0 ""` succeeds.
    let probe = format!(
        "pid=$(timeout 3 cat {PID_FILE} 2>/dev/null); case \"$pid\" in ''|*[!0-9]*) exit 1 ;; esac; kill -0 \"$pid\" 2>/dev/null"
    );
    let (command, no_env) = (["timeout", "5", "sh", "-c", &probe], BTreeMap::new());
    match lxd.exec_within(name, &command, &no_env, PROBE_TIMEOUT).await {
        Ok(out) if out.success() => Ok(Health::Healthy),
        Ok(_) => Ok(Health::RunnerDead),
        // Gone between the two calls: an ephemeral instance that just powered off.
        Err(e) if e.is_not_found() => Ok(Health::Missing),
        Err(e) => {
            tracing::warn!("runner {name}: the health probe failed: {e}; counted as unhealthy");
            Ok(Health::ProbeFailed)
        }
    }
}

/// In which order a runner's two halves go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalOrder {
    /// The registration first, GitHub being the arbiter: a runner that took a job between
    /// observe and now is refused (422, busy) and its instance stays, its job unharmed.
    RegistrationFirst,
    /// The instance first, whatever it runs (a flush of busy runners, a unit going away);
    /// the registration, offline then, after.
    InstanceFirst,
}

/// Removes a runner in `order`: its GitHub registration (404 is already gone) and its
/// instance (unregistering from inside first with a remove token, for `config.sh` runners).
/// Works on a runner that was only half created, and on one with no instance left.
///
/// # Errors
/// [`GithubError::RunnerBusy`] (inside `RunnerError::Github`) when GitHub sees it busy: with
/// [`RemovalOrder::RegistrationFirst`] its instance is then left running.
pub async fn remove(
    lxd: &LxdClient,
    github: &GithubClient,
    name: &str,
    github_id: Option<u64>,
    order: RemovalOrder,
) -> Result<(), RunnerError> {
    let unregister = || async {
        if let Some(id) = github_id {
            github.delete_runner(id).await.map_err(|source| RunnerError::Github {
                name: name.to_string(),
                step: match source {
                    GithubError::RunnerBusy { .. } => "deleting the registration (busy: its job goes on)",
                    _ => "deleting the registration",
                },
                source,
            })?;
        }
        Ok::<(), RunnerError>(())
    };
    match order {
        RemovalOrder::RegistrationFirst => {
            unregister().await?;
            remove_instance(lxd, name).await
        }
        RemovalOrder::InstanceFirst => {
            remove_instance(lxd, name).await?;
            match unregister().await {
                // GitHub has not seen the runner go yet: the registration turns into an
                // offline orphan, which the next reconcile deletes.
                Err(RunnerError::Github {
                    source: GithubError::RunnerBusy { .. },
                    ..
                }) => {
                    tracing::info!(
                        "runner {name}: GitHub still shows its job; its registration goes once it is offline"
                    );
                    Ok(())
                }
                other => other,
            }
        }
    }
}

/// Removes every instance whose name `owned` accepts, leaving GitHub alone; returns how many
/// went.
pub async fn remove_instances(lxd: &LxdClient, owned: impl Fn(&str) -> bool) -> Result<usize, RunnerError> {
    let instances = lxd.instances().await.map_err(|source| RunnerError::Lxd {
        name: "(all)".to_string(),
        step: "listing instances",
        source,
    })?;
    let mut removed = 0;
    for instance in instances.iter().filter(|i| owned(&i.name)) {
        remove_instance(lxd, &instance.name).await?;
        removed += 1;
    }
    Ok(removed)
}

pub(super) async fn remove_instance(lxd: &LxdClient, name: &str) -> Result<(), RunnerError> {
    lxd.remove_instance(name, Duration::from_secs(120))
        .await
        .map_err(|source| RunnerError::Lxd {
            name: name.to_string(),
            step: "removing the instance",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_unit_prefix_and_eight_hex_digits() {
        let name = new_name("github-runner-0-");
        assert_eq!(name.len(), "github-runner-0-".len() + 8);
        assert!(name["github-runner-0-".len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_name("x-"), new_name("x-"));
    }
}
