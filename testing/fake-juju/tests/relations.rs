//! Relations under the fake against the Juju contract (research/juju-contract.md §1.3, §1.6,
//! §2.2 "Relations"): the hooks `relate` and `remove-relation` run, their environment, and the
//! relation tools as the probe charm's hooks see them.

mod common;

use common::{probe, Model};
use serde_json::Value;

/// Every hook appends `name|relation|id|remote app|remote unit|departing unit` to `hooks.log`.
const LOG_HOOKS: &str = "echo \"$JUJU_HOOK_NAME|$JUJU_RELATION|$JUJU_RELATION_ID|$JUJU_REMOTE_APP|${JUJU_REMOTE_UNIT-unset}|${JUJU_DEPARTING_UNIT-unset}\" >> hooks.log\n";

fn hooks_log(m: &Model) -> Vec<String> {
    let text = std::fs::read_to_string(m.charm().join("hooks.log")).unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

#[test]
fn relate_runs_created_joined_changed_with_the_relation_in_the_environment() {
    let m = Model::deploy();
    m.on_every_hook(LOG_HOOKS);
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    assert_eq!(
        hooks_log(&m),
        [
            "cos-agent-relation-created|cos-agent|cos-agent:0|grafana-agent||unset",
            "cos-agent-relation-joined|cos-agent|cos-agent:0|grafana-agent|grafana-agent/0|unset",
            "cos-agent-relation-changed|cos-agent|cos-agent:0|grafana-agent|grafana-agent/0|unset",
        ]
    );
    m.ok(&["integrate", "mysql:server", "probe:db"]);
    assert_eq!(
        hooks_log(&m)[3],
        "db-relation-created|db|db:1|mysql||unset",
        "ids come from one counter; either order works"
    );
}

#[test]
fn relate_refuses_endpoints_metadata_does_not_declare_peers_and_duplicates() {
    let m = Model::deploy();
    let refused = |args: &[&str]| String::from_utf8_lossy(&m.juju(args).stderr).into_owned();
    assert_eq!(
        refused(&["relate", "probe:nope", "grafana-agent"]),
        "ERROR application \"probe\" has no \"nope\" relation\n"
    );
    assert!(refused(&["relate", "probe:ring", "other"]).contains("peer endpoint"));
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    assert_eq!(
        refused(&["relate", "grafana-agent", "probe:cos-agent"]),
        "ERROR cannot add relation \"grafana-agent:cos-agent probe:cos-agent\": relation grafana-agent:cos-agent probe:cos-agent already exists\n"
    );
}

#[test]
fn relation_ids_lists_the_endpoint_s_relations_sorted_and_defaults_in_a_relation_hook() {
    let m = Model::deploy();
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    m.ok(&["relate", "probe:cos-agent", "opentelemetry-collector"]);
    let (_, out) = m.hook(
        &(probe("relation-ids --format=json cos-agent")
            + &probe("relation-ids --format=json db")
            + &probe("relation-ids")
            + &probe("relation-ids cos-agent")),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rc=0 out=[\"cos-agent:0\",\"cos-agent:1\"] err=");
    assert_eq!(lines[1], "rc=0 out=[] err=");
    assert_eq!(lines[2], "rc=2 out= err=ERROR no relation name specified");
    assert_eq!(
        lines[3..5],
        ["rc=0 out=cos-agent:0", "cos-agent:1 err="],
        "smart: one per line"
    );
    m.on_every_hook(&probe("relation-ids --format=json"));
    std::fs::remove_file(m.charm().join("out")).expect("rm");
    m.ok(&["relate", "probe:db", "mysql"]);
    assert!(m.out().starts_with("rc=0 out=[\"db:2\"] err="), "{}", m.out());
}

#[test]
fn relation_set_is_batched_seen_by_relation_get_and_committed_only_on_success() {
    let m = Model::deploy();
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    let (ok, out) = m.hook(&format!(
        "printf 'config: |\\n  big: yaml\\nkept: x\\n' | relation-set -r cos-agent:0 --file - kept=y\n{}",
        probe("relation-get -r 0 --format=json - probe/0")
    ));
    assert!(ok);
    assert!(
        out.contains("\"config\":\"big: yaml") && out.contains("\"kept\":\"y\""),
        "the file and then the arguments: {out}"
    );
    let (ok, _) = m.hook("relation-set -r cos-agent:0 lost=1 kept=\nexit 1\n");
    assert!(!ok);
    m.on_every_hook("exit 0\n");
    m.ok(&["resolved", "probe/0", "--no-retry"]);
    let data = &m.show_unit()["relation-info"][0]["local-unit"]["data"];
    assert_eq!(data["kept"], "y", "the failed hook's delete was discarded");
    assert_eq!(data["config"], "big: yaml\n");
    assert_eq!(data["lost"], Value::Null);
    assert_eq!(
        data["private-address"], "10.0.0.10",
        "Juju's own keys are there from the start"
    );
    m.hook("relation-set -r cos-agent:0 kept=\n");
    assert_eq!(
        m.show_unit()["relation-info"][0]["local-unit"]["data"]["kept"],
        Value::Null
    );
}

#[test]
fn relation_ids_that_do_not_exist_or_are_missing_are_usage_errors() {
    let m = Model::deploy();
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    let (_, out) = m.hook(
        &(probe("relation-set -r cos-agent:7 a=b")
            + &probe("relation-set -r cos-agent:x a=b")
            + &probe("relation-set a=b")
            + &probe("relation-set -r 0 novalue")
            + &probe("relation-list --format=json -r 0")
            + &probe("relation-get -r 0 key")),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "rc=2 out= err=ERROR invalid value \"cos-agent:7\" for flag -r: relation not found"
    );
    assert_eq!(
        lines[1],
        "rc=2 out= err=ERROR invalid value \"cos-agent:x\" for flag -r: invalid relation id"
    );
    assert_eq!(lines[2], "rc=2 out= err=ERROR no relation id specified");
    assert_eq!(lines[3], "rc=2 out= err=ERROR expected \"key=value\", got \"novalue\"");
    assert_eq!(lines[4], "rc=0 out=[\"grafana-agent/0\"] err=");
    assert_eq!(lines[5], "rc=2 out= err=ERROR no unit or application specified");
}

#[test]
fn only_the_leader_writes_the_application_bag() {
    let m = Model::deploy();
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    m.hook("relation-set -r 0 --app shared=1\n");
    assert_eq!(m.show_unit()["relation-info"][0]["application-data"]["shared"], "1");
    let model_file = m.model().join("model.json");
    let mut model: Value = serde_json::from_slice(&std::fs::read(&model_file).expect("model")).expect("json");
    model["app"]["units"][0]["leader"] = Value::Bool(false);
    std::fs::write(&model_file, serde_json::to_vec(&model).expect("json")).expect("write");
    let (_, out) = m.hook(&(probe("relation-set -r 0 --app shared=2") + &probe("relation-get -r 0 --app - probe")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rc=1 out= err=ERROR cannot write relation settings");
    assert_eq!(lines[1], "rc=1 out= err=ERROR permission denied");
}

#[test]
fn relation_get_defaults_to_the_remote_unit_in_a_relation_hook() {
    let m = Model::deploy();
    m.on_every_hook(&probe("relation-get --format=json private-address"));
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    let lines: Vec<String> = m.out().lines().map(str::to_string).collect();
    assert_eq!(
        lines[0], "rc=0 out=null err=",
        "-created has no remote unit: the remote app's bag"
    );
    assert_eq!(lines[1], "rc=0 out=\"10.0.0.20\" err=", "-joined reads grafana-agent/0");
    let (_, out) = m.hook(&probe("relation-get -r 0 - nobody/3"));
    assert_eq!(
        out.trim(),
        "rc=1 out= err=ERROR cannot read settings for unit \"nobody/3\" in relation \"cos-agent:0\": unit \"nobody/3\": settings not found"
    );
}

#[test]
fn remove_relation_runs_departed_then_broken_and_drops_the_relation() {
    let m = Model::deploy();
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    m.on_every_hook(&(LOG_HOOKS.to_string() + &probe("relation-ids --format=json cos-agent")));
    m.ok(&["remove-relation", "probe:cos-agent", "grafana-agent"]);
    assert_eq!(
        hooks_log(&m),
        [
            "cos-agent-relation-departed|cos-agent|cos-agent:0|grafana-agent|grafana-agent/0|grafana-agent/0",
            "cos-agent-relation-broken|cos-agent|cos-agent:0|grafana-agent||unset",
        ]
    );
    assert!(
        m.out().lines().all(|l| l == "rc=0 out=[\"cos-agent:0\"] err="),
        "listed until -broken ends: {}",
        m.out()
    );
    let (_, out) = m.hook(&probe("relation-ids --format=json cos-agent"));
    assert_eq!(out.trim(), "rc=0 out=[] err=");
    assert_eq!(m.show_unit().get("relation-info"), None);
    let out = m.juju(&["remove-relation", "0"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "ERROR relation \"0\" not found\n");
}

#[test]
fn a_failed_relation_hook_is_retried_by_resolved_with_its_relation() {
    let m = Model::deploy();
    m.on_every_hook(&format!("{LOG_HOOKS}[ -f fail ] && exit 1\nexit 0\n"));
    std::fs::write(m.charm().join("fail"), "").expect("write");
    let out = m.juju(&["relate", "probe:cos-agent", "grafana-agent"]);
    assert!(!out.status.success());
    let unit = &m.status()["applications"]["probe"]["units"]["probe/0"];
    assert_eq!(
        unit["workload-status"]["message"],
        "hook failed: \"cos-agent-relation-created\""
    );
    std::fs::remove_file(m.charm().join("fail")).expect("rm");
    m.ok(&["resolved", "probe/0"]);
    assert_eq!(hooks_log(&m)[1], hooks_log(&m)[0], "the same hook, the same relation");
}

#[test]
fn show_unit_prints_juju_s_keys_in_yaml_by_default() {
    let m = Model::deploy();
    m.ok(&["relate", "probe:cos-agent", "grafana-agent"]);
    let yaml = m.ok(&["show-unit", "probe/0"]);
    let shown: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("YAML");
    let info = &shown["probe/0"]["relation-info"][0];
    assert_eq!(info["relation-id"], serde_yaml::Value::from(0));
    assert_eq!(info["endpoint"], serde_yaml::Value::from("cos-agent"));
    assert_eq!(info["related-endpoint"], serde_yaml::Value::from("cos-agent"));
    assert_eq!(
        info["related-units"]["grafana-agent/0"]["in-scope"],
        serde_yaml::Value::from(true)
    );
    assert_eq!(shown["probe/0"]["leader"], serde_yaml::Value::from(true));
    let unknown = m.juju(&["show-unit", "probe/9"]);
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "ERROR unit \"probe/9\" not found\n"
    );
}
