//! fake-juju: a process-level fake of Juju, faithful enough that a charm passing under it
//! behaves the same under Juju (research/juju-contract.md §5.2).
//!
//! One multi-call binary, as jujuc is. Called by a hook tool's name (`config-get`,
//! `status-set`, `action-set`, `juju-exec`, …, and a fake `systemctl` for the fake machine)
//! it is that tool; called as `fake-juju` it is a small controller with a juju-like CLI over a
//! model directory: deploy, config, run, status, refresh, remove-unit, relate, remove-relation,
//! show-unit, add-secret, grant-secret, update-secret, tick, debug-log.

mod agent;
mod cli;
mod clock;
mod flags;
mod model;
mod output;
mod relation;
mod secret;
mod tools;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args.remove(0);
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("fake-juju")
        .to_string();
    let code = if tools::TOOLS.contains(&name.as_str()) {
        tools::main(&name, &args)
    } else {
        cli::main(&args)
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
