//! `fake-juju tick`: fires every started `*.timer` of the fake machine's systemd once, by
//! running its service's `ExecStart` as systemd would: as root, with systemd's `PATH` (the
//! fake machine's tools first, where `juju-exec` lives), no Juju variables, from `/`.

use anyhow::{bail, Context as _};

use crate::model::Store;

const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn tick(store: &Store) -> anyhow::Result<i32> {
    let model = store.read()?;
    let mut fired = 0;
    let mut failed = Vec::new();
    for (name, unit) in &model.systemd {
        let (true, Some(text)) = (name.ends_with(".timer") && unit.active, &unit.loaded) else {
            continue;
        };
        let service = directive(text, "Unit")
            .map(str::to_string)
            .unwrap_or_else(|| name.trim_end_matches(".timer").to_string() + ".service");
        let service_text = model
            .systemd
            .get(&service)
            .and_then(|s| s.loaded.clone())
            .with_context(|| format!("{name} starts {service}, which systemd has not loaded"))?;
        let exec_start =
            directive(&service_text, "ExecStart").with_context(|| format!("{service} has no ExecStart"))?;
        println!("tick: {name} → {service}");
        let status = service_command(store, exec_start)
            .status()
            .with_context(|| format!("running {service}"))?;
        fired += 1;
        if !status.success() {
            failed.push(format!("{service}: {status}"));
        }
    }
    if fired == 0 {
        println!("tick: no started timers");
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(0)
}

/// The value of the last `Key=` line of a unit file.
pub fn directive<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
}

/// A service's `ExecStart` as systemd runs it: `sh -c`, as root, with systemd's `PATH` (the
/// fake machine's tools first), no Juju variables, from `/`.
pub fn service_command(store: &Store, exec_start: &str) -> std::process::Command {
    let mut command = std::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(exec_start)
        .env_clear()
        .env("PATH", format!("{}:{SYSTEMD_PATH}", store.tools_dir().display()))
        .env("LANG", "C.UTF-8")
        .env("FAKE_JUJU_MODEL", &store.dir)
        .current_dir("/");
    command
}
