//! The controller CLI: `fake-juju [--model DIR] <command> …`.
//!
//! The model directory comes from `--model`, else `FAKE_JUJU_MODEL`, else `./.fake-juju`.
//! Commands answer as `juju` would, and exit non-zero when the hook or action they ran failed.

mod actions;
mod deploy;
mod hooks;
mod relations;
mod secrets;
mod status;
pub mod tick;

use std::path::PathBuf;

use crate::model::Store;

const USAGE: &str = "usage: fake-juju [--model DIR] <command>
  deploy <charm-dir> [<app>] [--config k=v]…   install, leader-elected, config-changed, start
  config <app> [k=v…] [--reset k[,k…]]          show or change config (config-changed)
  model-config [k=v…]                           juju-http-proxy, juju-https-proxy, juju-no-proxy
  run <unit> <action> [k=v…] [--format=json]    run an action, print its results
  status [--format=json]                        units, workload and agent status
  refresh <app> [--path <charm-dir>]            upgrade-charm, config-changed
  run-hook <unit> <hook>                        run one hook (e.g. update-status)
  relate <app>:<ep> <remote-app>[:<ep>]         relate (alias integrate): -created, -joined, -changed
  remove-relation <app>:<ep> <remote-app> | <id>  -departed, -broken
  show-unit <unit> [--format=json] [--endpoint EP]  the unit's relation data (relation-info)
  add-secret <name> k=v…                        a user secret; prints its URI
  grant-secret <name|uri> <app>                 let the app's units read it
  update-secret <name|uri> k=v…                 a new revision; secret-changed where it was read
  add-unit <app>                                install, config-changed, start (a peer)
  remove-unit <unit>                            stop, remove
  resolved <unit> [--no-retry]                  clear a hook error (and re-run the hook)
  tick                                          fire every started timer the charm wrote
  debug-log [--level LEVEL]                     the model's log";

pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR {e:#}");
            1
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<i32> {
    let mut args = args.to_vec();
    let mut model_dir = std::env::var_os("FAKE_JUJU_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".fake-juju".into());
    if let Some(i) = args.iter().position(|a| a == "--model" || a.starts_with("--model=")) {
        let flag = args.remove(i);
        model_dir = match flag.strip_prefix("--model=") {
            Some(dir) => dir.into(),
            None if i < args.len() => args.remove(i).into(),
            None => anyhow::bail!("--model needs a directory"),
        };
    }
    let store = Store::new(std::path::absolute(&model_dir)?);
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(2);
    };
    match command.as_str() {
        "deploy" => deploy::deploy(&store, rest),
        "config" => deploy::config(&store, rest),
        "model-config" => deploy::model_config(&store, rest),
        "refresh" => deploy::refresh(&store, rest),
        "add-unit" => deploy::add_unit(&store, rest),
        "remove-unit" => deploy::remove_unit(&store, rest),
        "run" => actions::run(&store, rest),
        "run-hook" => match rest {
            [unit, hook] => hooks::run_hook(&store, unit, &crate::model::Hook::named(hook)).map(|()| 0),
            _ => anyhow::bail!("usage: fake-juju run-hook <unit> <hook>"),
        },
        "resolved" => hooks::resolved(&store, rest),
        "relate" | "integrate" => relations::relate(&store, rest),
        "remove-relation" => relations::remove_relation(&store, rest),
        "show-unit" => relations::show_unit(&store, rest),
        "add-secret" => secrets::add_secret(&store, rest),
        "grant-secret" => secrets::grant_secret(&store, rest),
        "update-secret" => secrets::update_secret(&store, rest),
        "status" => status::status(&store, rest),
        "debug-log" => status::debug_log(&store, rest),
        "tick" => tick::tick(&store),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(0)
        }
        other => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
}
