//! The fake's hook tools against the Juju contract (research/juju-contract.md §2, §5.2),
//! seen as a charm sees them: a tiny charm whose `dispatch` runs `hook.sh`, which each test
//! writes, under a real `fake-juju` controller.

mod common;

use std::process::{Command, Output};

use common::{probe, Model};
use serde_json::Value;

#[test]
fn config_get_of_an_unknown_key_prints_null_and_exits_0() {
    let m = Model::deploy();
    let (_, out) = m.hook(&probe("config-get --format=json nope"));
    assert_eq!(out.trim(), "rc=0 out=null err=");
}

#[test]
fn config_get_omits_options_without_value_or_default_unless_all() {
    let m = Model::deploy();
    let (_, out) = m.hook(&(probe("config-get --format=json") + &probe("config-get --format=json --all")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rc=0 out={\"count\":1,\"name\":\"x\"} err=");
    assert_eq!(lines[1], "rc=0 out={\"count\":1,\"mode\":null,\"name\":\"x\"} err=");
}

#[test]
fn config_get_all_with_a_key_is_a_usage_error() {
    let m = Model::deploy();
    let (_, out) = m.hook(&probe("config-get --all name"));
    assert_eq!(
        out.trim(),
        "rc=2 out= err=ERROR cannot use argument --all together with key \"name\""
    );
}

#[test]
fn status_set_refuses_statuses_only_juju_may_set() {
    let m = Model::deploy();
    let (_, out) = m.hook(&probe("status-set error boom"));
    assert_eq!(
        out.trim(),
        "rc=2 out= err=ERROR invalid status \"error\", expected one of [maintenance blocked waiting active]"
    );
}

#[test]
fn status_set_is_immediate_and_survives_a_failed_hook() {
    let m = Model::deploy();
    let (ok, _) = m.hook("status-set --application=False blocked -- 'needs a token'\nexit 1\n");
    assert!(!ok);
    let unit = &m.status()["applications"]["probe"]["units"]["probe/0"];
    assert_eq!(unit["workload-status"]["current"], "error");
    assert_eq!(unit["workload-status"]["message"], "hook failed: \"update-status\"");
    let model: Value =
        serde_json::from_slice(&std::fs::read(m.dir.path().join("model/model.json")).expect("model")).expect("json");
    assert_eq!(model["app"]["units"][0]["workload"]["message"], "needs a token");
}

#[test]
fn a_failed_hook_blocks_later_hooks_until_resolved() {
    let m = Model::deploy();
    assert!(!m.hook("exit 3\n").0);
    let out = m.juju(&["config", "probe", "count=5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("resolved"));
    std::fs::write(m.charm().join("hook.sh"), "exit 0\n").expect("write");
    assert!(m.juju(&["resolved", "probe/0"]).status.success());
    assert_eq!(
        m.status()["applications"]["probe"]["units"]["probe/0"]["juju-status"]["current"],
        "idle"
    );
}

#[test]
fn juju_log_needs_a_message_and_falls_back_to_info_for_unknown_levels() {
    let m = Model::deploy();
    let (_, out) = m.hook(&(probe("juju-log") + &probe("juju-log -l LOUD -- hello world")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rc=2 out= err=ERROR no message specified");
    assert_eq!(lines[1], "rc=0 out= err=");
    let log = String::from_utf8_lossy(&m.juju(&["debug-log"]).stdout).into_owned();
    assert!(log.contains("INFO unit.probe/0.juju-log hello world"), "{log}");
}

#[test]
fn tools_without_a_context_id_fail_with_juju_s_message() {
    let m = Model::deploy();
    let out = Command::new(m.dir.path().join("model/tools/config-get"))
        .arg("--format=json")
        .env("JUJU_AGENT_SOCKET_ADDRESS", m.dir.path().join("model/agent.socket"))
        .env_remove("JUJU_CONTEXT_ID")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "ERROR JUJU_CONTEXT_ID not set\n");
}

#[test]
fn tools_called_after_the_hook_ended_are_refused() {
    let m = Model::deploy();
    m.hook("echo \"$JUJU_CONTEXT_ID\" > out\n");
    let stale = std::fs::read_to_string(m.charm().join("out")).expect("id");
    let out = Command::new(m.dir.path().join("model/tools/status-get"))
        .env("JUJU_AGENT_SOCKET_ADDRESS", m.dir.path().join("model/agent.socket"))
        .env("JUJU_CONTEXT_ID", stale.trim())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad request"));
}

#[test]
fn the_hook_environment_is_built_from_scratch() {
    let m = Model::deploy();
    let (_, out) = m.hook(
        "{ echo \"home=${HOME-unset} cwd=$(pwd) path=$JUJU_DISPATCH_PATH hook=$JUJU_HOOK_NAME unit=$JUJU_UNIT_NAME\"; \
         read -r line && echo stdin=data || echo stdin=empty; } > out\n",
    );
    let charm = m.charm().canonicalize().expect("charm dir");
    assert_eq!(
        out.lines().next().expect("a line"),
        format!(
            "home=unset cwd={} path=hooks/update-status hook=update-status unit=probe/0",
            charm.display()
        )
    );
    assert_eq!(out.lines().nth(1), Some("stdin=empty"));
}

#[test]
fn action_tools_outside_an_action_are_refused() {
    let m = Model::deploy();
    let (_, out) = m.hook(&probe("action-get"));
    assert_eq!(out.trim(), "rc=1 out= err=ERROR not running an action");
}

fn run_action(m: &Model, script: &str, params: &[&str]) -> (Output, Value) {
    std::fs::write(m.charm().join("hook.sh"), script).expect("write");
    let mut args = vec!["run", "probe/0", "go", "--format=json"];
    args.extend_from_slice(params);
    let out = m.juju(&args);
    let task = serde_json::from_slice::<Value>(&out.stdout)
        .map(|v| v["probe/0"].clone())
        .unwrap_or(Value::Null);
    (out, task)
}

#[test]
fn action_set_nests_dotted_keys_and_rejects_bad_and_reserved_keys() {
    let m = Model::deploy();
    let script = format!(
        "action-set a.b=1 top=x=y\n{}{}{}cp out /dev/stderr\n",
        probe("action-set Foo=1"),
        probe("action-set stdout=1"),
        probe("action-set novalue")
    );
    let (out, task) = run_action(&m, &script, &[]);
    assert!(out.status.success());
    assert_eq!(task["results"]["a"]["b"], "1");
    assert_eq!(task["results"]["top"], "x=y", "values split at the first =");
    let stderr = task["results"]["stderr"].as_str().expect("stderr");
    assert!(stderr.contains("rc=2 out= err=ERROR key \"Foo\" must start and end with lowercase alphanumeric"));
    assert!(stderr.contains("rc=2 out= err=ERROR cannot set reserved action key \"stdout\""));
    assert!(stderr.contains("rc=2 out= err=ERROR argument \"novalue\" must be of the form key...=value"));
}

#[test]
fn action_get_fills_defaults_and_params_are_checked() {
    let m = Model::deploy();
    let (_, task) = run_action(&m, "action-set n=$(action-get n)\n", &[]);
    assert_eq!(task["results"]["n"], "3");
    let (out, _) = run_action(&m, "exit 0\n", &["bogus=1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("additional property \"bogus\" is not allowed"));
    let (out, _) = run_action(&m, "exit 0\n", &["n=many"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected integer"));
}

#[test]
fn action_fail_then_exit_0_fails_with_the_message() {
    let m = Model::deploy();
    let (out, task) = run_action(&m, "action-fail -- 'no token'\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(task["status"], "failed");
    assert_eq!(task["message"], "no token");
    assert_eq!(task["results"]["return-code"], 0);
}

#[test]
fn a_non_zero_action_exit_overrides_the_action_fail_message() {
    let m = Model::deploy();
    let (_, task) = run_action(&m, "action-fail -- 'no token'\nexit 4\n", &[]);
    assert_eq!(task["status"], "failed");
    assert_eq!(task["message"], "exit status 4");
}

#[test]
fn state_set_commits_only_when_the_hook_succeeds() {
    let m = Model::deploy();
    assert!(m.hook("state-set kept=1\n").0);
    assert!(!m.hook("state-set lost=1\nexit 1\n").0);
    std::fs::write(m.charm().join("hook.sh"), "exit 0\n").expect("write");
    assert!(m.juju(&["resolved", "probe/0", "--no-retry"]).status.success());
    let (_, out) = m.hook(&(probe("state-get --format=json kept") + &probe("state-get --format=json lost")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["rc=0 out=\"1\" err=", "rc=0 out=\"\" err="]);
}

#[test]
fn juju_exec_is_refused_inside_a_hook() {
    let m = Model::deploy();
    let (_, out) = m.hook(&probe("juju-exec probe/0 true"));
    assert!(
        out.starts_with(
            "rc=1 out= err=ERROR juju-exec cannot be called from within a hook, have context \"probe/0-update-status-"
        ),
        "{out}"
    );
}

#[test]
fn juju_exec_runs_dispatch_with_the_path_the_command_sets_and_passes_the_exit_code() {
    let m = Model::deploy();
    std::fs::write(
        m.charm().join("hook.sh"),
        "echo \"$JUJU_DISPATCH_PATH|$JUJU_HOOK_NAME|$(config-get name)\" > out\nexit 7\n",
    )
    .expect("write");
    let out = Command::new(m.dir.path().join("model/tools/juju-exec"))
        .args(["probe/0", "JUJU_DISPATCH_PATH=hooks/custom ./dispatch"])
        .env("FAKE_JUJU_MODEL", m.dir.path().join("model"))
        .env_remove("JUJU_CONTEXT_ID")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(7));
    let seen = std::fs::read_to_string(m.charm().join("out")).expect("out");
    assert_eq!(seen.trim(), "hooks/custom||x");
}

#[test]
fn start_without_any_status_leaves_the_unit_unknown() {
    let m = Model::deploy();
    let unit = &m.status()["applications"]["probe"]["units"]["probe/0"];
    assert_eq!(unit["workload-status"]["current"], "unknown");
    assert_eq!(unit["leader"], true);
}

#[test]
fn systemctl_sees_unit_files_only_after_daemon_reload() {
    let m = Model::deploy();
    let root = m.dir.path().join("root");
    let (_, out) = m.hook(&format!(
        "mkdir -p {r}/etc/systemd/system && echo '[Timer]' > {r}/etc/systemd/system/x.timer\n{}{}{}{}",
        probe("systemctl enable x.timer"),
        probe("systemctl daemon-reload"),
        probe("systemctl start x.timer"),
        probe("systemctl is-active --quiet x.timer"),
        r = root.display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("rc=1 out= err=Failed to enable unit: Unit file x.timer does not exist."),
        "{out}"
    );
    assert_eq!(&lines[1..], ["rc=0 out= err=", "rc=0 out= err=", "rc=0 out= err="]);
}

#[test]
fn application_version_set_shows_in_status_and_survives_a_failed_hook() {
    let m = Model::deploy();
    let (_, out) = m.hook(&probe("application-version-set"));
    assert_eq!(out.trim(), "rc=2 out= err=ERROR no version specified");
    let (ok, _) = m.hook("application-version-set -- 2.330.0\nexit 1\n");
    assert!(!ok, "immediate: kept though the hook failed");
    assert_eq!(m.status()["applications"]["probe"]["version"], "2.330.0");
    let table = String::from_utf8_lossy(&m.juju(&["status"]).stdout).into_owned();
    let app_line = table.lines().find(|l| l.starts_with("probe ")).expect("the app's line");
    assert_eq!(app_line.split_whitespace().nth(1), Some("2.330.0"), "{table}");
    assert!(table.contains("Version"), "{table}");
}
