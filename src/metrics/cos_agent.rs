//! The `cos-agent` relation's unit data: the JSON the grafana-agent (or OpenTelemetry
//! collector) charm reads from the key `config`, as `CosAgentProviderUnitData` in
//! `charms/grafana_agent/v0/cos_agent.py` (LIBAPI 0, LIBPATCH 26) and `cosl` make it for a
//! Python charm's `COSAgentProvider`; `testing/cos-agent` checks it against that library.
//! The lines of cos_agent.py each part follows:
//! - `metrics_scrape_jobs` (lines 709-754): the exporter as a scrape job named
//!   `<app>_default_<blake2b-4 of the rest>`;
//! - `metrics_alert_rules` (lines 757-777): our rule file, then cosl's generic `HostHealth`
//!   group, each group named `<model>_<uuid8>_<app>_<group>_rules` and each rule labelled
//!   with the topology, `juju_charm` included (cosl `Rules._from_dict`, `label_matcher_dict`);
//! - `log_alert_rules` (lines 779-784): none (see [`unit_data`]);
//! - `dashboards` (lines 786-809): xz then base64 of the dashboard, whose uid and
//!   `charm: github-runner` tag the file already carries.
//!
//! Pure.

use base64::Engine as _;
use blake2::digest::{Update, VariableOutput};
use serde_json::{json, Map, Value};

/// The unit databag key.
pub const KEY: &str = "config";
/// The relation's endpoint in `charmcraft.yaml`.
pub const ENDPOINT: &str = "cos-agent";
/// The charm's name (`charmcraft.yaml`), the `juju_charm` of every rule.
pub const CHARM: &str = "github-runner";

/// The shipped Grafana dashboard.
pub const DASHBOARD: &str = include_str!("../grafana_dashboards/github-runner.json");
/// The shipped Prometheus alert rules.
pub const ALERT_RULES: &str = include_str!("../prometheus_alert_rules/github-runner.rules");
/// cosl's generic host-health group, which every provider adds.
pub const HOST_HEALTH_RULES: &str = include_str!("host-health.rules");

/// Where the unit runs, as Juju names it.
#[derive(Debug, Clone)]
pub struct Topology {
    pub model: String,
    pub model_uuid: String,
    pub application: String,
}

impl Topology {
    /// `<model>_<uuid8>_<application>` (cosl `JujuTopology.identifier`): the prefix of every
    /// rule group name.
    fn identifier(&self) -> String {
        let short: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{short}_{}", self.model, self.application)
    }

    /// The labels a rule gets where it has none of that name, as cosl's `label_matcher_dict`:
    /// without `juju_charm` the agent would stamp its own charm's name on our alerts.
    fn labels(&self) -> [(&'static str, &str); 4] {
        [
            ("juju_model", &self.model),
            ("juju_model_uuid", &self.model_uuid),
            ("juju_application", &self.application),
            ("juju_charm", CHARM),
        ]
    }
}

/// The value of [`KEY`]: `metrics_port` is the exporter's (`None`: no scrape job).
pub fn unit_data(topology: &Topology, metrics_port: Option<u16>) -> Result<String, String> {
    let mut groups = rule_groups(ALERT_RULES, topology)?;
    groups.extend(rule_groups(HOST_HEALTH_RULES, topology)?);
    let data = json!({
        "metrics_alert_rules": rule_file(groups),
        // No Loki rules: grafana-agent and the OpenTelemetry collector label the unit's
        // `/var/log` lines with their own application, and cosl (through cos-tool) injects
        // ours into every rule's selector, so a rule over the event log never matches a line.
        "log_alert_rules": rule_file(Vec::new()),
        "dashboards": [encode_dashboard(DASHBOARD)?],
        "metrics_scrape_jobs": metrics_port.map(|port| scrape_job(&topology.application, port)).into_iter().collect::<Vec<_>>(),
        "log_slots": [],
        "subordinate": null,
        "tracing_protocols": null,
    });
    Ok(data.to_string())
}

/// The exporter's scrape job as `COSAgentProvider._deterministic_scrape_configs` names it:
/// `<app>_default_<hash>`, the hash being blake2b (4 bytes) of the job without its name, as
/// Python's `json.dumps(sort_keys=True)` writes it.
pub fn scrape_job(application: &str, port: u16) -> Value {
    let mut job = json!({
        "metrics_path": "/metrics",
        "static_configs": [{"targets": [format!("localhost:{port}")]}],
    });
    let mut hasher = blake2::Blake2bVar::new(4).expect("4 is a valid blake2b size");
    hasher.update(python_json(&job).as_bytes());
    let mut digest = [0u8; 4];
    hasher.finalize_variable(&mut digest).expect("the buffer is 4 bytes");
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    job["job_name"] = Value::from(format!("{application}_default_{hex}"));
    job
}

/// `json.dumps(value, sort_keys=True)` with Python's default separators (`, ` and `: `).
fn python_json(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), python_json(v)))
                .collect();
            format!("{{{}}}", body.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// A dashboard as cos_agent carries it: xz, then standard base64.
pub fn encode_dashboard(json_text: &str) -> Result<String, String> {
    let mut compressed = Vec::new();
    lzma_rs::xz_compress(&mut json_text.as_bytes(), &mut compressed)
        .map_err(|e| format!("compressing the dashboard: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

/// `{"groups": [...]}`, or `{}` for none (cosl `Rules.as_dict`).
fn rule_file(groups: Vec<Value>) -> Value {
    if groups.is_empty() {
        json!({})
    } else {
        json!({ "groups": groups })
    }
}

/// A rule file's groups with the topology, as cosl 1.9's `Rules._from_dict`: each group named
/// `<identifier>_<name>` plus `_rules` unless it ends so (characters outside `[a-zA-Z0-9_:]`
/// become `_`), each rule given the topology labels it does not carry yet.
pub fn rule_groups(yaml: &str, topology: &Topology) -> Result<Vec<Value>, String> {
    let parsed: Value = serde_yaml::from_str(yaml).map_err(|e| format!("the shipped rules are not YAML: {e}"))?;
    let groups = parsed
        .get("groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    groups
        .into_iter()
        .map(|mut group| {
            let name = group.get("name").and_then(Value::as_str).unwrap_or("rules");
            let mut full = format!("{}_{name}", topology.identifier());
            if !full.ends_with("_rules") {
                full.push_str("_rules");
            }
            group["name"] =
                Value::from(full.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'), "_"));
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
            Ok(group)
        })
        .collect()
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
    fn rules_carry_the_topology_in_labels_and_group_names_as_cosl_names_them() {
        let groups = rule_groups(ALERT_RULES, &topology()).unwrap();
        assert_eq!(groups[0]["name"], "ci_fa4e0000_github_runner_github_runner_rules");
        for rule in groups[0]["rules"].as_array().unwrap() {
            assert_eq!(rule["labels"]["juju_application"], "github-runner", "{rule}");
            assert_eq!(rule["labels"]["juju_model_uuid"], "fa4e0000-1234-5678");
            assert_eq!(rule["labels"]["juju_charm"], CHARM, "or the agent stamps its own name");
            assert!(rule["labels"]["severity"].is_string(), "the rule's own labels stay");
        }
        let named_rules = rule_groups("groups: [{name: x_rules, rules: []}]", &topology()).unwrap();
        assert_eq!(
            named_rules[0]["name"], "ci_fa4e0000_github_runner_x_rules",
            "no second suffix"
        );
    }

    #[test]
    fn the_metrics_rules_end_with_cosls_host_health_group() {
        let data: Value = serde_json::from_str(&unit_data(&topology(), Some(9468)).unwrap()).unwrap();
        let groups = data["metrics_alert_rules"]["groups"].as_array().unwrap();
        let last = groups.last().unwrap();
        assert_eq!(last["name"], "ci_fa4e0000_github_runner_HostHealth_rules");
        let alerts: Vec<&str> = last["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["alert"].as_str().unwrap())
            .collect();
        assert_eq!(alerts, ["HostDown", "HostMetricsMissing"]);
        assert_eq!(data["log_alert_rules"], json!({}), "no Loki rule that could never fire");
    }

    #[test]
    fn the_scrape_job_is_named_as_cos_agent_names_it() {
        // Python: hashlib.blake2b(json.dumps(job, sort_keys=True).encode(), digest_size=4)
        let job = scrape_job("github-runner", 9468);
        assert_eq!(
            python_json(&json!({"metrics_path": "/metrics", "static_configs": [{"targets": ["localhost:9468"]}]})),
            r#"{"metrics_path": "/metrics", "static_configs": [{"targets": ["localhost:9468"]}]}"#
        );
        let name = job["job_name"].as_str().unwrap();
        let hash = name.strip_prefix("github-runner_default_").expect(name);
        assert!(hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert_ne!(
            scrape_job("github-runner", 9469)["job_name"],
            job["job_name"],
            "the port is hashed"
        );
    }

    #[test]
    fn the_charm_name_is_charmcrafts() {
        let project: serde_yaml::Value = serde_yaml::from_str(include_str!("../../charmcraft.yaml")).unwrap();
        assert_eq!(project["name"], CHARM);
        assert_eq!(project["provides"][ENDPOINT]["interface"], "cos_agent");
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
        let off: Value = serde_json::from_str(&unit_data(&topology(), None).unwrap()).unwrap();
        assert_eq!(off["metrics_scrape_jobs"], json!([]));
    }

    /// The metric names the dashboard and the rules use.
    fn used_metrics() -> Vec<String> {
        let mut names = Vec::new();
        for text in [DASHBOARD, ALERT_RULES] {
            let mut rest = text;
            while let Some(at) = rest.find("github_runner_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                names.push(name);
            }
        }
        assert!(names.len() > 10, "the files use the metrics: {names:?}");
        names
    }

    /// The series a scrape of `record` serves, with their labels.
    fn served(record: crate::metrics::record::Record) -> std::collections::BTreeSet<String> {
        use crate::metrics::exposition::{render, Process};
        render(record, Process::default())
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_string()))
            .collect()
    }

    fn names(series: &std::collections::BTreeSet<String>) -> std::collections::BTreeSet<&str> {
        series.iter().filter_map(|s| s.split('{').next()).collect()
    }

    #[test]
    fn every_metric_the_dashboard_and_the_rules_use_is_one_the_exporter_serves() {
        use crate::metrics::record::{Record, ONLINE_BUCKETS, RECONCILE_BUCKETS};
        let mut record = Record {
            rate_limit_remaining: Some(4000),
            rate_limit_reset: Some(1),
            binary_version: Some("2.330.0".into()),
            last_success: Some(1.0),
            // An elastic pool's: its floor and ceiling.
            floor: Some(1),
            max: Some(4),
            ..Record::default()
        };
        record.github_requests.insert(500, 1);
        record.time_to_online.observe(&ONLINE_BUCKETS, 1.0);
        record
            .reconcile_seconds
            .entry(Verdict::Success)
            .or_default()
            .observe(&RECONCILE_BUCKETS, 1.0);
        let served = served(record);
        for name in used_metrics() {
            assert!(
                names(&served).contains(name.as_str()),
                "{name} is used but not served: {served:?}"
            );
        }
    }

    #[test]
    fn the_first_scrape_serves_every_series_known_in_advance_at_zero() {
        use crate::metrics::record::{Record, RunnerState};
        // Gauges whose value only a reconcile can tell: no value is better than a false one
        // (a 0 budget would fire GithubRunnerGithubBudgetLow).
        let unknown_until_a_reconcile = [
            "github_runner_github_rate_limit_remaining",
            "github_runner_github_rate_limit_reset_timestamp_seconds",
            "github_runner_binary_info",
            "github_runner_last_successful_reconcile_timestamp_seconds",
            // An elastic pool's alone (a fixed pool has no floor or ceiling to show).
            "github_runner_idle_floor",
            "github_runner_max_runners",
        ];
        let first = served(Record::default());
        for name in used_metrics() {
            assert!(
                names(&first).contains(name.as_str()) || unknown_until_a_reconcile.contains(&name.as_str()),
                "{name} is missing from the first scrape: {first:?}"
            );
        }
        for result in Verdict::ALL {
            for reason in Reason::ALL {
                let series = format!(
                    "github_runner_removals_total{{result=\"{}\",reason=\"{}\"}}",
                    result.label(),
                    reason.label()
                );
                assert!(first.contains(&series), "{series}");
            }
            let series = format!("github_runner_creations_total{{result=\"{}\"}}", result.label());
            assert!(first.contains(&series), "{series}");
        }
        for state in RunnerState::ALL {
            assert!(first.contains(&format!("github_runner_runners{{state=\"{}\"}}", state.label())));
        }
        for series in [
            r#"github_runner_github_requests_total{status="200",free="false"}"#,
            r#"github_runner_github_requests_total{status="304",free="true"}"#,
        ] {
            assert!(first.contains(series), "{series} in {first:?}");
        }
    }
}
