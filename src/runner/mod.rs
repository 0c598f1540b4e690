//! One runner's life in one LXD instance: create, check, remove.
//!
//! Parity with the original's `Runner`, faster: no fixed sleeps (readiness is polled with a
//! deadline), one rendered bootstrap script instead of a dozen execs, JIT configuration by
//! default (a registration token and `config.sh` where GitHub has no JIT), and a creation that
//! fails at any step removes what it made (instance, registration) before returning the error.
//!
//! Secrets: the PAT never enters an instance. The single-use token (JIT config or registration
//! token) is pushed as a 0600 file over LXD's API and read by the bootstrap script into the
//! runner's environment: it is in no command line and no log, on the host or in the instance.
//! The script itself is [`bootstrap`]'s.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::github::{GithubClient, GithubError};
use crate::lxd::{InstanceSource, InstanceType, LxdClient, LxdError};
use crate::runner_binary::VerifiedTarball;
use crate::secret::Secret;

mod bootstrap;

pub use bootstrap::render_bootstrap;

const RUNNER_DIR: &str = "/opt/github-runner";
const TARBALL: &str = "/opt/github-runner.tar.gz";
const TOKEN_FILE: &str = "/opt/github-runner.token";
const BOOTSTRAP: &str = "/opt/github-runner-bootstrap.sh";
const PID_FILE: &str = "/run/github-runner.pid";
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
    /// Written to the runner's `.env` (proxies).
    pub environment: Vec<(String, String)>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub name: String,
    /// GitHub's id when the charm registered it (JIT); `None` when `config.sh` did.
    pub github_id: Option<u64>,
}

/// What the instance says about its runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// The instance exists but is not running.
    Stopped,
    /// The instance runs, the runner process does not.
    RunnerDead,
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
    #[error("runner {name}: the bootstrap script failed (exit {code}): {stderr}")]
    Bootstrap { name: String, code: i32, stderr: String },
    #[error("runner {name}: rendering the bootstrap script: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// A fresh runner name: `<prefix><8 hex>`, e.g. `github-runner-0-3f9a0c1e`.
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

/// What a failed creation had made, for the cleanup.
#[derive(Default)]
struct Made {
    instance: bool,
    github_id: Option<u64>,
}

/// Creates, registers and starts one runner. On failure nothing it made is left behind.
pub async fn create(env: &RunnerEnv<'_>, name: &str) -> Result<Created, RunnerError> {
    let mut made = Made::default();
    let result = create_steps(env, name, &mut made).await;
    if result.is_err() {
        if made.instance {
            if let Err(e) = remove_instance(env.lxd, name, None).await {
                tracing::warn!("runner {name}: removing the half-made instance: {e}");
            }
        }
        if let Some(id) = made.github_id {
            if let Err(e) = env.github.delete_runner(id).await {
                tracing::warn!("runner {name}: removing the half-made registration {id}: {e}");
            }
        }
    }
    result
}

async fn create_steps(env: &RunnerEnv<'_>, name: &str, made: &mut Made) -> Result<Created, RunnerError> {
    let settings = env.settings;
    let lxd_err = |step| {
        move |source| RunnerError::Lxd {
            name: name.to_string(),
            step,
            source,
        }
    };
    let spec = crate::lxd::InstanceSpec {
        name: name.to_string(),
        kind: settings.kind,
        source: settings.source.clone(),
        profiles: settings.profiles.clone(),
        devices: settings.devices.clone(),
        config: BTreeMap::from([("user.github-runner".to_string(), "true".to_string())]),
        ephemeral: true,
    };
    made.instance = true;
    env.lxd
        .create_instance(&spec)
        .await
        .map_err(lxd_err("creating the instance"))?;
    env.lxd
        .start_instance(name, Duration::from_secs(60))
        .await
        .map_err(lxd_err("starting the instance"))?;
    let ip = wait_ready(env.lxd, name, settings.ready_timeout).await?;

    let (token, registration, github_id) = register(env, name).await?;
    made.github_id = github_id;
    let script = render_bootstrap(settings, name, registration, ip)?;
    // Streamed from the cache: several runners are made at once, and the real tarball is
    // large, so it is never held in memory.
    let file = tokio::fs::File::open(env.tarball.path())
        .await
        .map_err(|e| RunnerError::Bootstrap {
            name: name.to_string(),
            code: -1,
            stderr: format!("reading the runner tarball {}: {e}", env.tarball.path().display()),
        })?;
    let tarball = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    env.lxd
        .push_file(name, TARBALL, tarball, 0o600, 0, 0)
        .await
        .map_err(lxd_err("pushing the runner tarball"))?;
    env.lxd
        .push_file(name, TOKEN_FILE, token.expose().as_bytes().to_vec(), 0o600, 0, 0)
        .await
        .map_err(lxd_err("pushing the token"))?;
    env.lxd
        .push_file(name, BOOTSTRAP, script.into_bytes(), 0o700, 0, 0)
        .await
        .map_err(lxd_err("pushing the bootstrap script"))?;
    let out = env
        .lxd
        .exec(name, &["sh", BOOTSTRAP], &BTreeMap::new())
        .await
        .map_err(lxd_err("running the bootstrap script"))?;
    if !out.success() {
        return Err(RunnerError::Bootstrap {
            name: name.to_string(),
            code: out.code,
            stderr: out.stderr.trim().to_string(),
        });
    }
    Ok(Created {
        name: name.to_string(),
        github_id,
    })
}

/// Gets the single-use token: a JIT config, or a registration token where JIT is missing.
async fn register(env: &RunnerEnv<'_>, name: &str) -> Result<(Secret, Registration, Option<u64>), RunnerError> {
    let gh_err = |step| {
        move |source| RunnerError::Github {
            name: name.to_string(),
            step,
            source,
        }
    };
    if env.settings.registration == Registration::Jit {
        match env
            .github
            .generate_jit_config(name, &env.settings.labels, env.settings.group_id)
            .await
        {
            Ok(jit) => return Ok((jit.encoded_jit_config, Registration::Jit, Some(jit.runner.id))),
            // An older GitHub Enterprise Server has no JIT endpoint; a token still works there.
            Err(GithubError::NoAccess { status: 404, .. }) => {
                tracing::info!("runner {name}: GitHub has no JIT configuration here; using a registration token");
            }
            Err(e) => return Err(gh_err("generating the JIT configuration")(e)),
        }
    }
    let token = env
        .github
        .registration_token()
        .await
        .map_err(gh_err("getting a registration token"))?;
    Ok((token.token, Registration::Token, None))
}

/// Polls until the instance runs commands and has a global IPv4 address; returns it.
async fn wait_ready(lxd: &LxdClient, name: &str, timeout: Duration) -> Result<Ipv4Addr, RunnerError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    let not_ready = |what| RunnerError::NotReady {
        name: name.to_string(),
        waited: timeout,
        what,
    };
    loop {
        if matches!(lxd.exec(name, &["sh", "-c", "true"], &BTreeMap::new()).await, Ok(out) if out.success()) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready("it does not run commands"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    loop {
        let state = lxd.instance_state(name).await.map_err(|source| RunnerError::Lxd {
            name: name.to_string(),
            step: "reading the instance state",
            source,
        })?;
        // A runner without an address cannot reach GitHub: no NIC is not "ready". Any
        // interface will do (a VM's is `enp5s0`, not `eth0`).
        if let Some(ip) = state.and_then(|s| s.global_ipv4()) {
            return Ok(ip);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready("it got no IPv4 address"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Whether the instance runs and its runner process lives.
pub async fn health(lxd: &LxdClient, name: &str) -> Result<Health, LxdError> {
    let Some(instance) = lxd.instance(name).await? else {
        return Ok(Health::Missing);
    };
    if !instance.is_running() {
        return Ok(Health::Stopped);
    }
    let probe = format!("kill -0 \"$(cat {PID_FILE} 2>/dev/null)\" 2>/dev/null");
    match lxd.exec(name, &["sh", "-c", &probe], &BTreeMap::new()).await {
        Ok(out) if out.success() => Ok(Health::Healthy),
        Ok(_) => Ok(Health::RunnerDead),
        // Gone between the two calls: an ephemeral instance that just powered off.
        Err(e) if e.is_not_found() => Ok(Health::Missing),
        Err(e) => Err(e),
    }
}

/// Removes a runner: unregisters it from inside (with a remove token, for `config.sh`
/// runners), stops and deletes its instance, and deletes its GitHub registration by id.
/// Works on a runner that was only half created, and on one with no instance left.
///
/// # Errors
/// [`GithubError::RunnerBusy`] (inside `RunnerError::Github`) when GitHub still sees it busy.
pub async fn remove(
    lxd: &LxdClient,
    github: &GithubClient,
    name: &str,
    github_id: Option<u64>,
    remove_token: Option<&Secret>,
) -> Result<(), RunnerError> {
    remove_instance(lxd, name, remove_token).await?;
    if let Some(id) = github_id {
        github.delete_runner(id).await.map_err(|source| RunnerError::Github {
            name: name.to_string(),
            step: "deleting the registration",
            source,
        })?;
    }
    Ok(())
}

/// Removes every instance whose name starts with `prefix`, leaving GitHub alone; returns how
/// many went.
pub async fn remove_instances(lxd: &LxdClient, prefix: &str) -> Result<usize, RunnerError> {
    let instances = lxd.instances().await.map_err(|source| RunnerError::Lxd {
        name: prefix.to_string(),
        step: "listing instances",
        source,
    })?;
    let mut removed = 0;
    for instance in instances.iter().filter(|i| i.name.starts_with(prefix)) {
        remove_instance(lxd, &instance.name, None).await?;
        removed += 1;
    }
    Ok(removed)
}

async fn remove_instance(lxd: &LxdClient, name: &str, remove_token: Option<&Secret>) -> Result<(), RunnerError> {
    let lxd_err = |step| {
        move |source| RunnerError::Lxd {
            name: name.to_string(),
            step,
            source,
        }
    };
    // A charm killed half way leaves LXD finishing its operations on the instance.
    lxd.wait_for_instance_operations(name, Duration::from_secs(120))
        .await
        .map_err(lxd_err("waiting for LXD's operations on it"))?;
    let Some(instance) = lxd.instance(name).await.map_err(lxd_err("looking up the instance"))? else {
        return Ok(());
    };
    if let (true, Some(token)) = (instance.is_running(), remove_token) {
        let env = BTreeMap::from([("ACTIONS_RUNNER_INPUT_TOKEN".to_string(), token.expose().to_string())]);
        let command = format!("cd {RUNNER_DIR} && ./config.sh remove");
        match lxd.exec(name, &["sh", "-c", &command], &env).await {
            Ok(out) if out.success() => {}
            Ok(out) => tracing::info!(
                "runner {name}: config.sh remove exited {}: {}",
                out.code,
                out.stderr.trim()
            ),
            Err(e) => tracing::info!("runner {name}: config.sh remove: {e}"),
        }
    }
    if instance.is_running() {
        match lxd.stop_instance(name, Duration::from_secs(30), true).await {
            Err(e) if !e.is_not_found() => return Err(lxd_err("stopping the instance")(e)),
            _ => {}
        }
    }
    // An ephemeral instance is gone once stopped; any other is deleted.
    match lxd.delete_instance(name).await {
        Err(e) if !e.is_not_found() => Err(lxd_err("deleting the instance")(e)),
        _ => Ok(()),
    }
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
