//! The emulator's world: the scope it serves, its runners, tokens, rate-limit budgets,
//! injected faults and the request log. Plain data and the rules GitHub applies to it; the
//! HTTP layers in `gate`, `api` and `admin` only translate.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use crate::fault::Fault;
use serde_json::{json, Value};

use crate::stub::Tarball;

/// What the emulator serves.
#[derive(Debug, Clone)]
pub struct Config {
    pub scope: ScopeConfig,
    /// Personal access tokens it accepts.
    pub tokens: Vec<String>,
    /// Requests per token per hour.
    pub rate_limit: u64,
    /// A runner is online while its last heartbeat is younger than this.
    pub heartbeat_timeout: Duration,
    pub runner_version: String,
    /// Organisation runner groups: (id, name). Id 1 is GitHub's "Default".
    pub groups: Vec<(u64, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scope: ScopeConfig::Org("test-org".into()),
            tokens: vec!["ghp_emulatortoken".into()],
            rate_limit: 5000,
            heartbeat_timeout: Duration::from_secs(10),
            runner_version: "2.330.0".into(),
            groups: vec![(1, "Default".into()), (2, "ci".into())],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeConfig {
    Org(String),
    Repo { owner: String, repo: String },
}

impl ScopeConfig {
    /// `org` or `owner/repo`, as runner URLs and config paths spell it.
    pub fn path(&self) -> String {
        match self {
            ScopeConfig::Org(org) => org.clone(),
            ScopeConfig::Repo { owner, repo } => format!("{owner}/{repo}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Label {
    pub id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct RunnerRecord {
    pub id: u64,
    pub name: String,
    pub os: String,
    pub busy: bool,
    pub labels: Vec<Label>,
    pub group_id: u64,
    pub ephemeral: bool,
    pub version: Option<String>,
    pub last_heartbeat: Option<SystemTime>,
    /// Seeded as online: stays online without heartbeats.
    pub pinned_online: bool,
}

/// What a finished or deleted runner's stub hears on its next heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstone {
    Done,
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Registration,
    Remove,
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub kind: TokenKind,
    pub expires: SystemTime,
}

#[derive(Debug, Clone)]
pub struct JitRecord {
    pub runner_id: u64,
    pub used: bool,
    pub expires: SystemTime,
}

/// A runner to register, with GitHub's defaults for a seeded one: the default labels,
/// group 1, ephemeral, Linux.
#[derive(Debug, Clone)]
pub struct NewRunner {
    pub name: String,
    pub labels: Vec<Label>,
    pub group_id: u64,
    pub ephemeral: bool,
    pub os: String,
}

impl NewRunner {
    pub fn named(name: impl Into<String>) -> NewRunner {
        NewRunner {
            name: name.into(),
            labels: labels(&[], true),
            group_id: 1,
            ephemeral: true,
            os: "Linux".into(),
        }
    }
}

/// One request as the gate saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    pub status: u16,
}

#[derive(Debug, Clone, Default)]
pub struct Budget {
    pub used: u64,
    pub window_start: u64,
}

/// Everything, behind one lock.
pub struct World {
    pub config: Config,
    pub base_url: String,
    pub runners: BTreeMap<u64, RunnerRecord>,
    pub next_id: u64,
    pub tokens: HashMap<String, IssuedToken>,
    pub jit: HashMap<String, JitRecord>,
    /// Every `encoded_jit_config` handed out: the single-use secrets tests look for.
    pub jit_configs: Vec<String>,
    pub budgets: HashMap<String, Budget>,
    pub faults: Vec<Fault>,
    pub log: Vec<LoggedRequest>,
    pub tombstones: HashMap<u64, Tombstone>,
    /// What each runner's listener hears on its next heartbeat ([`crate::orders`]).
    pub orders: HashMap<u64, crate::orders::Order>,
    /// The outcome of each job the stub ran, by runner id (kept after the runner is gone).
    pub job_results: HashMap<u64, crate::orders::JobResult>,
    pub tarball: Tarball,
    /// Tests move time forward (token expiry) without sleeping.
    pub clock_offset: Duration,
    /// Serve downloads with a wrong checksum, no checksum, or a body that is not a tar.
    pub tamper: Option<String>,
    /// The repository's workflow runs and jobs.
    pub actions: crate::actions::Actions,
    /// The `workflow_job` webhooks registered and sent.
    pub webhooks: crate::webhooks::Webhooks,
    serial: u64,
}

impl World {
    pub fn new(config: Config) -> World {
        let tarball = Tarball::build(&config.runner_version);
        World {
            config,
            base_url: String::new(),
            runners: BTreeMap::new(),
            next_id: 1000,
            tokens: HashMap::new(),
            jit: HashMap::new(),
            jit_configs: Vec::new(),
            budgets: HashMap::new(),
            faults: Vec::new(),
            log: Vec::new(),
            tombstones: HashMap::new(),
            orders: HashMap::new(),
            job_results: HashMap::new(),
            tarball,
            clock_offset: Duration::ZERO,
            tamper: None,
            actions: Default::default(),
            webhooks: Default::default(),
            serial: 0,
        }
    }

    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    pub fn epoch(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    /// A fresh random-looking token of `len` uppercase letters and digits.
    pub fn mint(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        self.serial += 1;
        let mut x = self.serial.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.epoch().wrapping_mul(0xD6E8_FEB8_6659_FD93);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
            })
            .collect()
    }

    pub fn online(&self, runner: &RunnerRecord) -> bool {
        runner.pinned_online
            || runner
                .last_heartbeat
                .is_some_and(|t| self.now().duration_since(t).unwrap_or_default() < self.config.heartbeat_timeout)
    }

    /// A runner as the REST API shows it.
    pub fn runner_json(&self, runner: &RunnerRecord) -> Value {
        let mut value = json!({
            "id": runner.id,
            "name": runner.name,
            "os": runner.os,
            "status": if self.online(runner) { "online" } else { "offline" },
            "busy": runner.busy,
            "ephemeral": runner.ephemeral,
            "labels": runner.labels,
            "runner_group_id": runner.group_id,
        });
        if let Some(version) = &runner.version {
            value["version"] = json!(version);
        }
        value
    }

    /// Registers a runner; the name must be free in the scope.
    pub fn add_runner(&mut self, new: NewRunner) -> Result<u64, String> {
        let NewRunner {
            name,
            labels,
            group_id,
            ephemeral,
            os,
        } = new;
        if self.runners.values().any(|r| r.name == name) {
            return Err(format!(
                "Already exists - A runner with the name {name} already exists."
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        let runner = RunnerRecord {
            id,
            name,
            os,
            busy: false,
            labels,
            group_id,
            ephemeral,
            version: None,
            last_heartbeat: None,
            pinned_online: false,
        };
        self.runners.insert(id, runner);
        Ok(id)
    }

    /// Sends the `workflow_job` webhook of `action` for job `id` to every registered hook.
    /// An organisation's jobs run in its repository `app`.
    pub fn job_changed(&mut self, id: u64, action: &str) {
        let Some(job) = self.actions.jobs.get(&id) else {
            return;
        };
        let repo = match &self.config.scope {
            ScopeConfig::Repo { owner, repo } => format!("{owner}/{repo}"),
            ScopeConfig::Org(org) => format!("{org}/app"),
        };
        self.webhooks.job_changed(action, job, &repo);
    }

    /// Ends a runner's job; GitHub unregisters an ephemeral runner after its one job. False
    /// when there is no such runner.
    pub fn finish_job(&mut self, id: u64) -> bool {
        let Some(runner) = self.runners.get_mut(&id) else {
            return false;
        };
        runner.busy = false;
        let now = rfc3339(self.now());
        for job in self.actions.finish(id, now) {
            self.job_changed(job, "completed");
        }
        let runner = self.runners.get_mut(&id).expect("looked up above");
        if runner.ephemeral {
            self.remove_runner(id, Tombstone::Done);
        }
        true
    }

    pub fn remove_runner(&mut self, id: u64, why: Tombstone) -> bool {
        let removed = self.runners.remove(&id).is_some();
        if removed {
            self.tombstones.insert(id, why);
        }
        removed
    }

    /// Takes the first fault matching the request, counting it down.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| (f.method == "*" || f.method.eq_ignore_ascii_case(method)) && path.contains(&f.path))?;
        let fault = self.faults[index].clone();
        self.faults[index].times -= 1;
        if self.faults[index].times == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    /// The budget of `token` in the current hour window.
    pub fn budget(&mut self, token: &str) -> (u64, u64, u64) {
        let now = self.epoch();
        let limit = self.config.rate_limit;
        let budget = self.budgets.entry(token.to_string()).or_default();
        if now >= budget.window_start + 3600 {
            *budget = Budget {
                used: 0,
                window_start: now,
            };
        }
        (limit, budget.used, budget.window_start + 3600)
    }

    pub fn charge(&mut self, token: &str) {
        self.budget(token);
        if let Some(b) = self.budgets.get_mut(token) {
            b.used += 1;
        }
    }

    pub fn publish(&mut self, version: &str) {
        self.config.runner_version = version.to_string();
        self.tarball = Tarball::build(version);
    }

    /// Issues a registration or remove token, valid an hour.
    pub fn issue_token(&mut self, kind: TokenKind) -> (String, SystemTime) {
        let token = self.mint(29);
        let expires = self.now() + Duration::from_secs(3600);
        self.tokens.insert(token.clone(), IssuedToken { kind, expires });
        (token, expires)
    }

    pub fn token_valid(&self, token: &str, kind: TokenKind) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|t| t.kind == kind && t.expires > self.now())
    }
}

/// Labels as GitHub stores them: the runner's defaults read-only, the rest custom.
pub fn labels(names: &[String], with_defaults: bool) -> Vec<Label> {
    const DEFAULTS: [&str; 5] = ["self-hosted", "Linux", "X64", "ARM64", "linux"];
    let mut out = Vec::new();
    if with_defaults {
        for (i, name) in ["self-hosted", "Linux", "X64"].iter().enumerate() {
            out.push(Label {
                id: i as u64 + 1,
                name: name.to_string(),
                kind: "read-only".into(),
            });
        }
    }
    for (i, name) in names.iter().filter(|n| !n.is_empty()).enumerate() {
        if out.iter().any(|l| l.name.eq_ignore_ascii_case(name)) {
            continue;
        }
        let kind = if DEFAULTS.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            "read-only"
        } else {
            "custom"
        };
        out.push(Label {
            id: 100 + i as u64,
            name: name.clone(),
            kind: kind.into(),
        });
    }
    out
}

/// RFC 3339 with milliseconds and an offset, as GitHub writes `expires_at`.
pub fn rfc3339(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_with_millis_and_offset() {
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123+00:00"
        );
    }
}
