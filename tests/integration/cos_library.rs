//! The `cos-agent` data as the charm's real hooks set it under fake-juju, read by the real
//! `cos_agent` library (vendored in `testing/cos-agent`) with each agent's pinned ops, cosl
//! and pydantic: grafana-agent's and the OpenTelemetry collector's. `scripts/test` builds
//! their virtual environments (`scripts/python-envs`); without them these tests skip, unless
//! `REQUIRE_PYTHON_ENVS=1` (which `scripts/test` sets) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::Juju;
use serde_json::Value;

const UNIT: &str = "github-runner/0";
/// The agents whose pins `testing/cos-agent/requirements-<agent>.txt` holds.
const AGENTS: [&str; 2] = ["grafana-agent", "otelcol"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Each agent's Python, or `None` (and a note) when its environment was not built.
fn agent_pythons() -> Option<Vec<(&'static str, PathBuf)>> {
    let pythons: Vec<(&str, PathBuf)> = AGENTS
        .iter()
        .map(|agent| (*agent, repo().join(format!(".cache/venv/cos-agent-{agent}/bin/python"))))
        .collect();
    if let Some((agent, missing)) = pythons.iter().find(|(_, python)| !python.exists()) {
        assert!(
            std::env::var("REQUIRE_PYTHON_ENVS").as_deref() != Ok("1"),
            "{} is missing ({agent}'s environment): run scripts/python-envs",
            missing.display()
        );
        eprintln!("skipped: no {} (scripts/python-envs builds it)", missing.display());
        return None;
    }
    Some(pythons)
}

/// The unit's `config` on its cos-agent relation (`None`: not set).
fn published(juju: &Juju) -> Option<String> {
    let shown: Value = serde_json::from_str(&juju.ok(&["show-unit", UNIT, "--format=json"])).expect("JSON");
    let relations = shown[UNIT]["relation-info"].as_array().cloned().unwrap_or_default();
    let cos = relations.iter().find(|r| r["endpoint"] == "cos-agent")?;
    cos["local-unit"]["data"]["config"].as_str().map(String::from)
}

fn scrape_targets(config: &str) -> Vec<String> {
    let data: Value = serde_json::from_str(config).expect("JSON");
    data["metrics_scrape_jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .flat_map(|job| {
            job["static_configs"][0]["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

/// A unit blocked for want of `path` and a token, related to an agent.
fn blocked_and_related(config: &[&str]) -> Juju {
    let juju = Juju::new();
    juju.deploy(config);
    assert_eq!(juju.unit_status().0, "blocked", "no path, no token");
    juju.ok(&["relate", "github-runner:cos-agent", "grafana-agent"]);
    juju
}

#[test]
fn a_blocked_unit_s_data_is_read_by_the_real_library_as_the_python_provider_s() {
    let Some(pythons) = agent_pythons() else { return };
    let juju = blocked_and_related(&["metrics-port=9470"]);
    let config = published(&juju).expect("the data is set while the unit is blocked");
    let model: Value =
        serde_json::from_str(&std::fs::read_to_string(juju.model().join("model.json")).expect("model.json"))
            .expect("JSON");
    let databag = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(databag.path(), &config).expect("written");
    for (agent, python) in pythons {
        let out = Command::new(&python)
            .arg(repo().join("testing/cos-agent/check.py"))
            .arg("--databag")
            .arg(databag.path())
            .args(["--model", model["name"].as_str().expect("a name")])
            .args(["--uuid", model["uuid"].as_str().expect("a uuid")])
            .args(["--app", "github-runner", "--port", "9470", "--self-test", "--charm-dir"])
            .arg(repo())
            .output()
            .expect("python runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{agent}:\n{text}");
        assert!(out.status.success(), "{agent}'s library refuses the data:\n{text}");
    }
}

#[test]
fn config_changed_and_upgrade_charm_publish_again_whatever_the_rest_of_the_config_says() {
    let juju = blocked_and_related(&["metrics-port=9470"]);
    assert_eq!(scrape_targets(&published(&juju).expect("set")), ["localhost:9470"]);
    juju.ok(&["config", "github-runner", "metrics-port=9471", "virtual-machines=-1"]);
    assert_eq!(juju.unit_status().0, "blocked");
    assert_eq!(scrape_targets(&published(&juju).expect("set")), ["localhost:9471"]);
    juju.ok(&["config", "github-runner", "metrics-port=0"]);
    assert!(
        scrape_targets(&published(&juju).expect("set")).is_empty(),
        "no exporter, no job"
    );
    // A bad port alone: the rules and the dashboard stay, without a scrape job.
    juju.ok(&["config", "github-runner", "metrics-port=70000"]);
    let data: Value = serde_json::from_str(&published(&juju).expect("set")).expect("JSON");
    assert_eq!(data["metrics_scrape_jobs"], serde_json::json!([]));
    assert!(data["metrics_alert_rules"]["groups"]
        .as_array()
        .is_some_and(|g| g.len() >= 2));

    // upgrade-charm sets it itself (fake-juju's refresh runs it, then config-changed).
    juju.ok(&["refresh", "github-runner"]);
    let log = juju.debug_log();
    let before_upgrade_ran = log.split("ran \"upgrade-charm\" hook").next().expect("a log");
    let upgrade = before_upgrade_ran
        .rsplit(" hook (via hook dispatching script")
        .next()
        .expect("a log");
    assert!(
        upgrade.contains("scrape job, alert rules and dashboard set"),
        "upgrade-charm's log:\n{upgrade}"
    );
}
