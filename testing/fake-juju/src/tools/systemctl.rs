//! A fake `systemctl` for the fake machine: unit files are read from
//! `$GITHUB_RUNNER_ROOT/etc/systemd/system`, and only `daemon-reload` makes systemd see a new
//! or changed file, as on a real machine. `enable`/`disable`/`start`/`restart`/`stop`/
//! `is-active` keep their state in the model, so `fake-juju tick` fires only started timers.
//! Starting a `Type=oneshot` service runs its `ExecStart` as systemd would, in the background
//! (its output in `<model>/services/<unit>.log`); it is active while that process lives, and
//! starting it again meanwhile does nothing, as systemd does.

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
    let result = result.map(|(code, out, err)| {
        let started = match words.as_slice() {
            [verb @ ("start" | "restart"), name] if code == 0 => start_oneshot(&store, verb, name),
            _ => String::new(),
        };
        (code, out, err + &started)
    });
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
                _ => {
                    unit.active = false;
                    // A running oneshot service is stopped with its whole process group.
                    if let Some(pid) = unit.pid.take().filter(|p| alive(*p)) {
                        let _ = std::process::Command::new("kill")
                            .args(["-TERM", "--", &format!("-{pid}")])
                            .status();
                    }
                }
            }
            (0, String::new(), warning)
        }
        // As systemd says it: a oneshot service is `activating` while its command runs.
        ["show", name] => {
            let state = match model.systemd.get(*name) {
                Some(SystemdUnit { pid: Some(pid), .. }) if alive(*pid) => "activating",
                Some(SystemdUnit { pid: Some(_), .. }) => "inactive",
                Some(SystemdUnit { active: true, .. }) => "active",
                _ => "inactive",
            };
            (0, format!("{state}\n"), String::new())
        }
        ["is-active", name] => match model.systemd.get(*name) {
            Some(SystemdUnit { pid: Some(pid), .. }) if alive(*pid) => (3, "activating\n".into(), String::new()),
            Some(SystemdUnit { pid: Some(pid), .. }) if !alive(*pid) => (3, "inactive\n".into(), String::new()),
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

/// Whether a process lives (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Runs a started oneshot service's `ExecStart` in the background; what went wrong, if anything.
fn start_oneshot(store: &crate::model::Store, verb: &str, name: &str) -> String {
    use std::os::unix::process::CommandExt;
    let Ok(model) = store.read() else { return String::new() };
    let Some(unit) = model.systemd.get(name) else {
        return String::new();
    };
    let Some(text) = unit
        .loaded
        .as_deref()
        .filter(|t| t.lines().any(|l| l.trim() == "Type=oneshot"))
    else {
        return String::new();
    };
    if unit.pid.is_some_and(alive) && verb == "start" {
        return String::new();
    }
    let Some(exec_start) = crate::cli::tick::directive(text, "ExecStart") else {
        return format!("{name} has no ExecStart\n");
    };
    let logs = store.dir.join("services");
    let _ = std::fs::create_dir_all(&logs);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("{name}.log")));
    let Ok(log) = log else {
        return format!("cannot open the log of {name}\n");
    };
    let mut command = crate::cli::tick::service_command(store, exec_start);
    command
        .stdin(std::process::Stdio::null())
        .stdout(
            log.try_clone()
                .map(std::process::Stdio::from)
                .unwrap_or_else(|_| std::process::Stdio::null()),
        )
        .stderr(std::process::Stdio::from(log))
        .process_group(0);
    match command.spawn() {
        Ok(child) => {
            let pid = child.id();
            // Not waited for: it outlives this command, as a service outlives `systemctl`.
            std::mem::forget(child);
            let _ = store.update(|model| {
                if let Some(unit) = model.systemd.get_mut(name) {
                    unit.pid = Some(pid);
                }
                Ok(())
            });
            String::new()
        }
        Err(e) => format!("starting {name}: {e}\n"),
    }
}
