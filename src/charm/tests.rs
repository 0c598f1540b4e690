//! Every hook and action in-process, through the recording hook tools and a fake systemd:
//! state in → event → statuses, action results, logs, state out. No process is spawned.
//! LXD is a socket that does not exist (its paths are the scenario tests' job, on the real
//! daemon); GitHub is fake-github, served in this test's runtime.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

use super::{actions, hooks, Ctx};
use crate::config::ProxyConfig;
use crate::event::{Action, Hook};
use crate::host::systemctl::FakeSystemd;
use crate::host::{Host, Systemd};
use crate::juju::log::JujuLogLayer;
use crate::juju::recorder::{Recorded, Recorder};
use crate::juju::Status;
use crate::lxd::LxdClient;
use crate::secret::Secret;
use crate::state::{State, StateFile};
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

    fn ctx(&self) -> Ctx<'_> {
        let host = Host::with_systemd(self.root.path(), self.systemd.clone());
        let lxd = LxdClient::new(self.root.path().join("no-lxd/unix.socket")).expect("client");
        let unit = UnitName::parse("github-runner/0", MODEL).expect("unit name");
        Ctx::new(&self.tools, unit, host, lxd, ProxyConfig::default())
    }

    async fn hook(&self, hook: Hook) -> Recorded {
        self.tools.clear();
        hooks::run(&self.ctx(), hook).await.expect("the hook succeeds");
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

#[tokio::test]
async fn install_without_config_blocks_naming_path_and_token_and_writes_no_timer() {
    let unit = Unit::new(json!({}));
    let done = unit.hook(Hook::Install).await;
    assert_eq!(
        done.statuses,
        [Status::Blocked(
            "missing config: token, path (set with `juju config`)".into()
        )]
    );
    assert!(!unit.path(TIMER).exists());
    assert!(unit.systemd.calls().is_empty());
}

#[tokio::test]
async fn install_without_lxd_off_ubuntu_blocks_saying_how_to_install_it() {
    let unit = Unit::configured("http://127.0.0.1:9");
    std::fs::create_dir_all(unit.path("etc")).expect("etc");
    std::fs::write(unit.path("etc/os-release"), "ID=debian\n").expect("os-release");
    let done = unit.hook(Hook::Install).await;
    let Some(Status::Blocked(message)) = done.statuses.last() else {
        panic!("{:?}", done.statuses);
    };
    assert!(message.starts_with("LXD does not answer at "), "{message}");
    assert!(message.contains("this machine is debian, not Ubuntu"), "{message}");
    assert!(message.contains("apt-get install lxd"), "{message}");
    assert!(!unit.path(TIMER).exists(), "install leaves the timer to config-changed");
}

#[tokio::test]
async fn config_changed_writes_the_timer_and_remembers_path_and_token_before_lxd() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let done = unit.hook(Hook::ConfigChanged).await;
    assert!(waiting_for_lxd(done.statuses.last()), "{:?}", done.statuses);
    let timer = std::fs::read_to_string(unit.path(TIMER)).expect("timer written");
    assert!(timer.contains("OnUnitInactiveSec=10m"));
    assert_eq!(
        unit.systemd.calls(),
        [
            "daemon-reload",
            "enable ghro.reconcile-runners.timer",
            "restart ghro.reconcile-runners.timer",
            "daemon-reload",
            "enable ghro.metrics-exporter.service",
            "restart ghro.metrics-exporter.service"
        ]
    );
    assert!(logged(&done, "reconcile timer set to every 10m"));
    let state = unit.state();
    assert_eq!(state.path.as_deref(), Some("test-org"));
    assert_eq!(state.token, Some(Secret::new(TOKEN)));
}

#[tokio::test]
async fn a_path_change_flushes_with_the_previous_path_and_then_keeps_the_new_one() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let previous = State {
        path: Some("old-org".into()),
        token: Some(Secret::new("ghp_old")),
        ..State::default()
    };
    unit.state_file().save(&previous).expect("seeded");
    let done = unit.hook(Hook::ConfigChanged).await;
    assert!(logged(&done, "path old-org changed: "), "{:?}", done.log);
    let state = unit.state();
    assert_eq!(state.path.as_deref(), Some("test-org"));
    assert_eq!(state.token, Some(Secret::new(TOKEN)));
    assert_eq!(state.previous.len(), 1, "kept until its runners are gone");
    assert_eq!(state.previous[0].path, "old-org");
    assert_eq!(state.previous[0].token, Secret::new("ghp_old"));
}

#[tokio::test]
async fn a_no_change_config_changed_touches_no_unit() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.hook(Hook::ConfigChanged).await;
    let calls = unit.systemd.calls().len();
    let done = unit.hook(Hook::ConfigChanged).await;
    assert_eq!(unit.systemd.calls().len(), calls, "timer running and unchanged");
    assert!(!logged(&done, "reconcile timer"));
}

#[tokio::test]
async fn start_and_the_timer_s_reconcile_wait_for_lxd() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let started = unit.hook(Hook::Start).await;
    assert!(waiting_for_lxd(started.statuses.last()));
    unit.hook(Hook::ConfigChanged).await;
    let ticked = unit.hook(Hook::ReconcileRunners).await;
    assert!(logged(&ticked, "dispatched by the reconcile timer"));
    assert!(waiting_for_lxd(ticked.statuses.last()));
}

#[tokio::test]
async fn upgrade_charm_keeps_the_timer_and_tries_to_bring_lxd_up() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let done = unit.hook(Hook::UpgradeCharm).await;
    assert!(unit.path(TIMER).exists());
    assert!(
        matches!(done.statuses.last(), Some(Status::Blocked(m)) if m.contains("not Ubuntu")),
        "{:?}",
        done.statuses
    );
}

#[tokio::test]
async fn update_status_restarts_a_stopped_timer_and_sets_no_status() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.hook(Hook::ConfigChanged).await;
    unit.systemd
        .unit("stop", "ghro.reconcile-runners.timer")
        .expect("stopped");
    let done = unit.hook(Hook::UpdateStatus).await;
    assert!(done.statuses.is_empty(), "{:?}", done.statuses);
    assert!(logged(&done, "reconcile timer was not running; started it again"));
    assert!(unit.systemd.is_active("ghro.reconcile-runners.timer"));
}

#[tokio::test]
async fn stop_removes_the_timer_and_tries_the_runners_whatever_the_config() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.hook(Hook::ConfigChanged).await;
    let done = unit.hook(Hook::Stop).await;
    assert!(!unit.path(TIMER).exists());
    assert!(logged(&done, "reconcile timer removed"));
    assert!(
        logged(&done, "stop: removing runners: LXD is not reachable"),
        "{:?}",
        done.log
    );

    unit.tools.set_config(json!({"path": "test-org"}));
    unit.hook(Hook::ConfigChanged).await;
    let broken = unit.hook(Hook::Stop).await;
    assert!(
        logged(&broken, "removing the runner instances only"),
        "{:?}",
        broken.log
    );
}

#[tokio::test]
async fn a_reconcile_that_waited_for_the_lock_while_stop_ran_does_nothing() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.hook(Hook::ConfigChanged).await;
    let stopped = unit.hook(Hook::Stop).await;
    assert!(unit
        .systemd
        .calls()
        .contains(&"stop ghro.reconcile-runners.service".to_string()));
    assert!(stopped.statuses.is_empty());
    let late = unit.hook(Hook::ReconcileRunners).await;
    assert!(
        logged(&late, "the reconcile timer is gone (the unit is stopping)"),
        "{:?}",
        late.log
    );
    assert!(
        late.statuses.is_empty(),
        "no LXD setup, no runners: {:?}",
        late.statuses
    );
}

#[tokio::test]
async fn a_corrupt_state_is_moved_aside_and_every_hook_goes_on() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let file = unit.state_file();
    std::fs::create_dir_all(file.path().parent().expect("dir")).expect("mkdir");
    std::fs::write(file.path(), "{\"path\": \"test-org\", \"tok").expect("a half-written state");
    let done = unit.hook(Hook::ConfigChanged).await;
    assert!(logged(&done, "was not valid JSON"), "{:?}", done.log);
    assert!(file.path().with_extension("json.corrupt").exists());
    assert_eq!(unit.state().path.as_deref(), Some("test-org"), "a fresh state, saved");
    std::fs::write(file.path(), "garbage").expect("corrupt again");
    unit.hook(Hook::Stop).await;
    assert!(!unit.path(TIMER).exists(), "stop went on");
}

#[tokio::test]
async fn remove_deletes_the_state_and_its_token() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.hook(Hook::ConfigChanged).await;
    assert!(unit.state_file().path().exists());
    let metrics = crate::metrics::MetricsFile::new(&Host::new(unit.root.path()), "github-runner/0");
    metrics.update(|r| r.target = 2);
    unit.hook(Hook::Remove).await;
    assert!(!unit.state_file().path().exists());
    assert!(!metrics.path().exists(), "the unit's metrics go with it");
    assert!(!unit.state_file().path().parent().expect("dir").exists());
}

#[tokio::test]
async fn relating_cos_agent_sets_the_scrape_job_rules_and_dashboard() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.tools.set_relation_ids("cos-agent", &["cos-agent:0"]);
    let done = unit.hook(Hook::CosAgentChanged).await;
    let data = done.relation_data("cos-agent:0");
    let config: Value = serde_json::from_str(&data["config"]).expect("JSON");
    assert_eq!(
        config["metrics_scrape_jobs"][0]["static_configs"][0]["targets"][0],
        "localhost:9468"
    );
    assert_eq!(config["dashboards"].as_array().map(Vec::len), Some(1));
    assert!(config["metrics_alert_rules"]["groups"][0]["rules"].is_array());
}

#[tokio::test]
async fn the_token_comes_from_the_secret_and_an_unreadable_one_blocks_naming_the_option() {
    let unit = Unit::new(json!({
        "path": "test-org", "token-secret-id": "secret:cs0b3hqj2qpc7gcbq5c0", "test-mode": "insecure",
        "github-url": "http://127.0.0.1:9",
    }));
    let done = unit.hook(Hook::ConfigChanged).await;
    let Some(Status::Blocked(message)) = done.statuses.last() else {
        panic!("{:?}", done.statuses);
    };
    assert!(
        message.contains("token-secret-id") && message.contains("grant-secret"),
        "{message}"
    );

    unit.tools
        .set_secret("secret:cs0b3hqj2qpc7gcbq5c0", &[("token", "ghp_fromsecret")]);
    let done = unit.hook(Hook::SecretChanged).await;
    assert_eq!(
        unit.state().token.as_ref().map(|t| t.expose().to_string()).as_deref(),
        Some("ghp_fromsecret")
    );
    assert!(
        done.log.iter().all(|(_, l)| !l.contains("ghp_fromsecret")),
        "{:?}",
        done.log
    );
}

#[tokio::test]
async fn check_runners_counts_this_unit_s_registrations_and_keeps_the_etags() {
    let github = emulator().await;
    {
        let mut w = github.world();
        let prefix = UnitName::parse("github-runner/0", MODEL).expect("unit").runner_prefix();
        let mine = [format!("{prefix}aaaa0001"), format!("{prefix}aaaa0002")];
        // Another unit's, another model's same unit's, and a name that only looks like ours.
        let others = [
            "github-runner-1-bbbb0001".to_string(),
            format!(
                "{}aaaa0003",
                UnitName::parse("github-runner/0", "another")
                    .expect("unit")
                    .runner_prefix()
            ),
            format!("{prefix}aaaa0001x"),
        ];
        for name in mine.iter().chain(&others) {
            w.add_runner(fake_github::NewRunner::named(name.clone()))
                .expect("seeded");
        }
    }
    let unit = Unit::configured(&github.base_url);
    let done = unit.action(Action::CheckRunners).await;
    assert_eq!(done.failed, None);
    assert_eq!(done.results["offline"], "2", "{:?}", done.results);
    assert_eq!(done.results["online"], "0");
    assert_eq!(done.results["runners"], "");
    assert!(done.statuses.is_empty(), "looking changes no status");
    assert!(!unit.state().etags.is_empty(), "the list's ETag is kept for a free 304");
}

#[tokio::test]
async fn an_action_with_a_rejected_token_fails_and_blocks_naming_the_token() {
    let github = emulator().await;
    let unit = Unit::new(json!({
        "path": "test-org", "token": "ghp_revoked", "test-mode": "insecure", "github-url": github.base_url,
    }));
    let done = unit.action(Action::CheckRunners).await;
    let failed = done.failed.expect("failed");
    assert!(failed.contains("GitHub rejected the token"), "{failed}");
    assert!(matches!(done.statuses.last(), Some(Status::Blocked(m)) if m.contains("check config `token`")));
}

#[tokio::test]
async fn actions_that_change_runners_fail_while_lxd_is_down_and_say_so() {
    let unit = Unit::configured("http://127.0.0.1:9");
    for action in [
        Action::ReconcileRunners,
        Action::FlushRunners,
        Action::UpdateDependencies,
    ] {
        let done = unit.action(action).await;
        let failed = done.failed.unwrap_or_else(|| panic!("{action:?} failed"));
        assert!(failed.contains("LXD is not reachable"), "{action:?}: {failed}");
        assert!(done.results.is_empty());
        assert!(waiting_for_lxd(done.statuses.last()));
    }
}

#[tokio::test]
async fn an_action_with_a_bad_config_fails_and_blocks_with_every_problem() {
    let unit = Unit::new(json!({"path": "test-org", "token": TOKEN, "vm-disk": "10G"}));
    let done = unit.action(Action::FlushRunners).await;
    let failed = done.failed.expect("failed");
    assert!(failed.contains("vm-disk \"10G\""), "{failed}");
    assert!(matches!(done.statuses.last(), Some(Status::Blocked(m)) if m == &failed));
    assert!(!failed.contains(TOKEN));
}

const EXPORTER: &str = "etc/systemd/system/ghro.metrics-exporter.service";

#[tokio::test]
async fn the_exporter_follows_metrics_port_restarts_on_upgrade_and_goes_on_stop() {
    let unit = Unit::configured("http://127.0.0.1:9");
    unit.hook(Hook::ConfigChanged).await;
    let service = std::fs::read_to_string(unit.path(EXPORTER)).expect("the exporter's unit");
    assert!(service.contains("serve-metrics --port 9468 --file"), "{service}");

    let before = unit.systemd.calls().len();
    unit.hook(Hook::UpgradeCharm).await;
    assert!(
        unit.systemd.calls()[before..].contains(&"restart ghro.metrics-exporter.service".to_string()),
        "a new binary is a new exporter: {:?}",
        unit.systemd.calls()
    );

    unit.tools.set_config(json!({
        "path": "test-org", "token": TOKEN, "test-mode": "insecure", "github-url": "http://127.0.0.1:9",
        "metrics-port": 0,
    }));
    unit.hook(Hook::ConfigChanged).await;
    assert!(!unit.path(EXPORTER).exists(), "metrics-port=0 turns it off");

    unit.tools.set_config(json!({
        "path": "test-org", "token": TOKEN, "test-mode": "insecure", "github-url": "http://127.0.0.1:9",
        "metrics-port": 9470,
    }));
    unit.hook(Hook::ConfigChanged).await;
    assert!(std::fs::read_to_string(unit.path(EXPORTER))
        .expect("back")
        .contains("--port 9470"));
    unit.hook(Hook::Stop).await;
    assert!(!unit.path(EXPORTER).exists());
    assert!(unit
        .systemd
        .calls()
        .contains(&"stop ghro.metrics-exporter.service".to_string()));
}
