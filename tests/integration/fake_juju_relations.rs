//! Relations, secrets and the application version under fake-juju, with the real charm
//! deployed: the hooks `relate` and `remove-relation` run on its unit, the relation and
//! secret tools as a unit uses them (through `juju-exec`, as the reconcile timer runs
//! commands), and the charm's own `ProcessTools` speaking to them.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use crate::common::Juju;
use github_runner::juju::{HookTools, ProcessTools};
use serde_json::Value;

const UNIT: &str = "github-runner/0";

/// Runs `script` in the unit's context with `juju-exec`, with `env` added to the caller's.
fn exec(juju: &Juju, script: &str, env: &[(&str, &str)]) -> Output {
    Command::new(juju.model().join("tools/juju-exec"))
        .args([UNIT, script])
        .envs(env.iter().copied())
        .env("FAKE_JUJU_MODEL", juju.model())
        .env_remove("JUJU_CONTEXT_ID")
        .output()
        .expect("juju-exec runs")
}

/// Runs `script` with `juju-exec`, insists it succeeds, and returns its stdout.
fn exec_ok(juju: &Juju, script: &str) -> String {
    let out = exec(juju, script, &[]);
    assert!(
        out.status.success(),
        "juju-exec {script:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The hooks the unit ran, in order, as the debug log records them.
fn hooks_ran(juju: &Juju) -> Vec<String> {
    juju.debug_log()
        .lines()
        .filter_map(|line| line.split_once(" ran \"")?.1.split_once('"'))
        .map(|(hook, _)| hook.to_string())
        .collect()
}

/// The unit's committed bag in its `cos-agent` relation, as `show-unit` prints it.
fn local_bag(juju: &Juju) -> Value {
    cos_agent_info(juju)["local-unit"]["data"].clone()
}

/// `show-unit`'s `relation-info` of the `cos-agent` relation (the peer relation is there too).
fn cos_agent_info(juju: &Juju) -> Value {
    let shown: Value = serde_json::from_str(&juju.ok(&["show-unit", UNIT, "--format=json"])).expect("JSON");
    shown[UNIT]["relation-info"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["endpoint"] == "cos-agent")
        .cloned()
        .unwrap_or(Value::Null)
}

/// Deploys the charm and relates its `cos-agent` endpoint; returns the relation id.
fn deployed_and_related() -> (Juju, String) {
    let juju = Juju::new();
    juju.deploy(&[]);
    juju.ok(&["relate", "github-runner:cos-agent", "grafana-agent"]);
    let ids: Vec<String> =
        serde_json::from_str(&exec_ok(&juju, "relation-ids --format=json cos-agent")).expect("a JSON list");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids[0].clone();
    (juju, id)
}

#[test]
fn relate_runs_created_joined_and_changed_in_order() {
    let (juju, id) = deployed_and_related();
    let relation_hooks: Vec<String> = hooks_ran(&juju)
        .into_iter()
        .filter(|h| h.contains("-relation-"))
        .collect();
    assert_eq!(
        relation_hooks,
        [
            "cos-agent-relation-created",
            "cos-agent-relation-joined",
            "cos-agent-relation-changed"
        ]
    );
    assert!(id.starts_with("cos-agent:"), "{id}");
}

#[test]
fn relate_refuses_an_endpoint_metadata_does_not_declare() {
    let juju = Juju::new();
    juju.deploy(&[]);
    let out = juju.run(&["relate", "github-runner:database", "postgresql"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR application \"github-runner\" has no \"database\" relation\n"
    );
}

#[test]
fn relation_set_takes_a_yaml_map_on_stdin_and_key_value_arguments() {
    let (juju, id) = deployed_and_related();
    exec_ok(
        &juju,
        &format!("printf 'config: |\\n  metrics: 1\\nnote: from-the-file\\n' | relation-set -r {id} --file - note=overridden"),
    );
    exec_ok(&juju, &format!("relation-set -r {id} extra=1"));
    let bag = local_bag(&juju);
    assert_eq!(bag["config"], "metrics: 1\n");
    assert_eq!(bag["note"], "overridden", "arguments override the file");
    assert_eq!(bag["extra"], "1");
    exec_ok(&juju, &format!("relation-set -r {id} extra="));
    assert_eq!(local_bag(&juju)["extra"], Value::Null, "an empty value deletes the key");
}

#[test]
fn relation_tools_refuse_a_relation_that_does_not_exist() {
    let (juju, _) = deployed_and_related();
    let out = exec(&juju, "relation-set -r cos-agent:99 config=x", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR invalid value \"cos-agent:99\" for flag -r: relation not found\n"
    );
}

#[test]
fn remove_relation_runs_departed_then_broken_and_forgets_the_relation() {
    let (juju, _) = deployed_and_related();
    juju.ok(&["remove-relation", "github-runner:cos-agent", "grafana-agent"]);
    let hooks = hooks_ran(&juju);
    assert_eq!(
        hooks[hooks.len() - 2..],
        ["cos-agent-relation-departed", "cos-agent-relation-broken"]
    );
    assert_eq!(exec_ok(&juju, "relation-ids --format=json cos-agent").trim(), "[]");
    assert_eq!(cos_agent_info(&juju), Value::Null, "the cos-agent relation is gone");
}

#[test]
fn a_secret_needs_a_grant_and_update_secret_tells_the_unit_that_read_it() {
    let juju = Juju::new();
    juju.deploy(&[]);
    let uri = juju.ok(&["add-secret", "github", "token=ghp_first"]).trim().to_string();
    let denied = exec(&juju, &format!("secret-get {uri} token"), &[]);
    assert_eq!(denied.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&denied.stderr), "ERROR permission denied\n");
    juju.ok(&["grant-secret", "github", "github-runner"]);
    assert_eq!(exec_ok(&juju, &format!("secret-get {uri} token")), "ghp_first\n");
    juju.ok(&["update-secret", &uri, "token=ghp_second"]);
    assert_eq!(hooks_ran(&juju).last().map(String::as_str), Some("secret-changed"));
    assert_eq!(
        exec_ok(&juju, &format!("secret-get {uri} token")),
        "ghp_first\n",
        "the unit tracks what it read"
    );
    assert_eq!(
        exec_ok(&juju, &format!("secret-get {uri} token --refresh")),
        "ghp_second\n"
    );
    let unknown = exec(&juju, "secret-get secret:0123456789abcdefghij", &[]);
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "ERROR secret \"secret:0123456789abcdefghij\" not found\n"
    );
}

#[test]
fn application_version_set_shows_in_status() {
    let juju = Juju::new();
    juju.deploy(&[]);
    exec_ok(&juju, "application-version-set -- 2.330.0");
    let status: Value = serde_json::from_str(&juju.ok(&["status", "--format=json"])).expect("JSON");
    assert_eq!(status["applications"]["github-runner"]["version"], "2.330.0");
    let table = juju.ok(&["status"]);
    let app = table
        .lines()
        .find(|l| l.starts_with("github-runner "))
        .expect("the app's line");
    assert_eq!(app.split_whitespace().nth(1), Some("2.330.0"), "{table}");
}

/// Set for `process_tools_inside_a_context`: the secret's URI.
const INSIDE: &str = "FAKE_JUJU_RELATIONS_SECRET";
/// Bigger than one argument may be (`MAX_ARG_STRLEN`, 128 KiB): it must go on stdin.
const BIG: usize = 200 * 1024;

#[test]
fn the_charm_s_process_tools_round_trip_through_fake_juju() {
    let (juju, _) = deployed_and_related();
    let uri = juju
        .ok(&["add-secret", "github", "token=ghp_SECRETvalue"])
        .trim()
        .to_string();
    juju.ok(&["grant-secret", &uri, "github-runner"]);
    let me = std::env::current_exe().expect("this test binary");
    let script = format!(
        "'{}' --exact --ignored --nocapture fake_juju_relations::process_tools_inside_a_context",
        me.display()
    );
    let out = exec(&juju, &script, &[(INSIDE, &uri)]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.contains("1 passed"), "{said}");
    let bag = local_bag(&juju);
    assert_eq!(bag["dashboard"].as_str().map(str::len), Some(BIG));
    assert_eq!(bag["config"], "a: b\n");
    let status: Value = serde_json::from_str(&juju.ok(&["status", "--format=json"])).expect("JSON");
    assert_eq!(status["applications"]["github-runner"]["version"], "2.330.0");
}

/// Runs only inside the `juju-exec` context the test above opens.
#[test]
#[ignore = "run by the_charm_s_process_tools_round_trip_through_fake_juju, in a hook context"]
fn process_tools_inside_a_context() {
    let uri = std::env::var(INSIDE).expect("started by the round-trip test");
    let tools = ProcessTools;
    let ids = tools.relation_ids("cos-agent").expect("relation-ids");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let data = BTreeMap::from([
        ("dashboard".to_string(), "x".repeat(BIG)),
        ("config".to_string(), "a: b\n".to_string()),
    ]);
    tools.relation_set(&ids[0], &data).expect("relation-set");
    let token = tools.secret_get(&uri, "token", false).expect("secret-get");
    assert!(token.expose() == "ghp_SECRETvalue", "the value read is the secret's");
    let missing = tools.secret_get(&uri, "nope", true).expect_err("no such key");
    assert!(
        missing.to_string().contains("secret key value \"nope\" not found"),
        "{missing}"
    );
    tools
        .application_version_set("2.330.0")
        .expect("application-version-set");
}

#[test]
fn a_unit_added_is_in_the_peer_relation_of_the_others_and_in_goal_state() {
    let juju = Juju::new();
    juju.deploy(&[]);
    juju.ok(&["add-unit", "github-runner"]);
    let ids: Vec<String> =
        serde_json::from_str(&exec_ok(&juju, "relation-ids --format=json runner-peers")).expect("a JSON list");
    assert_eq!(
        ids.len(),
        1,
        "Juju makes the peer relation with the application: {ids:?}"
    );
    let peers: Vec<String> =
        serde_json::from_str(&exec_ok(&juju, &format!("relation-list --format=json -r {}", ids[0])))
            .expect("a JSON list");
    assert_eq!(peers, ["github-runner/1"], "the other unit, not this one");
    let goal: Value = serde_json::from_str(&exec_ok(&juju, "goal-state --format=json")).expect("JSON");
    let units: Vec<&String> = goal["units"].as_object().expect("units").keys().collect();
    assert_eq!(units, ["github-runner/0", "github-runner/1"]);
}

#[test]
fn open_port_shows_in_opened_ports_and_status_and_close_port_takes_it_back() {
    let juju = Juju::new();
    juju.deploy(&[]);
    exec_ok(&juju, "open-port 8080/tcp");
    assert_eq!(exec_ok(&juju, "opened-ports"), "8080/tcp\n");
    let status: Value = serde_json::from_str(&juju.ok(&["status", "--format=json"])).expect("JSON");
    assert_eq!(
        status["applications"]["github-runner"]["units"][UNIT]["open-ports"],
        serde_json::json!(["8080/tcp"])
    );
    exec_ok(&juju, "close-port 8080/tcp");
    assert_eq!(exec_ok(&juju, "opened-ports"), "");
}
