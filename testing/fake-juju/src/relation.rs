//! Relations of the deployed application with a stand-in remote application: the endpoints
//! metadata.yaml declares, each relation's databags, the batched `relation-set` changes of a
//! context and their commit.
//!
//! Each relation has one remote unit, `<remote-app>/0`. As in Juju, every unit that enters a
//! relation's scope starts with `egress-subnets`, `ingress-address` and `private-address` in
//! its bag; the ids come from one model counter, from 0.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::model::{Context, Model};

/// One databag: key → value, all strings.
pub type Bag = BTreeMap<String, String>;

/// What the fake machine's units and the remote units say their address is.
const LOCAL_ADDRESS: &str = "10.0.0.10";
const REMOTE_ADDRESS: &str = "10.0.0.20";

/// An endpoint of the charm: its role (`provides`, `requires`, `peers`) and interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub role: String,
    pub interface: String,
}

/// The endpoints metadata.yaml declares under `provides`, `requires` and `peers`.
pub fn endpoints_of(metadata: &serde_yaml::Value) -> anyhow::Result<BTreeMap<String, Endpoint>> {
    let mut endpoints = BTreeMap::new();
    for role in ["provides", "requires", "peers"] {
        let Some(declared) = metadata.get(role) else {
            continue;
        };
        let declared = declared
            .as_mapping()
            .with_context(|| format!("metadata.yaml `{role}` is not a map"))?;
        for (name, spec) in declared {
            let name = name.as_str().context("an endpoint name is not a string")?;
            let interface = spec
                .get("interface")
                .and_then(|i| i.as_str())
                .with_context(|| format!("metadata.yaml endpoint {name:?} has no interface"))?;
            endpoints.insert(
                name.to_string(),
                Endpoint {
                    role: role.into(),
                    interface: interface.into(),
                },
            );
        }
    }
    Ok(endpoints)
}

/// A relation between one endpoint of the application and a remote application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Relation {
    pub id: u64,
    pub endpoint: String,
    pub role: String,
    pub remote_app: String,
    pub remote_endpoint: String,
    /// The remote units in scope (a departing one has left it).
    pub remote_units: Vec<String>,
    /// The local application's bag (written with `relation-set --app` by the leader).
    pub app_data: Bag,
    /// Each local unit's bag.
    pub unit_data: BTreeMap<String, Bag>,
    pub remote_app_data: Bag,
    pub remote_unit_data: BTreeMap<String, Bag>,
}

impl Relation {
    /// A relation whose units have just entered scope.
    pub fn new(id: u64, endpoint: &str, role: &str, remote_app: &str, remote_endpoint: &str, units: &[String]) -> Self {
        let remote_unit = format!("{remote_app}/0");
        Relation {
            id,
            endpoint: endpoint.into(),
            role: role.into(),
            remote_app: remote_app.into(),
            remote_endpoint: remote_endpoint.into(),
            remote_units: vec![remote_unit.clone()],
            app_data: Bag::new(),
            unit_data: units.iter().map(|u| (u.clone(), address_bag(LOCAL_ADDRESS))).collect(),
            remote_app_data: Bag::new(),
            remote_unit_data: BTreeMap::from([(remote_unit, address_bag(REMOTE_ADDRESS))]),
        }
    }

    /// The application's peer relation on `endpoint`, with `units` in it: its other side is
    /// the application itself, whose units `relation-list` names.
    pub fn peer(id: u64, endpoint: &str, app: &str, units: &[String]) -> Self {
        Relation {
            id,
            endpoint: endpoint.into(),
            role: "peers".into(),
            remote_app: app.into(),
            remote_endpoint: endpoint.into(),
            remote_units: Vec::new(),
            app_data: Bag::new(),
            unit_data: units.iter().map(|u| (u.clone(), address_bag(LOCAL_ADDRESS))).collect(),
            remote_app_data: Bag::new(),
            remote_unit_data: BTreeMap::new(),
        }
    }

    /// `cos-agent:3`, as `JUJU_RELATION_ID` and `relation-ids` name it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.endpoint, self.id)
    }

    /// Juju's relation key: the requirer's endpoint first, then the provider's.
    pub fn describe(&self, app: &str) -> String {
        let local = format!("{app}:{}", self.endpoint);
        let remote = format!("{}:{}", self.remote_app, self.remote_endpoint);
        if self.role == "requires" {
            format!("{local} {remote}")
        } else {
            format!("{remote} {local}")
        }
    }
}

fn address_bag(address: &str) -> Bag {
    Bag::from([
        ("egress-subnets".into(), format!("{address}/32")),
        ("ingress-address".into(), address.into()),
        ("private-address".into(), address.into()),
    ])
}

/// The relation a relation hook runs for, as its environment and the tools' defaults say.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HookRelation {
    pub id: u64,
    pub endpoint: String,
    pub remote_app: String,
    /// Empty for `-created` and `-broken`.
    pub remote_unit: Option<String>,
    /// Set for `-departed`.
    pub departing_unit: Option<String>,
}

impl HookRelation {
    pub fn of(relation: &Relation, remote_unit: Option<&str>) -> Self {
        HookRelation {
            id: relation.id,
            endpoint: relation.endpoint.clone(),
            remote_app: relation.remote_app.clone(),
            remote_unit: remote_unit.map(str::to_string),
            departing_unit: None,
        }
    }

    /// `JUJU_RELATION`, `JUJU_RELATION_ID`, `JUJU_REMOTE_APP`, `JUJU_REMOTE_UNIT` (exported even
    /// when empty) and, for `-departed`, `JUJU_DEPARTING_UNIT`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("JUJU_RELATION".to_string(), self.endpoint.clone()),
            ("JUJU_RELATION_ID".to_string(), format!("{}:{}", self.endpoint, self.id)),
            ("JUJU_REMOTE_APP".to_string(), self.remote_app.clone()),
            (
                "JUJU_REMOTE_UNIT".to_string(),
                self.remote_unit.clone().unwrap_or_default(),
            ),
        ];
        if let Some(departing) = &self.departing_unit {
            env.push(("JUJU_DEPARTING_UNIT".to_string(), departing.clone()));
        }
        env
    }
}

/// A context's `relation-set` changes to one relation, until the context commits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PendingBags {
    /// The unit's whole bag as it will be, once touched.
    pub unit: Option<Bag>,
    /// The application's whole bag as it will be, once touched (leader only).
    pub app: Option<Bag>,
}

/// Writes the context's relation changes into the model: the hook succeeded.
pub fn commit(model: &mut Model, unit: &str, context: &Context) {
    for (id, pending) in &context.pending_relations {
        let Some(relation) = model.relations.iter_mut().find(|r| r.id == *id) else {
            continue; // removed while the hook ran
        };
        if let Some(bag) = &pending.unit {
            relation.unit_data.insert(unit.to_string(), bag.clone());
        }
        if let Some(bag) = &pending.app {
            relation.app_data = bag.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_every_role_and_need_an_interface() {
        let metadata: serde_yaml::Value = serde_yaml::from_str(
            "name: x\nprovides:\n  cos-agent:\n    interface: cos_agent\npeers:\n  ring:\n    interface: r\n",
        )
        .expect("yaml");
        let endpoints = endpoints_of(&metadata).expect("endpoints");
        assert_eq!(endpoints["cos-agent"].role, "provides");
        assert_eq!(endpoints["ring"].interface, "r");
        let bad: serde_yaml::Value = serde_yaml::from_str("requires:\n  db: {}\n").expect("yaml");
        assert!(endpoints_of(&bad).is_err());
    }

    #[test]
    fn the_relation_key_puts_the_requirer_first() {
        let units = ["app/0".to_string()];
        let provided = Relation::new(0, "cos-agent", "provides", "agent", "cos-agent", &units);
        assert_eq!(provided.describe("app"), "agent:cos-agent app:cos-agent");
        let required = Relation::new(1, "db", "requires", "mysql", "server", &units);
        assert_eq!(required.describe("app"), "app:db mysql:server");
        assert_eq!(required.key(), "db:1");
        assert_eq!(required.unit_data["app/0"]["private-address"], LOCAL_ADDRESS);
    }
}
