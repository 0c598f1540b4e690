//! The charm's configuration, parsed and validated in one place.
//!
//! `config-get` gives a raw JSON map; [`CharmConfig::from_raw`] checks every option and
//! collects every problem (not just the first), so one `juju status` line tells the operator
//! all that is wrong. A config that does not validate is never half used: the handler sets
//! blocked and does nothing else. No I/O here; the model proxy comes in as a [`Proxy`](crate::proxy::Proxy).

mod read;
mod reader;
mod schedule;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

pub use schedule::IdleSchedule;
pub use values::{ByteSize, GithubPath, Ipv4Net};

pub use crate::proxy::Proxy;
use crate::secret::Secret;
use reader::Reader;

/// Every option, typed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CharmConfig {
    pub path: GithubPath,
    pub token: Secret,
    /// The organisation runner group; `None` for a repository path.
    pub group: Option<String>,
    pub virtual_machines: u32,
    pub vm_cpu: u32,
    pub vm_memory: ByteSize,
    pub vm_disk: ByteSize,
    /// Minutes between reconciliations.
    pub reconcile_interval: u32,
    /// `test-mode=insecure`: containers instead of VMs, plain http GitHub allowed.
    pub insecure: bool,
    pub denylist: Vec<Ipv4Net>,
    /// The runners' own bridge network (`runner-subnet`).
    pub runner_subnet: Ipv4Net,
    pub dockerhub_mirror: Option<url::Url>,
    pub use_aproxy: bool,
    pub github_url: url::Url,
    pub base_image: String,
    pub proxy: Proxy,
    /// Custom labels (`labels`), besides the default ones.
    pub labels: Vec<String>,
    /// Hours an idle runner may live (`runner-max-age`).
    pub runner_max_age: u32,
    /// The exporter's port; `None` when `metrics-port` is 0.
    pub metrics_port: Option<u16>,
    /// The runner image the charm bakes.
    pub image: ImageConfig,
    /// Fixed, or elastic between a floor and `max-virtual-machines`.
    pub pool: Pool,
}

/// How many runners the unit keeps: `virtual-machines` always, or an idle floor besides the
/// busy ones up to a ceiling.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Pool {
    /// `max-virtual-machines` = 0: `virtual-machines` runners, busy or idle.
    #[default]
    Fixed,
    /// Every busy runner plus an idle floor (`virtual-machines`, or the schedule's), at most
    /// `max` runners in all; idle runners above the floor go after `idle_wait_minutes`.
    Elastic {
        max: u32,
        schedule: IdleSchedule,
        idle_wait_minutes: u32,
        watch: Watch,
    },
}

/// How the elastic pool's watcher service hears of demand: GitHub looked at every
/// `interval_secs` (`watch-interval`), and `workflow_job` webhooks when `webhook` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    pub interval_secs: u32,
    pub webhook: Option<Webhook>,
}

/// `webhook-port` and the HMAC secret of `webhook-secret-id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub port: u16,
    pub secret: Secret,
}

/// `bake-image`, `image-packages`, `image-refresh-interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// Bake an image from `base-image` (else runners start from `base-image` as it is).
    pub bake: bool,
    /// Extra packages, valid Debian names, each once.
    pub packages: Vec<String>,
    /// Hours after which the image is baked again; 0: never by age.
    pub refresh_hours: u32,
}

/// The GitHub `path` and token a set of runners was registered with: removing them takes the
/// same two (the state keeps the current and earlier ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub path: GithubPath,
    pub token: Secret,
}

/// One option with a bad value. `value` is `None` for secrets, which are never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub option: &'static str,
    pub value: Option<String>,
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} {value:?} {}", self.option, self.problem),
            None => write!(f, "{} {}", self.option, self.problem),
        }
    }
}

/// Everything wrong with a config: required options left empty, and bad values.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblems {
    pub missing: Vec<&'static str>,
    pub invalid: Vec<Problem>,
}

impl ConfigProblems {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.invalid.is_empty()
    }
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing config: {} (set with `juju config`)",
                self.missing.join(", ")
            ));
        }
        if !self.invalid.is_empty() {
            let each: Vec<String> = self.invalid.iter().map(Problem::to_string).collect();
            parts.push(format!("invalid config: {}", each.join("; ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The defaults of `config.yaml`, for options Juju did not return (a test keeps them equal).
pub mod defaults {
    pub const GROUP: &str = "default";
    pub const VIRTUAL_MACHINES: i64 = 1;
    pub const VM_CPU: i64 = 2;
    pub const VM_MEMORY: &str = "7GiB";
    pub const VM_DISK: &str = "10GiB";
    pub const RECONCILE_INTERVAL: i64 = 10;
    pub const RUNNER_MAX_AGE: i64 = 144;
    pub const GITHUB_URL: &str = "https://github.com";
    pub const BASE_IMAGE: &str = "jammy";
    pub const RUNNER_SUBNET: &str = "10.73.0.0/24";
    pub const METRICS_PORT: i64 = 9468;
    pub const IMAGE_REFRESH_INTERVAL: i64 = 24;
    pub const IDLE_WAIT: i64 = 10;
    pub const WATCH_INTERVAL: i64 = 30;
}

impl CharmConfig {
    /// Checks every option of `raw` (what `config-get --format=json` printed).
    ///
    /// # Errors
    /// Every missing required option and every bad value, together.
    pub fn from_raw(raw: &Map<String, Value>, proxy: Proxy) -> Result<Self, ConfigProblems> {
        let no_secrets = |_: &str, _: &str| Err("Juju secrets are not readable here".to_string());
        Self::from_raw_with(raw, proxy, &no_secrets)
    }

    /// `metrics-port` alone, whatever the other options say (the `cos-agent` data is
    /// published from it even while the unit is blocked): `None` when it is 0 or invalid (the
    /// whole config's reading tells the problem).
    pub fn metrics_port_alone(raw: &Map<String, Value>) -> Option<u16> {
        let mut r = Reader {
            raw,
            problems: ConfigProblems::default(),
        };
        read::metrics_port(&mut r).flatten()
    }

    /// [`CharmConfig::from_raw`], reading `token-secret-id`'s token through `secret`. Each
    /// concern is read by its own reader ([`read`]), which records every problem it finds;
    /// the config exists only when none did.
    pub fn from_raw_with(
        raw: &Map<String, Value>,
        proxy: Proxy,
        secret: &dyn Fn(&str, &str) -> Result<Secret, String>,
    ) -> Result<Self, ConfigProblems> {
        let mut r = Reader {
            raw,
            problems: ConfigProblems::default(),
        };
        let insecure = read::test_mode(&mut r);
        let github = read::github(&mut r, secret, insecure);
        let runners = read::runners(&mut r);
        let network = read::network(&mut r, proxy);
        let service = read::service(&mut r);
        let image = read::image(&mut r);
        let pool = read::pool(&mut r, runners.as_ref().map(|r| r.virtual_machines), secret);
        match (insecure, github, runners, network, service, image, pool) {
            (Some(insecure), Some(github), Some(runners), Some(network), Some(service), Some(image), Some(pool))
                if r.problems.is_empty() =>
            {
                Ok(CharmConfig {
                    path: github.path,
                    token: github.token,
                    group: github.group,
                    github_url: github.url,
                    virtual_machines: runners.virtual_machines,
                    vm_cpu: runners.vm_cpu,
                    vm_memory: runners.vm_memory,
                    vm_disk: runners.vm_disk,
                    base_image: runners.base_image,
                    labels: runners.labels,
                    runner_max_age: runners.max_age,
                    runner_subnet: network.runner_subnet,
                    denylist: network.denylist,
                    dockerhub_mirror: network.dockerhub_mirror,
                    use_aproxy: network.use_aproxy,
                    proxy: network.proxy,
                    insecure,
                    reconcile_interval: service.reconcile_interval,
                    metrics_port: service.metrics_port,
                    image,
                    pool,
                })
            }
            // Every reader that gave nothing recorded why.
            _ => Err(r.problems),
        }
    }

    /// The most runners the unit may have at once: what its disk is sized for.
    pub fn most_runners(&self) -> u32 {
        match &self.pool {
            Pool::Fixed => self.virtual_machines,
            Pool::Elastic { max, .. } => *max,
        }
    }

    /// What runners (and the bake's build instance) are: VMs, containers under
    /// `test-mode=insecure`.
    pub fn instance_kind(&self) -> crate::lxd::InstanceType {
        if self.insecure {
            crate::lxd::InstanceType::Container
        } else {
            crate::lxd::InstanceType::VirtualMachine
        }
    }

    /// How long a new instance may take to boot and run commands (a VM's is longer).
    pub fn ready_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(if self.insecure { 120 } else { 600 })
    }

    /// The path and token runners are registered with now.
    pub fn generation(&self) -> Generation {
        Generation {
            path: self.path.clone(),
            token: self.token.clone(),
        }
    }
}
