//! Every hook and action in-process, through the recording hook tools and a fake systemd:
//! state in → event → statuses, action results, logs, state out. No process is spawned.
//! LXD is a socket that does not exist (its paths are the scenario tests' job, on the real
//! daemon); GitHub is fake-github, served in this test's runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

use super::{actions, hooks, Ctx};
use crate::config::{Generation, GithubPath};
use crate::event::{Action, Hook};
use crate::github::RetryPolicy;
use crate::host::systemctl::FakeSystemd;
use crate::host::{Host, Systemd};
use crate::juju::log::JujuLogLayer;
use crate::juju::recorder::{Recorded, Recorder};
use crate::juju::Status;
use crate::lxd::LxdClient;
use crate::proxy::Proxy;
use crate::secret::Secret;
use crate::state::{Previous, State, StateFile};
use crate::unit::UnitName;

const TOKEN: &str = "ghp_emulatortoken";
const MODEL: &str = "5f8d2c4e-0b1a-4c3d-9e8f-7a6b5c4d3e2f";
const TIMER: &str = "etc/systemd/system/ghro.reconcile-runners.timer";

/// One unit: a host root, its hook tools, its systemd, and no LXD.
struct Unit {
    root: tempfile::TempDir,
    tools: Recorder,
    systemd: Arc<FakeSystemd>,
    _logs: tracing::subscriber::DefaultGuard,
}

impl Unit {
    fn new(config: Value) -> Unit {
        let tools = Recorder::with_config(config);
        let layer = JujuLogLayer::new(Arc::new(tools.clone()));
        let logs = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Unit {
            root: tempfile::tempdir().expect("tempdir"),
            tools,
            systemd: Arc::default(),
            _logs: logs,
        }
    }

    /// A valid config for an organisation on `github_url`.
    fn configured(github_url: &str) -> Unit {
        Unit::new(json!({
            "path": "test-org", "token": TOKEN, "test-mode": "insecure", "github-url": github_url,
            "virtual-machines": 2, "vm-disk": "64MiB",
        }))
    }

    fn lxd_socket(&self) -> PathBuf {
        self.root.path().join("no-lxd/unix.socket")
    }

    /// Something answers on the LXD socket (404 to everything): a daemon is there, so
    /// bring-up has nothing to install, though no setup can succeed.
    fn lxd_answers(&self) -> tokio::task::JoinHandle<()> {
        self.fake_lxd(false)
    }

    /// A daemon with no instances (and 404 to anything else): a flush finds nothing to remove.
    fn lxd_without_instances(&self) -> tokio::task::JoinHandle<()> {
        self.fake_lxd(true)
    }

    fn fake_lxd(&self, lists_instances: bool) -> tokio::task::JoinHandle<()> {
        std::fs::create_dir_all(self.lxd_socket().parent().expect("dir")).expect("mkdir");
        let listener = tokio::net::UnixListener::bind(self.lxd_socket()).expect("bind");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| async move {
                    let (status, body) = match request.uri().path() {
                        "/1.0/instances" if lists_instances => (
                            200,
                            r#"{"type": "sync", "status": "Success", "status_code": 200, "metadata": []}"#,
                        ),
                        _ => (404, r#"{"type": "error", "error": "not found", "error_code": 404}"#),
                    };
                    hyper::Response::builder()
                        .status(status)
                        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
            }
        })
    }

    fn ctx(&self) -> Ctx<'_> {
        let host = Host::with_systemd(self.root.path(), self.systemd.clone());
        let lxd = LxdClient::new(self.lxd_socket()).expect("client");
        let unit = UnitName::parse("github-runner/0", MODEL).expect("unit name");
        let mut ctx = Ctx::new(&self.tools, unit, host, lxd, Proxy::default());
        // The same retries as in production, without their waits: a handler test asserts
        // what a hook does after GitHub failed, not how long it waited.
        ctx.deps.github_retry = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        ctx
    }

    async fn hook(&self, hook: Hook) -> Recorded {
        self.tools.clear();
        hooks::run(&mut self.ctx(), hook).await.expect("the hook succeeds");
        self.tools.recorded()
    }

    async fn action(&self, action: Action) -> Recorded {
        self.tools.clear();
        actions::run(&self.ctx(), action).await.expect("action-fail works");
        self.tools.recorded()
    }

    fn state_file(&self) -> StateFile {
        StateFile::new(&Host::new(self.root.path()), "github-runner/0")
    }

    fn state(&self) -> State {
        self.state_file().load().expect("state loads")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
}

fn generation(path: &str, token: &str) -> Generation {
    Generation {
        path: GithubPath::parse(path).expect("a path"),
        token: Secret::new(token),
    }
}

fn logged(recorded: &Recorded, text: &str) -> bool {
    recorded.log.iter().any(|(_, line)| line.contains(text))
}

fn waiting_for_lxd(status: Option<&Status>) -> bool {
    matches!(status, Some(Status::Waiting(m)) if m.starts_with("LXD setup failed: LXD is not reachable") && m.ends_with("the next hook retries"))
}

async fn emulator() -> fake_github::Emulator {
    fake_github::Emulator::start(fake_github::Config::default(), "127.0.0.1:0")
        .await
        .expect("emulator starts")
}

mod action_tests;
mod hook_tests;
mod watch_tests;
