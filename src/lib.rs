//! github-runner: a Juju machine charm that keeps self-hosted GitHub Actions runners alive in
//! LXD instances on its unit.
//!
//! The map of the house, top down:
//! - [`event`] decides which hook or action this process runs for;
//! - [`charm`] holds the handlers: each hook's row in one table, and one pipeline for hooks and
//!   actions (LXD set up, previous generations retired, the manager's steps, recorded, saved);
//! - [`manager`] keeps the pool of runners: observe → plan (pure) → act;
//! - [`runner`] is one runner's life in one LXD instance; [`runner_binary`] the verified
//!   runner tarball; [`bake`] the runner image baked from `base-image` in the background;
//! - [`lxd_setup`] is the unit's LXD setup (bridge, firewall, profiles, RAM disk, pool) and the
//!   list of what it makes;
//! - [`metrics`] records what the hooks did and serves it (the exporter, the event log,
//!   `cos-agent`);
//! - [`config`] parses and validates every option in one place; [`proxy`] is the model proxy;
//! - [`state`] is what survives between hooks (a 0600 file);
//! - [`github`] is the REST client; [`lxd`] the REST client over LXD's unix socket;
//! - [`juju`] runs the hook tools; [`host`] owns the machine's files and services;
//! - [`secret`] keeps tokens out of logs; [`process`] runs commands and keeps their stderr;
//! - [`unit`] is this unit's name and what its runners are called.
//!
//! `juju` and `host` never import each other; only `charm` joins them. The clients (`github`,
//! `lxd`) import nothing of the charm's.

pub mod bake;
pub mod charm;
pub mod config;
pub mod event;
pub mod github;
pub mod host;
pub mod http_serve;
pub mod juju;
pub mod lxd;
pub mod lxd_setup;
pub mod manager;
pub mod metrics;
pub mod process;
pub mod proxy;
pub mod runner;
pub mod runner_binary;
pub mod secret;
pub mod state;
pub mod unit;
pub mod watch;

/// The one-threaded async runtime a hook or a service of the charm's binary runs on (a hook is
/// one short-lived task; concurrency comes from async, not threads); `None` after saying on
/// stderr why it could not start.
pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            None
        }
    }
}
