//! The fake controller's model: one application, its units, their contexts, its relations,
//! the model's secrets, and the fake machine's systemd, kept as one JSON file in the model
//! directory.
//!
//! Every process that touches it (the CLI, each hook tool, `juju-exec`, `systemctl`) goes
//! through [`Store::update`] or [`Store::read`], which hold an exclusive lock on
//! `model.lock`, so concurrent tool calls never lose a write.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::relation::{Endpoint, HookRelation, PendingBags, Relation};
use crate::secret::{HookSecret, Secret};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub uuid: String,
    pub juju_version: String,
    /// `juju model-config` keys such as `juju-http-proxy`.
    #[serde(default)]
    pub model_config: BTreeMap<String, String>,
    /// Host seams handed to every context (`GITHUB_RUNNER_ROOT`, `LXD_DIR`), fixed at deploy.
    #[serde(default)]
    pub seams: BTreeMap<String, String>,
    pub app: Option<App>,
    #[serde(default)]
    pub next_id: u64,
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// The fake machine's systemd: unit name → state.
    #[serde(default)]
    pub systemd: BTreeMap<String, SystemdUnit>,
    #[serde(default)]
    pub reboots: u32,
    #[serde(default)]
    pub relations: Vec<Relation>,
    /// The next relation id (Juju's sequence starts at 0).
    #[serde(default)]
    pub next_relation_id: u64,
    #[serde(default)]
    pub secrets: Vec<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    pub charm_dir: PathBuf,
    pub revision: u32,
    /// `config.yaml` options: name → spec.
    pub config_schema: BTreeMap<String, OptionSpec>,
    /// Values the operator set (defaults are not stored here).
    pub config: BTreeMap<String, Value>,
    /// `actions.yaml`, as JSON.
    pub actions: BTreeMap<String, Value>,
    /// metadata.yaml's `provides`, `requires` and `peers`: name → role and interface.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    pub version: String,
    /// Set by the leader with `status-set --application`; otherwise derived from the units.
    #[serde(default)]
    pub status: Option<StatusEntry>,
    pub units: Vec<Unit>,
    #[serde(default)]
    pub next_unit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OptionSpec {
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub description: Option<String>,
}

fn default_type() -> String {
    "string".into()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusEntry {
    pub current: String,
    pub message: String,
}

impl StatusEntry {
    pub fn new(current: &str, message: &str) -> Self {
        StatusEntry {
            current: current.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    pub leader: bool,
    pub machine: String,
    pub workload: StatusEntry,
    pub agent: StatusEntry,
    /// Set when the charm called `status-set` at least once.
    #[serde(default)]
    pub status_set: bool,
    #[serde(default)]
    pub history: Vec<StatusEntry>,
    /// Committed charm state (`state-set`).
    #[serde(default)]
    pub state: BTreeMap<String, String>,
    /// The hook that failed; no hook runs until it is resolved.
    #[serde(default)]
    pub error_hook: Option<Hook>,
    /// `open-port`'s ports (`8080/tcp`): what `juju expose` would open.
    #[serde(default)]
    pub opened_ports: std::collections::BTreeSet<String>,
    #[serde(default)]
    pub context: Option<Context>,
}

impl Unit {
    pub fn set_workload(&mut self, status: StatusEntry) {
        self.history.push(status.clone());
        self.workload = status;
    }
}

/// A hook to run, with the relation or secret it is about.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hook {
    pub name: String,
    #[serde(default)]
    pub relation: Option<HookRelation>,
    #[serde(default)]
    pub secret: Option<HookSecret>,
}

impl Hook {
    pub fn named(name: &str) -> Self {
        Hook {
            name: name.into(),
            ..Hook::default()
        }
    }

    /// The variables Juju adds for this kind of hook (relation, secret).
    pub fn env(&self) -> Vec<(String, String)> {
        let relation = self.relation.iter().flat_map(HookRelation::env);
        relation.chain(self.secret.iter().flat_map(HookSecret::env)).collect()
    }
}

/// What runs in a hook context: a hook, an action, or `juju-exec` commands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ContextKind {
    Hook(String),
    Action,
    Commands,
}

/// A live hook context: what the tools of the running process see and batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub id: String,
    pub kind: ContextKind,
    /// `config-get` sees this snapshot for the whole context.
    pub config: BTreeMap<String, Value>,
    /// `state-set`/`state-delete` batched until the context commits.
    pub pending_state: Option<BTreeMap<String, String>>,
    /// The relation of a relation hook: the default of `-r`, `relation-ids` and `relation-get`.
    #[serde(default)]
    pub relation: Option<HookRelation>,
    /// `relation-set` batched until the context commits: relation id → bags.
    #[serde(default)]
    pub pending_relations: BTreeMap<u64, PendingBags>,
    pub action: Option<ActionContext>,
    /// `after-hook` or `now`.
    pub reboot: Option<String>,
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionContext {
    pub name: String,
    pub id: String,
    pub params: serde_json::Map<String, Value>,
    pub results: serde_json::Map<String, Value>,
    pub failed: bool,
    pub message: Option<String>,
    pub logs: Vec<String>,
}

/// A finished action, as `juju show-task` would show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub unit: String,
    pub action: String,
    pub status: String,
    pub message: Option<String>,
    pub results: serde_json::Map<String, Value>,
    pub logs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// The unit file's text at the last `daemon-reload`.
    pub loaded: Option<String>,
    pub enabled: bool,
    pub active: bool,
    /// A started `Type=oneshot` service's process: active while it lives.
    #[serde(default)]
    pub pid: Option<u32>,
}

impl Model {
    pub fn app(&self) -> anyhow::Result<&App> {
        self.app
            .as_ref()
            .context("no application deployed in this model; run `fake-juju deploy` first")
    }

    pub fn app_mut(&mut self) -> anyhow::Result<&mut App> {
        self.app
            .as_mut()
            .context("no application deployed in this model; run `fake-juju deploy` first")
    }

    pub fn unit_mut(&mut self, name: &str) -> anyhow::Result<&mut Unit> {
        let app = self.app_mut()?;
        app.units
            .iter_mut()
            .find(|u| u.name == name)
            .with_context(|| format!("unit {name:?} not found"))
    }

    /// The unit whose live context has this id.
    pub fn unit_by_context(&mut self, id: &str) -> Option<&mut Unit> {
        self.app
            .as_mut()?
            .units
            .iter_mut()
            .find(|u| u.context.as_ref().is_some_and(|c| c.id == id))
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The relation with this id, if it exists.
    pub fn relation(&self, id: u64) -> Option<&Relation> {
        self.relations.iter().find(|r| r.id == id)
    }
}

impl App {
    /// Config as `config-get` shows it: defaults merged, unset options without default omitted.
    pub fn effective_config(&self) -> BTreeMap<String, Value> {
        let mut merged = BTreeMap::new();
        for (name, spec) in &self.config_schema {
            if let Some(default) = spec.default.clone().filter(|d| !d.is_null()) {
                merged.insert(name.clone(), default);
            }
        }
        for (name, value) in &self.config {
            merged.insert(name.clone(), value.clone());
        }
        merged
    }
}

/// The model directory and its lock.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    pub fn tools_dir(&self) -> PathBuf {
        self.dir.join("tools")
    }

    fn file(&self) -> PathBuf {
        self.dir.join("model.json")
    }

    fn lock(&self) -> anyhow::Result<File> {
        let path = self.dir.join("model.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock().with_context(|| format!("locking {}", path.display()))?;
        Ok(file)
    }

    /// Reads the model under the lock.
    pub fn read(&self) -> anyhow::Result<Model> {
        let _lock = self.lock()?;
        self.load()
    }

    /// Changes the model under the lock and saves it, returning what `change` returned.
    pub fn update<T>(&self, change: impl FnOnce(&mut Model) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let _lock = self.lock()?;
        let mut model = self.load()?;
        let out = change(&mut model)?;
        self.save(&model)?;
        Ok(out)
    }

    fn load(&self) -> anyhow::Result<Model> {
        let path = self.file();
        let text = fs::read(&path)
            .with_context(|| format!("no model at {} (run `fake-juju deploy` first)", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("{} is not a model", path.display()))
    }

    fn save(&self, model: &Model) -> anyhow::Result<()> {
        let tmp = self.dir.join("model.json.tmp");
        let text = serde_json::to_vec_pretty(model)?;
        fs::write(&tmp, text)?;
        fs::rename(&tmp, self.file())?;
        Ok(())
    }

    /// Creates the model directory with an empty model, if there is none.
    pub fn init(&self, model: Model) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let _lock = self.lock()?;
        if !self.file().exists() {
            self.save(&model)?;
        }
        Ok(())
    }

    /// Appends one line to the model's debug log.
    pub fn log(&self, unit: &str, module: &str, level: &str, message: &str) {
        let path = self.dir.join("debug-log");
        let time = crate::clock::now_hms();
        let tag = format!("unit-{}", unit.replace('/', "-"));
        if let Ok(mut file) = File::options().create(true).append(true).open(path) {
            for line in message.lines() {
                let _ = writeln!(file, "{tag}: {time} {level} {module} {line}");
            }
        }
    }

    pub fn debug_log_path(&self) -> PathBuf {
        self.dir.join("debug-log")
    }

    pub fn machine_lock_path(&self) -> PathBuf {
        self.dir.join("machine-lock")
    }
}

/// Locates the model directory from a process's environment: the agent socket Juju gives
/// hook contexts lives in it, and `FAKE_JUJU_MODEL` names it elsewhere.
pub fn store_from_env() -> Option<Store> {
    if let Some(socket) = std::env::var_os("JUJU_AGENT_SOCKET_ADDRESS").filter(|s| !s.is_empty()) {
        return Path::new(&socket).parent().map(Store::new);
    }
    std::env::var_os("FAKE_JUJU_MODEL")
        .filter(|s| !s.is_empty())
        .map(Store::new)
}
