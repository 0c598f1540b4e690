//! fake-github: an emulator of GitHub's REST API for self-hosted runners, served GHES-style
//! under `/api/v3`, strict where GitHub is strict (research/github-api.md §6), with a stub
//! runner tarball whose `config.sh`/`run.sh` register and stay online through the
//! emulator's `/_emulator/` API.
//!
//! Modules: [`state`] (the world and GitHub's rules), `gate` (auth, limits, faults, log),
//! `api` (the REST endpoints), [`actions`] (workflow runs and jobs), `admin` (`/_emulator/`), [`orders`] (jobs, updates and exits
//! for the stub's listener), [`releases`] (release downloads: yq), [`stub`] (the tarball),
//! [`webhooks`] (`workflow_job` deliveries to a registered URL).

pub mod actions;
mod admin;
mod api;
pub mod contract;
pub mod fault;
mod gate;
pub mod orders;
pub mod releases;
pub mod state;
pub mod stub;
pub mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;

pub use fault::Fault;
pub use state::{Config, LoggedRequest, NewRunner, ScopeConfig, World};

pub type Shared = Arc<Mutex<World>>;

/// The whole app: the gated REST API and the admin API.
pub fn router(world: Shared) -> Router {
    let api = api::routes()
        .merge(actions::routes())
        .layer(axum::middleware::from_fn_with_state(world.clone(), gate::gate));
    api.merge(admin::routes())
        .merge(actions::admin_routes())
        .merge(orders::routes())
        .merge(releases::routes())
        .merge(webhooks::admin_routes())
        .with_state(world)
}

/// A running emulator.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`: what `github-url` is set to.
    pub base_url: String,
    world: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Serves `config` on `addr` (`127.0.0.1:0` for any free port) in the current runtime.
    pub async fn start(config: Config, addr: &str) -> anyhow::Result<Emulator> {
        Emulator::serve(config, tokio::net::TcpListener::bind(addr).await?)
    }

    /// Serves `config` on a socket bound elsewhere, e.g. inside a test host's network
    /// namespace (a socket stays in the namespace it was made in).
    pub fn start_on(config: Config, listener: std::net::TcpListener) -> anyhow::Result<Emulator> {
        listener.set_nonblocking(true)?;
        Emulator::serve(config, tokio::net::TcpListener::from_std(listener)?)
    }

    fn serve(config: Config, listener: tokio::net::TcpListener) -> anyhow::Result<Emulator> {
        let base_url = format!("http://{}", listener.local_addr()?);
        let world: Shared = Arc::new(Mutex::new(World::new(config)));
        let (outbox, deliveries) = tokio::sync::mpsc::unbounded_channel();
        {
            let mut w = world.lock().expect("fresh lock");
            w.base_url = base_url.clone();
            w.webhooks.outbox = Some(outbox);
        }
        let sender = tokio::spawn(webhooks::sender(world.clone(), deliveries));
        let app = router(world.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake-github: {e}");
            }
            sender.abort();
        });
        Ok(Emulator { base_url, world, task })
    }

    /// The API root the client uses (`<base>/api/v3/`).
    pub fn api_url(&self) -> String {
        format!("{}/api/v3/", self.base_url)
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("world lock")
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.world().log.clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
