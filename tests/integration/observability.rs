//! What operators look at, end to end on the local stack (real LXD, fake-github, fake-juju):
//! the cos-agent relation's data, the exporter started from its own unit file and scraped
//! after a reconcile, the event log, custom labels on GitHub, the token as a rotating Juju
//! secret, and the runner version in `juju status`.

use crate::common;
use std::time::Duration;

use crate::common::stack::{blocking, stack, Stack};
use base64::Engine as _;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../../src/grafana_dashboards/github-runner.json");

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("bound").port()
}

/// The `config` the unit set on its cos-agent relation.
fn cos_agent_data(s: &Stack) -> Value {
    let shown: Value = serde_json::from_str(&s.juju(&["show-unit", "github-runner/0", "--format=json"])).expect("JSON");
    let relations = shown["github-runner/0"]["relation-info"]
        .as_array()
        .expect("relations")
        .clone();
    let cos = relations
        .iter()
        .find(|r| r["endpoint"] == "cos-agent")
        .unwrap_or_else(|| panic!("a cos-agent relation in {shown}"));
    let config = cos["local-unit"]["data"]["config"].as_str().expect("the config key");
    serde_json::from_str(config).expect("config is JSON")
}

async fn scrape(port: u16) -> prometheus_parse::Scrape {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        if let Ok(response) = reqwest::get(&url).await {
            break response.text().await.expect("a body");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter never answered on {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cos_agent_gets_the_dashboard_and_the_exporter_serves_the_reconcile_just_done() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let port = free_port();
    let options = [format!("metrics-port={port}"), "labels=large,ci-pool".to_string()];
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let s = Stack::deploy_with(lxd, 3, &options, |_| {}).await;
    s.settle(3).await;

    s.juju(&["relate", "github-runner:cos-agent", "grafana-agent"]);
    let data = cos_agent_data(&s);
    let dashboard = data["dashboards"][0].as_str().expect("one dashboard");
    let xz = base64::engine::general_purpose::STANDARD
        .decode(dashboard)
        .expect("base64");
    let mut json_text = Vec::new();
    lzma_rs::xz_decompress(&mut xz.as_slice(), &mut json_text).expect("xz");
    assert_eq!(String::from_utf8(json_text).expect("utf-8"), DASHBOARD);
    assert_eq!(
        data["metrics_scrape_jobs"][0]["static_configs"][0]["targets"][0],
        format!("localhost:{port}")
    );
    let rules = &data["metrics_alert_rules"]["groups"][0]["rules"];
    assert!(rules.as_array().is_some_and(|r| r.len() >= 4), "{rules}");

    s.juju(&["tick"]);
    let exporter = common::Service::start(&s.juju, "ghro.metrics-exporter.service");
    let scrape = scrape(port).await;
    // It serves as the unprivileged account the charm made, whose group alone reads the record.
    let root = s.juju.root();
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("the root's passwd");
    let ids: Vec<u32> = passwd
        .lines()
        .find_map(|l| l.strip_prefix("ghro-metrics:x:"))
        .expect("the exporter's account")
        .split(':')
        .take(2)
        .map(|id| id.parse().expect("an id"))
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.child.id())).expect("its status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert!(
        ids[0] != 0 && uid_line.split_whitespace().skip(1).all(|u| u == ids[0].to_string()),
        "{uid_line}"
    );
    let unit_dir = root.join("var/lib/github-runner/github-runner-0");
    let meta = |p: &std::path::Path| std::fs::metadata(p).expect("there");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta(&unit_dir).mode() & 0o777, meta(&unit_dir).gid()), (0o710, ids[1]));
    let record = unit_dir.join("metrics.json");
    assert_eq!((meta(&record).mode() & 0o777, meta(&record).gid()), (0o640, ids[1]));
    assert_eq!(meta(&unit_dir.join("state.json")).mode() & 0o777, 0o600);
    assert_eq!(
        value(&scrape, "github_runner_runners", &[("state", "healthy")]),
        Some(3.0)
    );
    assert_eq!(value(&scrape, "github_runner_runners", &[("state", "idle")]), Some(3.0));
    assert_eq!(value(&scrape, "github_runner_runners_target", &[]), Some(3.0));
    assert!(value(&scrape, "github_runner_creations_total", &[("result", "success")]) >= Some(3.0));
    assert!(value(&scrape, "github_runner_reconciles_total", &[("result", "success")]) >= Some(1.0));
    assert_eq!(
        value(&scrape, "github_runner_binary_info", &[("version", "2.330.0")]),
        Some(1.0)
    );
    assert!(value(
        &scrape,
        "github_runner_github_requests_total",
        &[("status", "304"), ("free", "true")]
    )
    .is_some());

    for runner in s.registered() {
        let labels: Vec<&str> = runner["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .filter_map(|l| l["name"].as_str())
            .collect();
        assert!(labels.contains(&"large") && labels.contains(&"ci-pool"), "{labels:?}");
    }
    let status: Value = serde_json::from_str(&s.juju(&["status", "--format=json"])).expect("status");
    assert_eq!(status["applications"]["github-runner"]["version"], "2.330.0");
    let log = std::fs::read_to_string(s.juju.root().join("var/log/github-runner/metrics.log")).expect("event log");
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        events.iter().filter(|e| e["event"] == "runner_created").count() >= 3,
        "{log}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "reconciliation" && e["healthy"] == 3),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_label_blocks_naming_it_and_a_new_label_replaces_idle_runners() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    let before = s.instances().await;
    s.juju(&["config", "github-runner", "labels=good,bad label"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked");
    assert!(
        message.contains("labels") && message.contains("\"bad label\""),
        "{message}"
    );
    assert_eq!(s.instances().await, before, "a refused config changes nothing");

    s.juju(&["config", "github-runner", "labels=good"]);
    s.settle(2).await;
    let after = s.instances().await;
    assert!(
        after.is_disjoint(&before),
        "idle runners were replaced: {before:?} → {after:?}"
    );
    assert!(s
        .registered()
        .iter()
        .all(|r| r["labels"].to_string().contains("\"good\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_token_replaces_idle_runners_and_is_the_one_used() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    s.emulator
        .world()
        .config
        .tokens
        .extend(["ghp_fromsecret1".to_string(), "ghp_fromsecret2".to_string()]);
    let uri = s
        .juju(&["add-secret", "github-token", "token=ghp_fromsecret1"])
        .trim()
        .to_string();
    s.juju(&["grant-secret", "github-token", "github-runner"]);
    s.juju(&["config", "github-runner", "token=", &format!("token-secret-id={uri}")]);
    s.settle(2).await;
    let made_with_first = s.instances().await;

    s.juju(&["update-secret", "github-token", "token=ghp_fromsecret2"]);
    // Only the new token works from here on: a charm still on the old one could not reconcile.
    s.emulator.world().config.tokens.retain(|t| t == "ghp_fromsecret2");
    s.settle(2).await;
    let after = s.instances().await;
    assert!(after.is_disjoint(&made_with_first), "{made_with_first:?} → {after:?}");
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!((status.as_str(), message.as_str()), ("active", "2/2 runners"));
    let metrics = s.juju.root().join("var/lib/github-runner/github-runner-0/metrics.json");
    let metrics: Value = serde_json::from_slice(&std::fs::read(metrics).expect("metrics")).expect("JSON");
    let retired = metrics["removals"]["success"]["flush"].as_u64().unwrap_or(0);
    assert!(
        retired >= 4,
        "both tokens' idle runners counted as they went: {metrics}"
    );
    let log = blocking(|| s.juju.debug_log());
    assert!(log.contains("secret-changed"), "{log}");
    assert!(!log.contains("ghp_fromsecret"), "the token never reaches the log");
}
