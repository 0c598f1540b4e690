//! github-runner: a Juju machine charm that keeps self-hosted GitHub Actions runners alive in
//! LXD instances on its unit.
//!
//! The map of the house:
//! - [`event`] decides which hook or action this process runs for;
//! - [`charm`] holds the handlers, thin: config, state, the layers below, a status;
//! - [`config`] parses and validates every option in one place;
//! - [`state`] is what survives between hooks (a 0600 file);
//! - [`github`] is the REST client for runners; [`runner_binary`] the verified runner tarball;
//! - [`lxd`] is the REST client over LXD's unix socket;
//! - [`juju`] runs the hook tools; [`host`] owns the machine's files and services;
//! - [`secret`] keeps tokens out of logs; [`process`] runs commands and keeps their stderr;
//! - [`unit`] is this unit's name and what its runners are called.
//!
//! `juju` and `host` never import each other; only `charm` joins them.

pub mod charm;
pub mod config;
pub mod event;
pub mod github;
pub mod host;
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
