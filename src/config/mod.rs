//! The charm's configuration, parsed and validated in one place.
//!
//! `config-get` gives a raw JSON map; [`CharmConfig::from_raw`] checks every option and
//! collects every problem (not just the first), so one `juju status` line tells the operator
//! all that is wrong. A config that does not validate is never half used: the handler sets
//! blocked and does nothing else. No I/O here; the model proxy comes in as a [`Proxy`](crate::proxy::Proxy).

mod reader;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

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
    /// The exporter's port; `None` when `metrics-port` is 0.
    pub metrics_port: Option<u16>,
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
    pub const GITHUB_URL: &str = "https://github.com";
    pub const BASE_IMAGE: &str = "jammy";
    pub const RUNNER_SUBNET: &str = "10.73.0.0/24";
    pub const METRICS_PORT: i64 = 9468;
}

impl CharmConfig {
    /// Checks every option of `raw` (what `config-get --format=json` printed).
    ///
    /// # Errors
    /// Every missing required option and every bad value, together.
    pub fn from_raw(raw: &Map<String, Value>, proxy: Proxy) -> Result<Self, ConfigProblems> {
        let no_secrets = |_: &str| Err("Juju secrets are not readable here".to_string());
        Self::from_raw_with(raw, proxy, &no_secrets)
    }

    /// [`CharmConfig::from_raw`], reading `token-secret-id`'s token through `secret`.
    pub fn from_raw_with(
        raw: &Map<String, Value>,
        proxy: Proxy,
        secret: &dyn Fn(&str) -> Result<Secret, String>,
    ) -> Result<Self, ConfigProblems> {
        let mut r = Reader {
            raw,
            problems: ConfigProblems::default(),
        };

        let path = r.string("path", "").filter(|p| !p.is_empty());
        let token = r.string("token", "").filter(|t| !t.is_empty());
        let secret_id = r.string("token-secret-id", "").filter(|t| !t.trim().is_empty());
        // Token first, as the original listed them.
        if token.is_none() && secret_id.is_none() {
            r.problems.missing.push("token");
        }
        if path.is_none() {
            r.problems.missing.push("path");
        }
        let path = path.and_then(|p| r.check("path", &p, GithubPath::parse));
        // The secret's URI is never shown either: a token pasted there by mistake would be.
        let token = match (token, secret_id) {
            (Some(_), Some(_)) => r.hidden("token-secret-id", "is set and so is `token`: set only one of them"),
            (Some(t), None) => r.check_secret("token", t),
            (None, Some(id)) if !values::is_secret_uri(id.trim()) => r.hidden(
                "token-secret-id",
                "must be a Juju secret URI such as `secret:cs0b3hqj2qpc7gcbq5c0` (value not shown: it may be a token)",
            ),
            (None, Some(id)) => match secret(id.trim()) {
                Ok(t) => r.check_secret("token-secret-id", t.expose().to_string()),
                Err(why) => r.reject("token-secret-id", id.trim(), &why),
            },
            (None, None) => None,
        };
        let group = r.string("group", defaults::GROUP);
        let virtual_machines = r.int("virtual-machines", defaults::VIRTUAL_MACHINES, 0);
        let vm_cpu = r.int("vm-cpu", defaults::VM_CPU, 1);
        let vm_memory = r
            .string("vm-memory", defaults::VM_MEMORY)
            .and_then(|v| r.check("vm-memory", &v, ByteSize::parse));
        let vm_disk = r
            .string("vm-disk", defaults::VM_DISK)
            .and_then(|v| r.check("vm-disk", &v, ByteSize::parse));
        let reconcile_interval = r.int("reconcile-interval", defaults::RECONCILE_INTERVAL, 1);
        let insecure = r.string("test-mode", "").and_then(|mode| match mode.as_str() {
            "" => Some(false),
            "insecure" => Some(true),
            _ => r.reject("test-mode", &mode, "must be empty or `insecure`"),
        });
        let runner_subnet = r
            .string("runner-subnet", defaults::RUNNER_SUBNET)
            .and_then(|v| r.check("runner-subnet", &v, Ipv4Net::parse_runner_subnet));
        let denylist = r.string("denylist", "").and_then(|list| {
            r.check("denylist", &list, |list| {
                let denylist = parse_denylist(list)?;
                // A wider entry (10.0.0.0/8 around 10.73.0.0/24) is enforced: the bridge's
                // address is the host's (always rejected) and port isolation keeps runners
                // apart. One inside the runners' own network is not reachable by the ACL at all.
                match (
                    denylist.iter().find(|d| runner_subnet.is_some_and(|s| s.holds(d))),
                    runner_subnet,
                ) {
                    (Some(denied), Some(subnet)) => Err(format!(
                        "entry {denied} lies inside `runner-subnet` {subnet}, the runners' own network, \
                         which the firewall cannot filter: deny a network outside it, or move `runner-subnet`"
                    )),
                    _ => Ok(denylist),
                }
            })
        });
        let dockerhub_mirror = r.string("dockerhub-mirror", "").and_then(|m| {
            if m.is_empty() {
                return Some(None);
            }
            r.check("dockerhub-mirror", &m, |v| values::parse_url(v, &["https"]))
                .map(Some)
        });
        let use_aproxy = r.bool("experimental-use-aproxy", false);
        let base_image = r.string("base-image", defaults::BASE_IMAGE).and_then(|image| {
            if image.is_empty() || image.chars().any(char::is_whitespace) {
                r.reject("base-image", &image, "must name an LXD image, e.g. `jammy`")
            } else {
                Some(image)
            }
        });
        let github_url = r.string("github-url", defaults::GITHUB_URL).and_then(|u| {
            let schemes: &[&str] = if insecure == Some(true) {
                &["https", "http"]
            } else {
                &["https"]
            };
            let url = r.check("github-url", &u, |v| values::parse_url(v, schemes));
            if url.is_none() && insecure != Some(true) && u.starts_with("http://") {
                if let Some(last) = r.problems.invalid.last_mut() {
                    last.problem = "must start with https:// (http:// only with test-mode=insecure)".into();
                }
            }
            url
        });
        let group = match (&path, group) {
            (Some(GithubPath::Org(_)), Some(group)) if group.trim().is_empty() => r.reject(
                "group",
                &group,
                "must name the organisation's runner group, e.g. `default`",
            ),
            (Some(GithubPath::Org(_)), group) => group.map(Some),
            (_, _) => Some(None),
        };
        let proxy = r.check_proxy(proxy, use_aproxy);
        let labels = r.string("labels", "").and_then(|list| {
            let mut reserved = values::DEFAULT_LABELS.to_vec();
            reserved.extend(base_image.as_deref());
            r.check("labels", &list, |l| values::parse_labels(l, &reserved))
        });
        let metrics_port =
            r.int("metrics-port", defaults::METRICS_PORT, 0)
                .and_then(|port| match u16::try_from(port) {
                    Ok(0) => Some(None),
                    Ok(port) => Some(Some(port)),
                    Err(_) => r.reject(
                        "metrics-port",
                        &port.to_string(),
                        "must be a TCP port, 1–65535 (0 turns the exporter off)",
                    ),
                });

        let problems = r.problems;
        if !problems.missing.is_empty() || !problems.invalid.is_empty() {
            return Err(problems);
        }
        // Every `None` above pushed a problem, so with none recorded all are `Some`.
        let bug = "option without a value but no problem recorded";
        Ok(CharmConfig {
            path: path.expect(bug),
            token: token.expect(bug),
            group: group.expect(bug),
            virtual_machines: virtual_machines.expect(bug),
            vm_cpu: vm_cpu.expect(bug),
            vm_memory: vm_memory.expect(bug),
            vm_disk: vm_disk.expect(bug),
            reconcile_interval: reconcile_interval.expect(bug),
            insecure: insecure.expect(bug),
            denylist: denylist.expect(bug),
            runner_subnet: runner_subnet.expect(bug),
            dockerhub_mirror: dockerhub_mirror.expect(bug),
            use_aproxy: use_aproxy.expect(bug),
            github_url: github_url.expect(bug),
            base_image: base_image.expect(bug),
            proxy: proxy.expect(bug),
            labels: labels.expect(bug),
            metrics_port: metrics_port.expect(bug),
        })
    }

    /// The path and token runners are registered with now.
    pub fn generation(&self) -> Generation {
        Generation {
            path: self.path.clone(),
            token: self.token.clone(),
        }
    }

    /// The LXD profile holding the per-runner resources, e.g. `cpu-2-mem-7GiB-disk-10GiB`.
    pub fn resource_profile(&self) -> String {
        format!("cpu-{}-mem-{}-disk-{}", self.vm_cpu, self.vm_memory, self.vm_disk)
    }
}

/// Comma-separated networks; an empty list is fine, an empty entry is not.
fn parse_denylist(list: &str) -> Result<Vec<Ipv4Net>, String> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(str::trim)
        .map(|entry| {
            if entry.is_empty() {
                return Err("has an empty entry (a stray comma?)".to_string());
            }
            Ipv4Net::parse(entry).map_err(|why| format!("entry {entry:?} {why}"))
        })
        .collect()
}
