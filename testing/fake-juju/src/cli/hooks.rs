//! Running hooks the way the unit agent sequences them: statuses Juju sets around them, the
//! error state after a failure (no more hooks until `resolved`, which runs the failed hook
//! again with the same relation or secret), `unknown` after a `start` that set no status.

use anyhow::bail;

use crate::agent::{self, Invocation};
use crate::model::{Hook, StatusEntry, Store};

pub fn run_hook(store: &Store, unit: &str, hook: &Hook) -> anyhow::Result<()> {
    let name = hook.name.as_str();
    store.update(|model| {
        let u = model.unit_mut(unit)?;
        if let Some(failed) = &u.error_hook {
            bail!(
                "unit {unit} is in error (hook failed: {:?}); fix it and run `fake-juju resolved {unit}`",
                failed.name
            );
        }
        let juju_status = match name {
            "install" if !u.status_set => Some("installing charm software"),
            "stop" => Some("stopping charm software"),
            "remove" => Some("cleaning up prior to charm deletion"),
            _ => None,
        };
        if let Some(message) = juju_status {
            u.set_workload(StatusEntry::new("maintenance", message));
        }
        if name != "update-status" {
            let remote = hook.relation.as_ref().and_then(|r| r.remote_unit.as_ref());
            let message = match remote {
                Some(remote) => format!("running {name} hook for {remote}"),
                None => format!("running {name} hook"),
            };
            u.agent = StatusEntry::new("executing", &message);
        }
        Ok(())
    })?;
    let outcome = agent::run(store, unit, &Invocation::Hook(hook.clone()))?;
    if outcome.missing {
        store.log(
            unit,
            "juju.worker.uniter.operation",
            "INFO",
            &format!("skipped {name:?} hook (missing)"),
        );
    }
    let ok = outcome.succeeded();
    if ok && !outcome.missing {
        store.log(
            unit,
            "juju.worker.uniter.operation",
            "INFO",
            &format!("ran {name:?} hook (via hook dispatching script: dispatch)"),
        );
    }
    store.update(|model| {
        let u = model.unit_mut(unit)?;
        if ok {
            u.agent = StatusEntry::new("idle", "");
            if name == "start" && !u.status_set {
                u.set_workload(StatusEntry::new("unknown", ""));
            }
            if name == "remove" {
                u.set_workload(StatusEntry::new("terminated", ""));
            }
        } else {
            u.error_hook = Some(hook.clone());
            u.agent = StatusEntry::new("error", &format!("hook failed: {name:?}"));
        }
        Ok(())
    })?;
    if !ok {
        let code = outcome
            .code
            .map_or("a signal".to_string(), |c| format!("exit status {c}"));
        store.log(
            unit,
            "juju.worker.uniter.operation",
            "ERROR",
            &format!("hook {name:?} (via hook dispatching script: dispatch) failed: {code}"),
        );
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        bail!("hook failed: {name:?} ({code})\n{}", stderr.trim_end());
    }
    Ok(())
}

/// Runs hooks in order, stopping at the first failure.
pub fn run_hooks(store: &Store, unit: &str, hooks: &[&str]) -> anyhow::Result<()> {
    hooks
        .iter()
        .try_for_each(|hook| run_hook(store, unit, &Hook::named(hook)))
}

pub fn resolved(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let no_retry = args.iter().any(|a| a == "--no-retry");
    let Some(unit) = args.iter().find(|a| !a.starts_with("--")) else {
        bail!("usage: fake-juju resolved <unit> [--no-retry]");
    };
    let failed = store.update(|model| {
        let u = model.unit_mut(unit)?;
        let failed = u.error_hook.take();
        u.agent = StatusEntry::new("idle", "");
        Ok(failed)
    })?;
    match failed {
        None => bail!("unit {unit:?} is not in an error state"),
        Some(hook) if !no_retry => run_hook(store, unit, &hook).map(|()| 0),
        Some(_) => Ok(0),
    }
}
