//! The `dispatch` entry point: find the event, run its handler, turn the outcome into an exit
//! code. A hook that returns an error exits 1 so that Juju retries it; an unknown hook, an
//! action (failed or not) and a handled problem exit 0. `dispatch serve-metrics …` runs the
//! metrics exporter instead (its systemd service does).

use std::process::ExitCode;
use std::sync::Arc;

use github_runner::charm;
use github_runner::event::{Event, ProcessEnv};
use github_runner::juju::log::JujuLogLayer;
use github_runner::juju::ProcessTools;
use github_runner::metrics::{exporter, MetricsFile};
use tracing_subscriber::layer::SubscriberExt;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(exporter::COMMAND) {
        return serve_metrics(&args[2..]);
    }
    let subscriber = tracing_subscriber::registry().with(JujuLogLayer::new(Arc::new(ProcessTools)));
    // Only fails if a subscriber is already set, which nothing in this process does.
    let _ = tracing::subscriber::set_global_default(subscriber);

    let argv0 = std::env::args().next().unwrap_or_default();
    let event = Event::detect(&ProcessEnv, &argv0);
    // One thread: a hook is one short-lived task; concurrency comes from async, not threads.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
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

/// The exporter: bound to localhost, serving until systemd stops it.
fn serve_metrics(args: &[String]) -> ExitCode {
    let args = match exporter::Args::parse(args) {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("error: {usage}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| format!("listening on 127.0.0.1:{}: {e} (is `metrics-port` taken?)", args.port))?;
        eprintln!(
            "serving {} on http://127.0.0.1:{}/metrics",
            args.file.display(),
            args.port
        );
        exporter::serve(listener, MetricsFile::at(&args.file))
            .await
            .map_err(|e| format!("serving metrics: {e}"))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
