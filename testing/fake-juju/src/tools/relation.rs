//! `relation-ids`, `relation-list`, `relation-get`, `relation-set`.
//!
//! `-r`/`--relation` takes `3` or `cos-agent:3` and defaults to the relation of a relation
//! hook; elsewhere, without it, exit 2 `no relation id specified`; a bad or unknown id is a
//! flag error (`invalid value "x" for flag -r: relation not found`). `relation-set` is batched
//! in the context (an empty value deletes a key; `--app` only for the leader, else `cannot
//! write relation settings`); `relation-get` of this unit's (or, for the leader, this
//! application's) bag sees the batched changes, as Juju's does.

use serde_json::json;

use super::{settings, Call, Fail, ToolResult};
use crate::relation::{Bag, PendingBags, Relation};

/// The relation `-r` names, or the hook's.
fn chosen_relation(call: &mut Call) -> Result<Relation, Fail> {
    let given = [("r", "-r"), ("relation", "--relation")]
        .into_iter()
        .find_map(|(name, dashed)| call.flags.flags.get(name).map(|value| (dashed, value.clone())));
    let Some((flag, value)) = given else {
        let id = call.context().relation.as_ref().map(|r| r.id);
        let relation = id.and_then(|id| call.model.relation(id));
        return relation
            .cloned()
            .ok_or_else(|| Fail::Usage("no relation id specified".into()));
    };
    let invalid = |why: &str| Fail::Usage(format!("invalid value {value:?} for flag {flag}: {why}"));
    let id: u64 = value
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| invalid("invalid relation id"))?;
    call.model
        .relation(id)
        .cloned()
        .ok_or_else(|| invalid("relation not found"))
}

/// This unit's bag (`app` false) or this application's, with the context's changes.
fn local_bag(call: &mut Call, relation: &Relation, app: bool) -> Bag {
    let pending = call.context().pending_relations.get(&relation.id).cloned();
    let pending = pending.and_then(|p| if app { p.app } else { p.unit });
    pending.unwrap_or_else(|| {
        if app {
            relation.app_data.clone()
        } else {
            relation.unit_data.get(&call.unit).cloned().unwrap_or_default()
        }
    })
}

pub fn relation_ids(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let hook_endpoint = call.context().relation.as_ref().map(|r| r.endpoint.clone());
    let name = call
        .flags
        .args
        .first()
        .cloned()
        .or(hook_endpoint)
        .ok_or_else(|| Fail::Usage("no relation name specified".into()))?;
    let mut ids: Vec<String> = call
        .model
        .relations
        .iter()
        .filter(|r| r.endpoint == name)
        .map(Relation::key)
        .collect();
    ids.sort();
    call.emit(&json!(ids))
}

/// `goal-state`: the application's units as Juju means them to be (`active`; fake-juju
/// removes a unit at once, so none is ever `dying`), and the relations (none listed).
pub fn goal_state(call: &mut Call) -> ToolResult {
    call.at_most(0)?;
    let units: serde_json::Map<String, serde_json::Value> = call
        .model
        .app
        .iter()
        .flat_map(|app| app.units.iter())
        .map(|u| {
            (
                u.name.clone(),
                json!({"status": "active", "since": "2026-01-01 00:00:00Z"}),
            )
        })
        .collect();
    call.emit(&json!({"units": units, "relations": {}}))
}

pub fn relation_list(call: &mut Call) -> ToolResult {
    let relation = chosen_relation(call)?;
    call.at_most(0)?;
    if call.flags.bool(&["app"]) {
        return call.emit(&json!(relation.remote_app));
    }
    let mut units = match relation.role.as_str() {
        // A peer relation's other side is the application's other units.
        "peers" => {
            let me = call.unit.clone();
            call.model
                .app
                .iter()
                .flat_map(|app| app.units.iter())
                .map(|u| u.name.clone())
                .filter(|u| *u != me)
                .collect()
        }
        _ => relation.remote_units.clone(),
    };
    units.sort();
    call.emit(&json!(units))
}

pub fn relation_get(call: &mut Call) -> ToolResult {
    let relation = chosen_relation(call)?;
    call.at_most(2)?;
    let key = call.flags.args.first().filter(|k| *k != "-").cloned();
    let app = call.flags.bool(&["app"]);
    let hook = call.context().relation.clone().filter(|r| r.id == relation.id);
    let (name, app) = match call.flags.args.get(1) {
        // `--app` with a unit name reads that unit's application.
        Some(name) if app => (name.split('/').next().unwrap_or(name).to_string(), true),
        Some(name) => (name.clone(), false),
        None => match hook {
            Some(hook) if app => (hook.remote_app, true),
            Some(hook) => match hook.remote_unit {
                Some(unit) => (unit, false),
                None => (hook.remote_app, true),
            },
            None => return Err(Fail::Usage("no unit or application specified".into())),
        },
    };
    let bag = read_bag(call, &relation, &name, app)?;
    match key {
        None => call.emit(&json!(bag)),
        Some(key) => call.emit(&json!(bag.get(&key))),
    }
}

fn read_bag(call: &mut Call, relation: &Relation, name: &str, app: bool) -> Result<Bag, Fail> {
    let own_app = call.model.app.as_ref().map(|a| a.name.clone()).unwrap_or_default();
    let leader = call.unit().leader;
    match (app, name) {
        (false, unit) if unit == call.unit => Ok(local_bag(call, relation, false)),
        (true, a) if a == own_app && leader => Ok(local_bag(call, relation, true)),
        (true, a) if a == relation.remote_app => Ok(relation.remote_app_data.clone()),
        (true, _) => Err(Fail::Runtime("permission denied".into())),
        (false, unit) => relation.remote_unit_data.get(unit).cloned().ok_or_else(|| {
            Fail::Runtime(format!(
                "cannot read settings for unit {unit:?} in relation {:?}: unit {unit:?}: settings not found",
                relation.key()
            ))
        }),
    }
}

pub fn relation_set(call: &mut Call, stdin: Option<String>) -> ToolResult {
    let relation = chosen_relation(call)?;
    let changes = settings::settings(call, stdin)?;
    let app = call.flags.bool(&["app"]);
    if app && !call.unit().leader {
        return Err(Fail::Runtime("cannot write relation settings".into()));
    }
    let mut bag = local_bag(call, &relation, app);
    for (key, value) in changes {
        if value.is_empty() {
            bag.remove(&key);
        } else {
            bag.insert(key, value);
        }
    }
    let pending: &mut PendingBags = call.context().pending_relations.entry(relation.id).or_default();
    if app {
        pending.app = Some(bag);
    } else {
        pending.unit = Some(bag);
    }
    Ok(String::new())
}
