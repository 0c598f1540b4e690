//! A recording [`HookTools`] for handler tests, in the style of goops' `goopstest`: the test
//! sets the config, the relation ids and the secrets, runs a handler, then reads the
//! statuses, action results, failure, progress lines, log lines, relation data, secret reads
//! and application version it produced. No process is spawned.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{HookTools, RawConfig, Results, Status, ToolError};
use crate::secret::Secret;

/// One `secret-get`: which secret and key, and whether it moved to the latest revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretGet {
    pub uri: String,
    pub key: String,
    pub refresh: bool,
}

/// What a handler did through its hook tools.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// Every `status-set`, in order.
    pub statuses: Vec<Status>,
    pub results: Results,
    pub failed: Option<String>,
    pub action_log: Vec<String>,
    /// `(level, message)` of every `juju-log`.
    pub log: Vec<(&'static str, String)>,
    /// The endpoint of every `relation-ids`, in order.
    pub relation_ids: Vec<String>,
    /// `(relation id, data)` of every `relation-set`, in order.
    pub relation_sets: Vec<(String, BTreeMap<String, String>)>,
    /// Every `secret-get`, in order (never the value).
    pub secret_gets: Vec<SecretGet>,
    /// Every `application-version-set`, in order.
    pub versions: Vec<String>,
}

impl Recorded {
    /// This unit's bag in relation `id` after every `relation-set` (empty values delete).
    pub fn relation_data(&self, id: &str) -> BTreeMap<String, String> {
        let mut bag = BTreeMap::new();
        for (_, data) in self.relation_sets.iter().filter(|(r, _)| r == id) {
            for (key, value) in data {
                if value.is_empty() {
                    bag.remove(key);
                } else {
                    bag.insert(key.clone(), value.clone());
                }
            }
        }
        bag
    }
}

/// Hook tools that answer `config-get`, `relation-ids` and `secret-get` from what the test
/// preset, and record everything.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    config: Arc<Mutex<RawConfig>>,
    /// Endpoint → relation ids.
    relations: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    /// URI → key → value.
    secrets: Arc<Mutex<BTreeMap<String, BTreeMap<String, String>>>>,
    /// The peer relation's other units (`None`: the tool fails).
    peer_units: Arc<Mutex<Option<Vec<String>>>>,
    /// What `goal-state` lists (`None`: the tool fails, as on a Juju without it).
    goal_units: Arc<Mutex<Option<Vec<String>>>>,
    /// The TCP ports open now (`open-port`, `close-port`): the unit's, across hooks.
    ports: Arc<Mutex<std::collections::BTreeSet<u16>>>,
    recorded: Arc<Mutex<Recorded>>,
}

impl Recorder {
    /// Tools whose `config-get` prints `config` (a JSON object).
    pub fn with_config(config: impl serde::Serialize) -> Self {
        let recorder = Recorder::default();
        recorder.set_config(config);
        recorder
    }

    pub fn set_config(&self, config: impl serde::Serialize) {
        let map: RawConfig = serde_json::to_value(config)
            .and_then(serde_json::from_value)
            .expect("config-get prints a JSON object");
        *self.config.lock().expect("config lock") = map;
    }

    /// The TCP ports open now.
    pub fn ports(&self) -> Vec<u16> {
        self.ports.lock().expect("ports lock").iter().copied().collect()
    }

    /// What `goal-state` lists.
    pub fn set_goal_units(&self, units: &[&str]) {
        *self.goal_units.lock().expect("goal lock") = Some(units.iter().map(|u| u.to_string()).collect());
    }

    /// What `relation-list` of the peer relation lists.
    pub fn set_peer_units(&self, units: &[&str]) {
        *self.peer_units.lock().expect("peers lock") = Some(units.iter().map(|u| u.to_string()).collect());
    }

    /// What `relation-ids <endpoint>` answers (nothing preset: no relations).
    pub fn set_relation_ids(&self, endpoint: &str, ids: &[&str]) {
        let ids = ids.iter().map(|id| id.to_string()).collect();
        self.relations
            .lock()
            .expect("relations lock")
            .insert(endpoint.into(), ids);
    }

    /// The content `secret-get <uri> <key>` reads (nothing preset: `secret "<uri>" not found`).
    pub fn set_secret(&self, uri: &str, content: &[(&str, &str)]) {
        let content = content.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.secrets.lock().expect("secrets lock").insert(uri.into(), content);
    }

    pub fn recorded(&self) -> Recorded {
        self.recorded.lock().expect("recorder lock").clone()
    }

    /// The last status set, if any.
    pub fn status(&self) -> Option<Status> {
        self.recorded().statuses.last().cloned()
    }

    /// Forgets what was recorded (the presets stay), between two events of one test.
    pub fn clear(&self) {
        *self.recorded.lock().expect("recorder lock") = Recorded::default();
    }

    fn record(&self, f: impl FnOnce(&mut Recorded)) -> Result<(), ToolError> {
        f(&mut self.recorded.lock().expect("recorder lock"));
        Ok(())
    }
}

/// A runtime error of `secret-get`, as Juju words it.
fn secret_refused(message: String) -> ToolError {
    ToolError::Refused {
        tool: "secret-get",
        code: 1,
        message,
    }
}

impl HookTools for Recorder {
    fn config_get(&self) -> Result<RawConfig, ToolError> {
        Ok(self.config.lock().expect("config lock").clone())
    }

    fn status_set(&self, status: &Status) -> Result<(), ToolError> {
        self.record(|r| r.statuses.push(status.clone()))
    }

    fn action_set(&self, results: &Results) -> Result<(), ToolError> {
        self.record(|r| r.results.extend(results.clone()))
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        self.record(|r| r.failed = Some(message.to_string()))
    }

    fn action_log(&self, message: &str) -> Result<(), ToolError> {
        self.record(|r| r.action_log.push(message.to_string()))
    }

    fn juju_log(&self, level: &'static str, message: &str) -> Result<(), ToolError> {
        self.record(|r| r.log.push((level, message.to_string())))
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<String>, ToolError> {
        self.record(|r| r.relation_ids.push(endpoint.to_string()))?;
        let relations = self.relations.lock().expect("relations lock");
        Ok(relations.get(endpoint).cloned().unwrap_or_default())
    }

    fn relation_set(&self, relation_id: &str, data: &BTreeMap<String, String>) -> Result<(), ToolError> {
        self.record(|r| r.relation_sets.push((relation_id.to_string(), data.clone())))
    }

    fn goal_units(&self) -> Result<Vec<String>, ToolError> {
        self.goal_units
            .lock()
            .expect("goal lock")
            .clone()
            .ok_or(ToolError::Missing { tool: "goal-state" })
    }

    fn peer_units(&self, _endpoint: &str) -> Result<Vec<String>, ToolError> {
        self.peer_units
            .lock()
            .expect("peers lock")
            .clone()
            .ok_or(ToolError::Missing { tool: "relation-list" })
    }

    fn secret_get(&self, uri: &str, key: &str, refresh: bool) -> Result<Secret, ToolError> {
        self.record(|r| {
            r.secret_gets.push(SecretGet {
                uri: uri.into(),
                key: key.into(),
                refresh,
            })
        })?;
        let secrets = self.secrets.lock().expect("secrets lock");
        let content = secrets
            .get(uri)
            .ok_or_else(|| secret_refused(format!("secret {uri:?} not found")))?;
        let value = content
            .get(key)
            .ok_or_else(|| secret_refused(format!("secret key value {key:?} not found")))?;
        Ok(Secret::new(value.clone()))
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        self.record(|r| r.versions.push(version.to_string()))
    }

    fn set_port(&self, port: u16, open: bool) -> Result<(), ToolError> {
        let mut ports = self.ports.lock().expect("ports lock");
        if open {
            ports.insert(port);
        } else {
            ports.remove(&port);
        }
        Ok(())
    }

    fn opened_ports(&self) -> Result<Vec<u16>, ToolError> {
        Ok(self.ports())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_ids_answer_what_was_preset_and_are_recorded() {
        let tools = Recorder::default();
        tools.set_relation_ids("cos-agent", &["cos-agent:1", "cos-agent:4"]);
        assert_eq!(
            tools.relation_ids("cos-agent").expect("ids"),
            ["cos-agent:1", "cos-agent:4"]
        );
        assert!(tools.relation_ids("db").expect("ids").is_empty());
        assert_eq!(tools.recorded().relation_ids, ["cos-agent", "db"]);
    }

    #[test]
    fn relation_data_applies_every_set_and_empty_values_delete() {
        let tools = Recorder::default();
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        tools
            .relation_set("cos-agent:1", &data(&[("config", "a"), ("old", "x")]))
            .expect("set");
        tools.relation_set("cos-agent:1", &data(&[("old", "")])).expect("set");
        tools
            .relation_set("cos-agent:2", &data(&[("other", "y")]))
            .expect("set");
        let recorded = tools.recorded();
        assert_eq!(recorded.relation_data("cos-agent:1"), data(&[("config", "a")]));
        assert_eq!(recorded.relation_sets.len(), 3);
    }

    #[test]
    fn secret_get_reads_the_preset_content_and_records_no_value() {
        let tools = Recorder::default();
        let uri = "secret:0123456789abcdefghij";
        tools.set_secret(uri, &[("token", "ghp_SECRETtoken")]);
        assert_eq!(
            tools.secret_get(uri, "token", true).expect("value").expose(),
            "ghp_SECRETtoken"
        );
        let missing = tools.secret_get(uri, "nope", false).expect_err("no such key");
        assert!(
            missing.to_string().contains("secret key value \"nope\" not found"),
            "{missing}"
        );
        let unknown = tools
            .secret_get("secret:x", "token", false)
            .expect_err("no such secret");
        assert!(
            unknown.to_string().contains("secret \"secret:x\" not found"),
            "{unknown}"
        );
        let recorded = tools.recorded();
        assert_eq!(
            recorded.secret_gets[0],
            SecretGet {
                uri: uri.into(),
                key: "token".into(),
                refresh: true
            }
        );
        assert!(!format!("{recorded:?}").contains("ghp_SECRETtoken"));
    }

    #[test]
    fn the_application_version_is_recorded() {
        let tools = Recorder::default();
        tools.application_version_set("2.330.0").expect("set");
        assert_eq!(tools.recorded().versions, ["2.330.0"]);
    }
}
