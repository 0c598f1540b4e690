//! The relation tools: `relation-ids` finds an endpoint's relations, `relation-set` writes
//! this unit's databag in one of them, `relation-list` names the units in one (the peer
//! relation's: the application's other units); `goal-state` names the units Juju means to
//! keep, those whose peer relation has not joined yet among them.
//!
//! The data goes to `relation-set --file -` on stdin, as a YAML map (written as JSON, which is
//! YAML), never as arguments: a value such as a compressed dashboard can be far larger than
//! one argument may be (128 KiB). An empty value deletes its key, as Juju defines. Juju
//! commits the data only when the hook succeeds.

use std::collections::BTreeMap;

use super::ToolError;

const RELATION_IDS: &str = "relation-ids";
const RELATION_LIST: &str = "relation-list";
const GOAL_STATE: &str = "goal-state";
const RELATION_SET: &str = "relation-set";

/// The ids (`cos-agent:1`) of the relations on `endpoint`, sorted; none is an empty list.
pub(super) fn ids(endpoint: &str) -> Result<Vec<String>, ToolError> {
    super::run_json(RELATION_IDS, &[endpoint])
}

#[derive(serde::Deserialize)]
struct GoalState {
    #[serde(default)]
    units: BTreeMap<String, GoalUnit>,
}

#[derive(serde::Deserialize)]
struct GoalUnit {
    #[serde(default)]
    status: String,
}

/// The application's units in `goal-state`, but those `dying`.
pub(super) fn goal_units() -> Result<Vec<String>, ToolError> {
    let goal: GoalState = super::run_json(GOAL_STATE, &[])?;
    Ok(goal
        .units
        .into_iter()
        .filter(|(_, unit)| unit.status != "dying")
        .map(|(name, _)| name)
        .collect())
}

/// The other units in the peer relation on `endpoint` (Juju makes it with the application).
pub(super) fn peer_units(endpoint: &str) -> Result<Vec<String>, ToolError> {
    let mut units = Vec::new();
    for id in ids(endpoint)? {
        let listed: Vec<String> = super::run_json(RELATION_LIST, &["-r", &id])?;
        units.extend(listed);
    }
    units.sort();
    units.dedup();
    Ok(units)
}

/// Writes `data` into this unit's bag of relation `relation_id`.
pub(super) fn set(relation_id: &str, data: &BTreeMap<String, String>) -> Result<(), ToolError> {
    let document = settings_document(data);
    super::run(RELATION_SET, &["-r", relation_id, "--file", "-"], Some(&document))?;
    Ok(())
}

/// The YAML map `relation-set --file` reads.
fn settings_document(data: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::to_vec(data).expect("a map of strings always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_reads_back_as_the_same_strings_in_yaml() {
        let data: BTreeMap<String, String> = [
            ("config", "{\"metrics\": [1, 2]}\nkey: value # not a comment\n"),
            ("dashboard", "/Td6WFoAAATm1rRGAgAhARYAAAB0L+Wj\u{1}"),
            ("quoted", "'single' \"double\" \\back"),
            ("yes", "true"),
            ("gone", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let read: BTreeMap<String, String> =
            serde_yaml::from_slice(&settings_document(&data)).expect("relation-set reads YAML");
        assert_eq!(read, data, "an empty value stays, so Juju deletes the key");
    }
}
