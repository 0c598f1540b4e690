//! The fake unit agent: runs one hook, action or `juju-exec` command in a hook context.
//!
//! As Juju does (research/juju-contract.md §1, §5.2): take the machine lock; open a context
//! with a fresh id and a config snapshot; start the process with an environment built from
//! scratch (no `HOME`, cwd = charm dir, stdin `/dev/null`; a relation or secret hook also gets
//! `JUJU_RELATION*`/`JUJU_REMOTE_*` or `JUJU_SECRET_*`); log its stdout at DEBUG and stderr
//! at WARNING; then commit the batched changes (on exit 0, or always for commands) or discard
//! them, and close the context so later tool calls fail.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use serde_json::Value;

use crate::model::{ActionContext, Context, ContextKind, Hook, Model, Store, Unit};

/// What to run in the context.
#[derive(Debug, Clone)]
pub enum Invocation {
    Hook(Hook),
    Action {
        name: String,
        id: String,
        params: serde_json::Map<String, Value>,
    },
    /// A `juju-exec` script for `/bin/bash -s`, with the caller's environment.
    Commands {
        script: String,
        inherited: Vec<(String, String)>,
    },
}

/// How the process ended and what the context held when it closed.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when a signal ended the process, or there was nothing to run.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub context: Context,
    /// `dispatch` does not exist: the hook is skipped, an action fails.
    pub missing: bool,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0) || self.missing
    }
}

/// Runs `invocation` for `unit`, holding the machine lock, as many times as a
/// `juju-reboot --now` asks (the hook runs again "after the reboot").
pub fn run(store: &Store, unit: &str, invocation: &Invocation) -> anyhow::Result<Outcome> {
    let lock_path = store.machine_lock_path();
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock().context("taking the machine lock")?;
    loop {
        let outcome = run_once(store, unit, invocation)?;
        if outcome.context.reboot.as_deref() == Some("now") && outcome.code.is_none() {
            store.update(|m| {
                m.reboots += 1;
                Ok(())
            })?;
            store.log(
                unit,
                "juju.worker.uniter",
                "INFO",
                "rebooting now, then running the hook again",
            );
            continue;
        }
        return Ok(outcome);
    }
}

fn run_once(store: &Store, unit_name: &str, invocation: &Invocation) -> anyhow::Result<Outcome> {
    let (env, charm_dir, context_id) = store.update(|model| open_context(store, model, unit_name, invocation))?;
    let dispatch = charm_dir.join("dispatch");
    let mut command = match invocation {
        Invocation::Commands { .. } => {
            let mut c = Command::new("/bin/bash");
            c.arg("-s");
            c
        }
        _ if !dispatch.exists() => return close(store, unit_name, &context_id, None, Vec::new(), Vec::new(), true),
        _ => Command::new(&dispatch),
    };
    command
        .env_clear()
        .envs(env)
        .current_dir(&charm_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if matches!(invocation, Invocation::Commands { .. }) {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", dispatch.display()))?;
    let pid = child.id();
    store.update(|m| {
        if let Some(ctx) = m.unit_mut(unit_name)?.context.as_mut() {
            ctx.pid = Some(pid);
        }
        Ok(())
    })?;
    if let (Invocation::Commands { script, .. }, Some(mut stdin)) = (invocation, child.stdin.take()) {
        stdin
            .write_all(script.as_bytes())
            .context("feeding the commands to bash")?;
    }
    let out = child.wait_with_output().context("waiting for the charm")?;
    let module = match invocation {
        Invocation::Hook(hook) => hook.name.clone(),
        Invocation::Action { name, .. } => name.clone(),
        Invocation::Commands { .. } => "juju-exec".into(),
    };
    if !matches!(invocation, Invocation::Commands { .. }) {
        let module = format!("unit.{unit_name}.{module}");
        store.log(unit_name, &module, "DEBUG", &String::from_utf8_lossy(&out.stdout));
        store.log(unit_name, &module, "WARNING", &String::from_utf8_lossy(&out.stderr));
    }
    close(
        store,
        unit_name,
        &context_id,
        out.status.code(),
        out.stdout,
        out.stderr,
        false,
    )
}

type Opened = (Vec<(String, String)>, std::path::PathBuf, String);

fn open_context(store: &Store, model: &mut Model, unit_name: &str, invocation: &Invocation) -> anyhow::Result<Opened> {
    let app = model.app()?.clone();
    let unit = app
        .units
        .iter()
        .find(|u| u.name == unit_name)
        .with_context(|| format!("unit {unit_name:?} not found"))?;
    let tag = match invocation {
        Invocation::Hook(hook) => hook.name.clone(),
        Invocation::Action { name, .. } => name.clone(),
        Invocation::Commands { .. } => "run-commands".into(),
    };
    let id = format!("{unit_name}-{tag}-{}", crate::clock::random_hex());
    let (kind, action) = match invocation {
        Invocation::Hook(hook) => (ContextKind::Hook(hook.name.clone()), None),
        Invocation::Action { name, id, params } => (
            ContextKind::Action,
            Some(ActionContext {
                name: name.clone(),
                id: id.clone(),
                params: params.clone(),
                results: Default::default(),
                failed: false,
                message: None,
                logs: Vec::new(),
            }),
        ),
        Invocation::Commands { .. } => (ContextKind::Commands, None),
    };
    let env = hook_env(store, model, unit, &id, invocation);
    let context = Context {
        id: id.clone(),
        kind,
        config: app.effective_config(),
        pending_state: None,
        relation: match invocation {
            Invocation::Hook(hook) => hook.relation.clone(),
            _ => None,
        },
        pending_relations: Default::default(),
        action,
        reboot: None,
        pid: None,
    };
    model.unit_mut(unit_name)?.context = Some(context);
    Ok((env, app.charm_dir.clone(), id))
}

/// The environment Juju builds for a context: its own variables only, plus `PATH` with the
/// tools first, plus the host seams this fake carries (`GITHUB_RUNNER_ROOT`, `LXD_DIR`).
fn hook_env(
    store: &Store,
    model: &Model,
    unit: &Unit,
    context_id: &str,
    invocation: &Invocation,
) -> Vec<(String, String)> {
    let app = model.app.as_ref().expect("open_context checked the app");
    let charm_dir = app.charm_dir.display().to_string();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut base_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    if let Invocation::Commands { inherited, .. } = invocation {
        env.extend(inherited.iter().filter(|(k, _)| k != "JUJU_DISPATCH_PATH").cloned());
        if let Some(path) = env.get("PATH") {
            base_path = path.clone();
        }
    }
    let tools = store.tools_dir().display().to_string();
    let path = if base_path.split(':').any(|p| p == tools) {
        base_path
    } else {
        format!("{tools}:{base_path}")
    };
    let proxy = |key: &str| model.model_config.get(key).cloned().unwrap_or_default();
    let vars = [
        ("JUJU_UNIT_NAME", unit.name.clone()),
        ("JUJU_MODEL_NAME", model.name.clone()),
        ("JUJU_MODEL_UUID", model.uuid.clone()),
        ("JUJU_CHARM_DIR", charm_dir.clone()),
        ("CHARM_DIR", charm_dir),
        ("JUJU_CONTEXT_ID", context_id.to_string()),
        (
            "JUJU_AGENT_SOCKET_ADDRESS",
            store.dir.join("agent.socket").display().to_string(),
        ),
        ("JUJU_AGENT_SOCKET_NETWORK", "unix".into()),
        ("JUJU_VERSION", model.juju_version.clone()),
        ("JUJU_API_ADDRESSES", "127.0.0.1:17070".into()),
        ("JUJU_MACHINE_ID", unit.machine.clone()),
        ("JUJU_AVAILABILITY_ZONE", String::new()),
        ("JUJU_PRINCIPAL_UNIT", String::new()),
        ("CLOUD_API_VERSION", String::new()),
        ("JUJU_CHARM_HTTP_PROXY", proxy("juju-http-proxy")),
        ("JUJU_CHARM_HTTPS_PROXY", proxy("juju-https-proxy")),
        ("JUJU_CHARM_FTP_PROXY", proxy("juju-ftp-proxy")),
        ("JUJU_CHARM_NO_PROXY", proxy("juju-no-proxy")),
        ("PATH", path),
        ("LANG", "C.UTF-8".into()),
        ("TERM", "tmux-256color".into()),
        ("DEBIAN_FRONTEND", "noninteractive".into()),
        ("APT_LISTCHANGES_FRONTEND", "none".into()),
    ];
    env.extend(vars.into_iter().map(|(k, v)| (k.to_string(), v)));
    env.extend(model.seams.clone());
    match invocation {
        Invocation::Hook(hook) => {
            env.insert("JUJU_DISPATCH_PATH".into(), format!("hooks/{}", hook.name));
            env.insert("JUJU_HOOK_NAME".into(), hook.name.clone());
            env.extend(hook.env());
        }
        Invocation::Action { name, id, .. } => {
            env.insert("JUJU_DISPATCH_PATH".into(), format!("actions/{name}"));
            env.insert("JUJU_HOOK_NAME".into(), String::new());
            env.insert("JUJU_ACTION_NAME".into(), name.clone());
            env.insert("JUJU_ACTION_UUID".into(), id.clone());
            env.insert("JUJU_ACTION_TAG".into(), format!("action-{id}"));
        }
        Invocation::Commands { .. } => {
            env.insert("JUJU_HOOK_NAME".into(), String::new());
        }
    }
    env.into_iter().collect()
}

/// Closes the context: commits or discards its batched changes, records a reboot.
fn close(
    store: &Store,
    unit_name: &str,
    context_id: &str,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    missing: bool,
) -> anyhow::Result<Outcome> {
    store.update(|model| {
        let unit = model.unit_mut(unit_name)?;
        let context = unit
            .context
            .take()
            .filter(|c| c.id == context_id)
            .context("the hook context vanished")?;
        let commit = context.kind == ContextKind::Commands || code == Some(0);
        if commit {
            if let Some(pending) = context.pending_state.clone() {
                unit.state = pending;
            }
            crate::relation::commit(model, unit_name, &context);
        }
        let reboot_after = commit && context.reboot.as_deref() == Some("after-hook");
        if reboot_after {
            model.reboots += 1;
        }
        Ok(Outcome {
            code,
            stdout,
            stderr,
            context,
            missing,
        })
    })
}
