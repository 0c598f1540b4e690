//! The `dispatch` entry point: find the event, run its handler, turn the outcome into an exit
//! code. A hook that returns an error exits 1 so that Juju retries it; an unknown hook, an
//! action (failed or not) and a handled problem exit 0. `dispatch serve-metrics …` runs the
//! metrics exporter instead (its systemd service does: [`exporter::main`]); `dispatch
//! bake-image <request>` bakes the runner image ([`bake::run::main`]); `dispatch watch
//! --spec PATH` runs the elastic pool's watcher ([`watch::main`]); `dispatch
//! lxd-objects` prints the LXD objects the charm makes ([`objects::listing`]).

use std::process::ExitCode;
use std::sync::Arc;

use github_runner::bake;
use github_runner::charm;
use github_runner::event::{Event, ProcessEnv};
use github_runner::juju::log::JujuLogLayer;
use github_runner::juju::ProcessTools;
use github_runner::lxd_setup::objects;
use github_runner::metrics::exporter;
use github_runner::watch;
use tracing_subscriber::layer::SubscriberExt;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(exporter::COMMAND) => return exporter::main(&args[2..]),
        Some(bake::run::COMMAND) => return bake::run::main(&args[2..]),
        Some(watch::COMMAND) => return watch::main(&args[2..]),
        Some(objects::COMMAND) => {
            print!("{}", objects::listing());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let subscriber = tracing_subscriber::registry().with(JujuLogLayer::new(Arc::new(ProcessTools)));
    // Only fails if a subscriber is already set, which nothing in this process does.
    let _ = tracing::subscriber::set_global_default(subscriber);

    let argv0 = std::env::args().next().unwrap_or_default();
    let event = Event::detect(&ProcessEnv, &argv0);
    // One thread: a hook is one short-lived task; concurrency comes from async, not threads.
    let Some(runtime) = github_runner::runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(charm::run(&event, &ProcessTools)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Every error of the charm's says its cause in its own message: `{e}`, not `{e:#}`,
            // which would print each cause twice.
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
