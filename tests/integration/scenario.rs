//! The charm under fake-juju: the operator's story from deploy to remove-unit.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Juju, TOKEN, VALID};

const SERVICE: &str = "ghro.reconcile-runners.service";
const TIMER: &str = "ghro.reconcile-runners.timer";

#[test]
fn deploy_without_config_is_blocked_naming_path_and_token_and_writes_no_timer() {
    let juju = Juju::new();
    juju.deploy(&[]);
    let (status, message) = juju.unit_status();
    assert_eq!(status, "blocked");
    assert_eq!(message, "missing config: token, path (set with `juju config`)");
    assert!(!juju.unit_file(SERVICE).exists());
    assert!(!juju.unit_file(TIMER).exists());
}

#[test]
fn valid_config_installs_the_timer_with_the_interval() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let (status, message) = juju.unit_status();
    // No daemon, on a machine that is not Ubuntu: the operator is told to install LXD.
    assert_eq!(status, "blocked", "{message}");
    assert!(
        message.starts_with("LXD does not answer at") && message.contains("install and start LXD yourself"),
        "{message}"
    );
    let timer = std::fs::read_to_string(juju.unit_file(TIMER)).expect("timer written");
    assert!(timer.contains("OnUnitInactiveSec=10m\n"), "{timer}");
    let service = std::fs::read_to_string(juju.unit_file(SERVICE)).expect("service written");
    assert!(
        service.contains("JUJU_DISPATCH_PATH=hooks/reconcile-runners timeout 300 ./dispatch"),
        "{service}"
    );
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(juju.model().join("model.json")).expect("model")).expect("json");
    assert_eq!(model["systemd"][TIMER]["active"], true, "the timer is started");
    assert_eq!(model["systemd"][TIMER]["enabled"], true, "the timer is enabled");
}

#[test]
fn changing_the_interval_rewrites_the_units() {
    let juju = Juju::new();
    juju.deploy(VALID);
    juju.ok(&["config", "github-runner", "reconcile-interval=30"]);
    let timer = std::fs::read_to_string(juju.unit_file(TIMER)).expect("timer");
    assert!(timer.contains("OnUnitInactiveSec=30m\n"), "{timer}");
    assert!(timer.contains("RandomizedDelaySec=450s\n"), "{timer}");
    let service = std::fs::read_to_string(juju.unit_file(SERVICE)).expect("service");
    assert!(service.contains("timeout 900 ./dispatch"), "{service}");
    let reloads = juju
        .calls()
        .iter()
        .filter(|(tool, args)| tool == "systemctl" && args == &["daemon-reload"])
        .count();
    assert_eq!(
        reloads, 3,
        "one reload for the timer's first install, one for the exporter's, one for the change"
    );
}

#[test]
fn a_no_change_config_changed_rewrites_nothing() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let before = std::fs::metadata(juju.unit_file(TIMER))
        .expect("timer")
        .modified()
        .expect("mtime");
    let calls_before = juju.calls().len();
    juju.ok(&["run-hook", "github-runner/0", "config-changed"]);
    let after = std::fs::metadata(juju.unit_file(TIMER))
        .expect("timer")
        .modified()
        .expect("mtime");
    assert_eq!(before, after);
    let systemctl: Vec<_> = juju.calls()[calls_before..]
        .iter()
        .filter(|(t, _)| t == "systemctl")
        .cloned()
        .collect();
    let is_active = |unit: &str| {
        (
            "systemctl".to_string(),
            vec!["is-active".to_string(), "--quiet".into(), unit.into()],
        )
    };
    // The exporter first (it is kept with the cos-agent data), then the timer.
    assert_eq!(
        systemctl,
        [is_active("ghro.metrics-exporter.service"), is_active(TIMER)]
    );
}

#[test]
fn a_bad_option_afterwards_blocks_and_leaves_the_timer_alone() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let timer_before = std::fs::read_to_string(juju.unit_file(TIMER)).expect("timer");
    juju.ok(&[
        "config",
        "github-runner",
        "vm-disk=10G",
        "reconcile-interval=99",
        "denylist=10.0.0.1/8",
    ]);
    let (status, message) = juju.unit_status();
    assert_eq!(status, "blocked");
    assert_eq!(
        message,
        "invalid config: vm-disk \"10G\" needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. \"10GiB\"; \
         denylist \"10.0.0.1/8\" entry \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)"
    );
    assert_eq!(
        std::fs::read_to_string(juju.unit_file(TIMER)).expect("timer"),
        timer_before
    );
}

#[test]
fn remove_unit_removes_the_timer_units_and_the_state() {
    let juju = Juju::new();
    juju.deploy(VALID);
    juju.ok(&["remove-unit", "github-runner/0"]);
    assert!(!juju.unit_file(SERVICE).exists());
    assert!(!juju.unit_file(TIMER).exists());
    assert!(
        !juju.root().join("var/lib/github-runner/github-runner-0").exists(),
        "no token left on the machine"
    );
    let verbs: Vec<String> = juju
        .calls()
        .iter()
        .filter(|(t, _)| t == "systemctl")
        .map(|(_, a)| a.join(" "))
        .collect();
    assert!(verbs.contains(&format!("stop {TIMER}")), "{verbs:?}");
    assert!(verbs.contains(&format!("disable {TIMER}")), "{verbs:?}");
}

#[test]
fn tick_dispatches_reconcile_runners_through_juju_exec() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let out = juju.ok(&["tick"]);
    assert!(out.contains(TIMER), "{out}");
    let log = juju.debug_log();
    assert!(
        log.contains("reconcile-runners: dispatched by the reconcile timer"),
        "{log}"
    );
}

#[test]
fn timers_written_by_the_original_charm_with_a_bare_event_name_still_dispatch() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let out = std::process::Command::new(juju.model().join("tools/juju-exec"))
        .args([
            "github-runner/0",
            "JUJU_DISPATCH_PATH=reconcile-runners timeout 300 ./dispatch",
        ])
        .env("FAKE_JUJU_MODEL", juju.model())
        .env_remove("JUJU_CONTEXT_ID")
        .output()
        .expect("juju-exec runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(juju
        .debug_log()
        .contains("reconcile-runners: dispatched by the reconcile timer"));
}

#[test]
fn unknown_hooks_exit_0() {
    let juju = Juju::new();
    juju.deploy(VALID);
    juju.ok(&["run-hook", "github-runner/0", "leader-settings-changed"]);
    juju.ok(&["run-hook", "github-runner/0", "cos-agent-relation-joined"]);
}

#[test]
fn actions_fail_with_action_fail_and_exit_0() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let out = juju.run(&["run", "github-runner/0", "check-runners", "--format=json"]);
    assert!(!out.status.success(), "the task failed");
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let task = &task["github-runner/0"];
    assert_eq!(task["status"], "failed");
    assert_eq!(
        task["results"]["return-code"], 0,
        "failed through action-fail, not an exit code"
    );
    let message = task["message"].as_str().expect("message");
    assert!(
        message.contains("could not reach GitHub at http://127.0.0.1:9/") && message.contains("refused"),
        "{task}"
    );
}

#[test]
fn the_charm_calls_hook_tools_with_juju_s_command_lines() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let calls = juju.calls();
    let has = |tool: &str, args: &[&str]| calls.iter().any(|(t, a)| t == tool && a == args);
    assert!(has("config-get", &["--format=json"]));
    assert!(calls
        .iter()
        .any(|(t, a)| t == "status-set" && a[..3] == ["--application=False", "blocked", "--"]));
    assert!(calls
        .iter()
        .any(|(t, a)| t == "juju-log" && a[..3] == ["-l", "INFO", "--"]));
    assert!(
        calls.iter().all(|(_, a)| a.iter().all(|x| !x.contains(TOKEN))),
        "the token is never in argv"
    );
}

#[test]
fn the_token_never_leaves_the_0600_state_file() {
    let juju = Juju::new();
    juju.deploy(VALID);
    juju.ok(&["config", "github-runner", "reconcile-interval=20"]);
    juju.ok(&["config", "github-runner", "vm-disk=bad"]);
    juju.ok(&["tick"]);
    let _ = juju.run(&["run", "github-runner/0", "flush-runners"]);
    assert!(!juju.debug_log().contains(TOKEN), "not in debug-log");
    let status = juju.ok(&["status", "--format=json"]);
    assert!(!status.contains(TOKEN), "not in status");
    let mut holders = Vec::new();
    let mut stack = vec![juju.root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path).unwrap_or_default().contains(TOKEN) {
                holders.push(path);
            }
        }
    }
    let state = juju.root().join("var/lib/github-runner/github-runner-0/state.json");
    assert_eq!(
        holders,
        std::slice::from_ref(&state),
        "only the charm's state holds the token"
    );
    assert_eq!(
        std::fs::metadata(&state).expect("state").permissions().mode() & 0o777,
        0o600
    );
    let dir_mode = std::fs::metadata(state.parent().expect("dir"))
        .expect("dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o710, "the metrics exporter's group may traverse it, no more");
}

#[test]
fn upgrade_from_a_timer_the_original_charm_wrote_rewrites_it() {
    let juju = Juju::new();
    juju.deploy(VALID);
    let old = "[Service]\nExecStart=/usr/bin/bash -c '/usr/bin/juju-exec \"github-runner/0\" \"JUJU_DISPATCH_PATH=reconcile-runners timeout 300 ./dispatch\"'\n";
    std::fs::write(juju.unit_file(SERVICE), old).expect("write old unit");
    juju.ok(&["refresh", "github-runner"]);
    let service = std::fs::read_to_string(juju.unit_file(SERVICE)).expect("service");
    assert!(
        service.contains("JUJU_DISPATCH_PATH=hooks/reconcile-runners"),
        "{service}"
    );
    assert_eq!(juju.unit_status().0, "blocked", "no LXD here, and not Ubuntu");
}
