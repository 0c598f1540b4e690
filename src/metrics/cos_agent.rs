//! The `cos-agent` relation's unit data: the JSON the grafana-agent (or OpenTelemetry
//! collector) charm reads from the key `config`, as `CosAgentProviderUnitData` in
//! `charms/grafana_agent/v0/cos_agent.py` writes it: the exporter as a scrape job, the alert
//! rules with the Juju topology in their labels and group names (as `cosl.rules.AlertRules`
//! does; grafana-agent keeps labels already there), and the dashboard xz-compressed then
//! base64-encoded (as `cosl.GrafanaDashboard._serialize`). Pure.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The unit databag key.
pub const KEY: &str = "config";
/// The relation's endpoint in `metadata.yaml`.
pub const ENDPOINT: &str = "cos-agent";

/// The shipped Grafana dashboard.
pub const DASHBOARD: &str = include_str!("../grafana_dashboards/github-runner.json");
/// The shipped Prometheus alert rules.
pub const ALERT_RULES: &str = include_str!("../prometheus_alert_rules/github-runner.rules");
/// The shipped Loki alert rules (over the event log).
pub const LOG_ALERT_RULES: &str = include_str!("../loki_alert_rules/github-runner.rules");

/// Where the unit runs, as Juju names it.
#[derive(Debug, Clone)]
pub struct Topology {
    pub model: String,
    pub model_uuid: String,
    pub application: String,
}

impl Topology {
    /// `<model>_<uuid8>_<application>`: the prefix of every rule group name.
    fn identifier(&self) -> String {
        let short: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{short}_{}", self.model, self.application)
    }

    /// The labels a rule gets, as `cosl`'s `label_matcher_dict`: no charm name, which the
    /// agent's scrape jobs do not carry (a rule matching on it would never fire).
    fn labels(&self) -> [(&'static str, &str); 3] {
        [
            ("juju_model", &self.model),
            ("juju_model_uuid", &self.model_uuid),
            ("juju_application", &self.application),
        ]
    }
}

/// The value of [`KEY`]: `metrics_port` is the exporter's (`None`: no scrape job).
pub fn unit_data(topology: &Topology, metrics_port: Option<u16>) -> Result<String, String> {
    let jobs: Vec<Value> = metrics_port
        .map(|port| {
            json!({
                // As `COSAgentProvider._scrape_jobs` names them: the agent needs a job name.
                "job_name": format!("{}_0_default", topology.application),
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [format!("localhost:{port}")]}],
            })
        })
        .into_iter()
        .collect();
    let data = json!({
        "metrics_alert_rules": rules(ALERT_RULES, topology, "alerts")?,
        "log_alert_rules": rules(LOG_ALERT_RULES, topology, "alerts")?,
        "dashboards": [encode_dashboard(DASHBOARD)?],
        "metrics_scrape_jobs": jobs,
        "log_slots": [],
        "subordinate": null,
        "tracing_protocols": null,
    });
    Ok(data.to_string())
}

/// A dashboard as cos_agent carries it: xz, then standard base64.
pub fn encode_dashboard(json_text: &str) -> Result<String, String> {
    let mut compressed = Vec::new();
    lzma_rs::xz_compress(&mut json_text.as_bytes(), &mut compressed)
        .map_err(|e| format!("compressing the dashboard: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

/// Rule files (`groups:`) with the topology: each group named `<identifier>_<name>_<suffix>`
/// (characters outside `[a-zA-Z0-9_:]` become `_`), each rule given the topology labels it
/// does not carry yet. No groups is `{}`.
pub fn rules(yaml: &str, topology: &Topology, suffix: &str) -> Result<Value, String> {
    let parsed: Value = serde_yaml::from_str(yaml).map_err(|e| format!("the shipped rules are not YAML: {e}"))?;
    let Some(groups) = parsed.get("groups").and_then(Value::as_array).filter(|g| !g.is_empty()) else {
        return Ok(json!({}));
    };
    let mut out = Vec::new();
    for group in groups {
        let mut group = group.clone();
        let name = group.get("name").and_then(Value::as_str).unwrap_or("rules");
        let full = format!("{}_{name}_{suffix}", topology.identifier());
        group["name"] = Value::from(full.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'), "_"));
        for rule in group
            .get_mut("rules")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let labels = rule
                .as_object_mut()
                .ok_or("a rule is not a map")?
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            let labels = labels.as_object_mut().ok_or("a rule's labels are not a map")?;
            for (key, value) in topology.labels() {
                labels.entry(key).or_insert_with(|| Value::from(value));
            }
        }
        out.push(group);
    }
    Ok(json!({ "groups": out }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::plan::Reason;
    use crate::metrics::record::Verdict;

    fn topology() -> Topology {
        Topology {
            model: "ci".into(),
            model_uuid: "fa4e0000-1234-5678".into(),
            application: "github-runner".into(),
        }
    }

    #[test]
    fn the_dashboard_decodes_back_to_the_shipped_json() {
        let encoded = encode_dashboard(DASHBOARD).unwrap();
        let xz = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        let mut json_text = Vec::new();
        lzma_rs::xz_decompress(&mut xz.as_slice(), &mut json_text).unwrap();
        assert_eq!(json_text, DASHBOARD.as_bytes());
    }

    #[test]
    fn rules_carry_the_topology_in_labels_and_group_names() {
        let rules = rules(ALERT_RULES, &topology(), "alerts").unwrap();
        let group = &rules["groups"][0];
        assert_eq!(group["name"], "ci_fa4e0000_github_runner_github_runner_alerts");
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["labels"]["juju_application"], "github-runner", "{rule}");
            assert_eq!(rule["labels"]["juju_model_uuid"], "fa4e0000-1234-5678");
            assert!(rule["labels"]["severity"].is_string(), "the rule's own labels stay");
            assert!(
                rule["labels"].get("juju_charm").is_none(),
                "no series carries the charm name"
            );
        }
    }

    #[test]
    fn the_unit_data_has_every_field_cos_agent_requires() {
        let data: Value = serde_json::from_str(&unit_data(&topology(), Some(9468)).unwrap()).unwrap();
        for field in [
            "metrics_alert_rules",
            "log_alert_rules",
            "dashboards",
            "metrics_scrape_jobs",
            "log_slots",
        ] {
            assert!(data.get(field).is_some(), "{field} in {data}");
        }
        assert_eq!(
            data["metrics_scrape_jobs"][0]["static_configs"][0]["targets"][0],
            "localhost:9468"
        );
        assert_eq!(data["metrics_scrape_jobs"][0]["job_name"], "github-runner_0_default");
        let off: Value = serde_json::from_str(&unit_data(&topology(), None).unwrap()).unwrap();
        assert_eq!(off["metrics_scrape_jobs"], json!([]));
    }

    #[test]
    fn every_metric_the_dashboard_and_the_rules_use_is_one_the_exporter_serves() {
        use crate::metrics::exposition::{render, Process};
        use crate::metrics::record::{Record, ONLINE_BUCKETS, RECONCILE_BUCKETS};
        let mut record = Record {
            rate_limit_remaining: Some(4000),
            rate_limit_reset: Some(1),
            binary_version: Some("2.330.0".into()),
            last_success: Some(1.0),
            ..Record::default()
        };
        record
            .removals
            .entry(Verdict::Success)
            .or_default()
            .insert(Reason::Flush, 1);
        record.github_requests.insert(200, 1);
        record.time_to_online.observe(&ONLINE_BUCKETS, 1.0);
        record
            .reconcile_seconds
            .entry(Verdict::Success)
            .or_default()
            .observe(&RECONCILE_BUCKETS, 1.0);
        let text = render(record, Process::default());
        let served: std::collections::BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(String::from)
            .collect();
        let used = [DASHBOARD, ALERT_RULES].map(|text| {
            let mut names = Vec::new();
            let mut rest = text;
            while let Some(at) = rest.find("github_runner_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                names.push(name);
            }
            names
        });
        let used: Vec<&String> = used.iter().flatten().collect();
        assert!(used.len() > 10, "the files use the metrics: {used:?}");
        for name in used {
            assert!(
                served.contains(name),
                "{name} is used but not served; served: {served:?}"
            );
        }
    }
}
