//! Hook handlers: install, start, config-changed, upgrade-charm, update-status, the timer's
//! reconcile, stop, remove, secret-changed and cos-agent, each through the recording tools.

use super::*;

#[tokio::test]
async fn install_without_config_blocks_naming_path_and_token_and_writes_no_timer() {
    let unit = Unit::new(json!({}));
    let _lxd = unit.lxd_answers();
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

    let unconfigured = Unit::new(json!({}));
    std::fs::create_dir_all(unconfigured.path("etc")).expect("etc");
    std::fs::write(unconfigured.path("etc/os-release"), "ID=debian\n").expect("os-release");
    let done = unconfigured.hook(Hook::Install).await;
    assert!(
        matches!(done.statuses.last(), Some(Status::Blocked(m)) if m.contains("apt-get install lxd")),
        "LXD is brought up before the config is looked at: {:?}",
        done.statuses
    );
}

#[tokio::test]
async fn config_changed_writes_the_timer_and_remembers_path_and_token_before_lxd() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let done = unit.hook(Hook::ConfigChanged).await;
    assert!(
        matches!(done.statuses.last(), Some(Status::Blocked(m)) if m.contains("install and start LXD yourself")),
        "no daemon, and none this machine can install: the operator is told: {:?}",
        done.statuses
    );
    let timer = std::fs::read_to_string(unit.path(TIMER)).expect("timer written");
    assert!(timer.contains("OnUnitInactiveSec=10m"));
    assert_eq!(
        unit.systemd.calls(),
        [
            // The exporter first, with the cos-agent data, whatever the rest of the config.
            "daemon-reload",
            "enable ghro.metrics-exporter.service",
            "restart ghro.metrics-exporter.service",
            "daemon-reload",
            "enable ghro.reconcile-runners.timer",
            "restart ghro.reconcile-runners.timer"
        ]
    );
    assert!(logged(&done, "reconcile timer set to every 10m"));
    assert_eq!(unit.state().current, Some(generation("test-org", TOKEN)));
}

#[tokio::test]
async fn a_path_change_flushes_with_the_previous_path_and_then_keeps_the_new_one() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let previous = State {
        current: Some(generation("old-org", "ghp_old")),
        ..State::default()
    };
    unit.state_file().save(&previous).expect("seeded");
    let done = unit.hook(Hook::ConfigChanged).await;
    assert!(logged(&done, "path old-org changed: "), "{:?}", done.log);
    let state = unit.state();
    assert_eq!(state.current, Some(generation("test-org", TOKEN)));
    assert_eq!(state.previous.len(), 1, "kept until its runners are gone");
    assert_eq!(state.previous[0].made_with, generation("old-org", "ghp_old"));
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
async fn start_and_the_timer_s_reconcile_wait_for_a_daemon_that_is_there() {
    let unit = Unit::configured("http://127.0.0.1:9");
    let lxd = unit.lxd_answers();
    let started = unit.hook(Hook::Start).await;
    assert!(
        matches!(started.statuses.last(), Some(Status::Waiting(m)) if m.starts_with("LXD setup failed: ")),
        "a daemon that answers is not installed again: {:?}",
        started.statuses
    );
    lxd.abort();
    std::fs::remove_file(unit.lxd_socket()).expect("the daemon goes");
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
    assert_eq!(
        unit.state().current.map(|c| c.path.to_string()).as_deref(),
        Some("test-org"),
        "a fresh state, saved"
    );
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
        unit.state().current.map(|c| c.token.expose().to_string()).as_deref(),
        Some("ghp_fromsecret")
    );
    assert!(
        done.log.iter().all(|(_, l)| !l.contains("ghp_fromsecret")),
        "{:?}",
        done.log
    );
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

#[tokio::test]
async fn stop_keeps_the_etags_of_the_retirement_and_of_the_flush() {
    let config = fake_github::Config {
        tokens: vec![TOKEN.into(), "ghp_old".into()],
        ..fake_github::Config::default()
    };
    let github = fake_github::Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator starts");
    let unit = Unit::configured(&github.base_url);
    let _lxd = unit.lxd_without_instances();
    let prefix = UnitName::parse("github-runner/0", MODEL).expect("unit").runner_prefix();
    let seeded = State {
        current: Some(generation("test-org", TOKEN)),
        previous: vec![Previous {
            made_with: generation("test-org", "ghp_old"),
            runners: vec![format!("{prefix}deadbeef")],
        }],
        ..State::default()
    };
    unit.state_file().save(&seeded).expect("seeded");
    let done = unit.hook(Hook::Stop).await;
    // The previous token's list came first and kept its ETag: the flush's list of the same
    // runners was a free 304.
    assert!(logged(&done, "GitHub: 1 requests (0 free 304s"), "{:?}", done.log);
    assert!(logged(&done, "GitHub: 1 requests (1 free 304s"), "{:?}", done.log);
    let state = unit.state();
    assert!(!state.etags.is_empty(), "kept for the next hook");
    assert!(state.previous.is_empty(), "its runner is gone");
}
