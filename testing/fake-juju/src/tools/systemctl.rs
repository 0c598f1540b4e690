//! A fake `systemctl` for the fake machine: unit files are read from
//! `$GITHUB_RUNNER_ROOT/etc/systemd/system`, and only `daemon-reload` makes systemd see a new
//! or changed file, as on a real machine. `enable`/`disable`/`start`/`restart`/`stop`/
//! `is-active` keep their state in the model, so `fake-juju tick` fires only started timers.

use std::path::PathBuf;

use crate::model::{store_from_env, Model, SystemdUnit};

pub fn main(args: &[String]) -> i32 {
    let Some(store) = store_from_env() else {
        eprintln!("Failed to connect to bus: no fake machine (FAKE_JUJU_MODEL is not set)");
        return 1;
    };
    let quiet = args.iter().any(|a| a == "--quiet" || a == "-q");
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let unit_dir = unit_dir(&store);
    let result = store.update(|model| Ok(apply(model, &unit_dir, &words)));
    let (code, out, err) = result.unwrap_or_else(|e| (1, String::new(), format!("{e:#}")));
    if !quiet {
        print!("{out}");
    }
    eprint!("{err}");
    crate::tools::record_systemctl(&store, args, code);
    code
}

fn unit_dir(store: &crate::model::Store) -> PathBuf {
    let root = store
        .read()
        .ok()
        .and_then(|m| m.seams.get("GITHUB_RUNNER_ROOT").cloned())
        .or_else(|| std::env::var("GITHUB_RUNNER_ROOT").ok())
        .unwrap_or_else(|| "/".into());
    PathBuf::from(root).join("etc/systemd/system")
}

fn apply(model: &mut Model, unit_dir: &std::path::Path, words: &[&str]) -> (i32, String, String) {
    match words {
        ["daemon-reload"] => {
            let mut present = std::collections::BTreeSet::new();
            if let Ok(entries) = std::fs::read_dir(unit_dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Ok(text) = std::fs::read_to_string(entry.path()) {
                        model.systemd.entry(name.clone()).or_default().loaded = Some(text);
                        present.insert(name);
                    }
                }
            }
            for (name, unit) in model.systemd.iter_mut() {
                if !present.contains(name) {
                    unit.loaded = None;
                }
            }
            model.systemd.retain(|_, u| u.loaded.is_some() || u.active);
            (0, String::new(), String::new())
        }
        [verb @ ("enable" | "disable" | "start" | "restart" | "stop"), name] => {
            let Some(unit) = model.systemd.get_mut(*name).filter(|u| u.loaded.is_some()) else {
                let err = match *verb {
                    "enable" | "disable" => {
                        format!("Failed to {verb} unit: Unit file {name} does not exist.\n")
                    }
                    _ => format!("Failed to {verb} {name}: Unit {name} not found.\n"),
                };
                return (if *verb == "stop" { 5 } else { 1 }, String::new(), err);
            };
            let warning = changed_on_disk(unit, unit_dir, name);
            match *verb {
                "enable" => unit.enabled = true,
                "disable" => unit.enabled = false,
                "start" | "restart" => unit.active = true,
                _ => unit.active = false,
            }
            (0, String::new(), warning)
        }
        ["is-active", name] => match model.systemd.get(*name) {
            Some(SystemdUnit { active: true, .. }) => (0, "active\n".into(), String::new()),
            _ => (3, "inactive\n".into(), String::new()),
        },
        _ => (1, String::new(), format!("fake systemctl does not know {words:?}\n")),
    }
}

fn changed_on_disk(unit: &SystemdUnit, unit_dir: &std::path::Path, name: &str) -> String {
    let on_disk = std::fs::read_to_string(unit_dir.join(name)).ok();
    if on_disk != unit.loaded {
        return format!("Warning: The unit file, source configuration file or drop-ins of {name} changed on disk. Run 'systemctl daemon-reload' to reload units.\n");
    }
    String::new()
}
