//! `relate` (and `integrate`, its Juju 3 name), `remove-relation`, and `show-unit`, which
//! shows what each unit wrote in its relations.
//!
//! `relate <app>:<endpoint> <remote-app>[:<endpoint>]` (either order) relates an endpoint
//! metadata.yaml declares with a stand-in remote application of one unit, `<remote-app>/0`,
//! and runs on each unit, in Juju's order, `<endpoint>-relation-created`, `-joined` and
//! `-changed`; `remove-relation` (the same two names, or the relation id) runs `-departed`
//! and `-broken`, then drops the relation. A failed hook stops there, as a failed hook does
//! in `deploy`: the unit is in error until `resolved`.

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Map, Value};

use super::hooks::run_hook;
use crate::flags::{self, Spec};
use crate::model::{Hook, Model, Store};
use crate::output;
use crate::relation::{HookRelation, Relation};

/// An application and, maybe, one of its endpoints: `app` or `app:endpoint`.
type Side<'a> = (&'a str, Option<&'a str>);

fn split_endpoint(arg: &str) -> Side<'_> {
    match arg.split_once(':') {
        Some((app, endpoint)) => (app, Some(endpoint)),
        None => (arg, None),
    }
}

/// The deployed application's side and the remote side of `a b`, whichever order.
fn sides<'a>(model: &Model, a: &'a str, b: &'a str) -> anyhow::Result<(Side<'a>, Side<'a>)> {
    let app = &model.app()?.name;
    let (a, b) = (split_endpoint(a), split_endpoint(b));
    match (a.0 == app, b.0 == app) {
        (true, true) => bail!("cannot relate {app:?} to itself: Juju makes peer relations on its own"),
        (true, false) => Ok((a, b)),
        (false, true) => Ok((b, a)),
        (false, false) => bail!("application {app:?} is not in {:?} or {:?}", a.0, b.0),
    }
}

fn hook(relation: &Relation, kind: &str, remote_unit: Option<&str>) -> Hook {
    Hook {
        name: format!("{}-relation-{kind}", relation.endpoint),
        relation: Some(HookRelation::of(relation, remote_unit)),
        secret: None,
    }
}

pub fn relate(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let [a, b] = args else {
        bail!("usage: fake-juju relate <app>:<endpoint> <remote-app>[:<endpoint>]");
    };
    let (relation, units) = store.update(|model| {
        let ((_, endpoint), (remote_app, remote_endpoint)) = sides(model, a, b)?;
        let app = model.app()?;
        let endpoint = match endpoint {
            Some(endpoint) => endpoint.to_string(),
            None => only_endpoint(model)?,
        };
        let spec = app
            .endpoints
            .get(&endpoint)
            .ok_or_else(|| anyhow!("application {:?} has no {endpoint:?} relation", app.name))?;
        if spec.role == "peers" {
            bail!(
                "{endpoint:?} is a peer endpoint of {:?}: Juju makes peer relations on its own",
                app.name
            );
        }
        let units: Vec<String> = app.units.iter().map(|u| u.name.clone()).collect();
        let relation = Relation::new(
            model.next_relation_id,
            &endpoint,
            &spec.role,
            remote_app,
            remote_endpoint.unwrap_or(&endpoint),
            &units,
        );
        let describe = relation.describe(&app.name);
        if model.relations.iter().any(|r| r.describe(&app.name) == describe) {
            bail!("cannot add relation {describe:?}: relation {describe} already exists");
        }
        model.next_relation_id += 1;
        model.relations.push(relation.clone());
        Ok((relation, units))
    })?;
    let remote_unit = relation.remote_units[0].clone();
    for unit in &units {
        run_hook(store, unit, &hook(&relation, "created", None))?;
        run_hook(store, unit, &hook(&relation, "joined", Some(&remote_unit)))?;
        run_hook(store, unit, &hook(&relation, "changed", Some(&remote_unit)))?;
    }
    Ok(0)
}

/// The endpoint of `relate <app> <remote>` without one: the charm's only non-peer endpoint.
fn only_endpoint(model: &Model) -> anyhow::Result<String> {
    let app = model.app()?;
    let mut candidates = app.endpoints.iter().filter(|(_, e)| e.role != "peers");
    match (candidates.next(), candidates.next()) {
        (Some((name, _)), None) => Ok(name.clone()),
        (None, _) => bail!("application {:?} has no relation endpoints", app.name),
        _ => bail!(
            "ambiguous relation: name the endpoint of {:?} (<app>:<endpoint>)",
            app.name
        ),
    }
}

pub fn remove_relation(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let (relation, departing, units) = store.update(|model| {
        let index = match args {
            [id] => id
                .parse::<u64>()
                .ok()
                .and_then(|id| model.relations.iter().position(|r| r.id == id)),
            [a, b] => {
                let ((_, endpoint), (remote_app, remote_endpoint)) = sides(model, a, b)?;
                model.relations.iter().position(|r| {
                    r.remote_app == remote_app
                        && endpoint.is_none_or(|e| e == r.endpoint)
                        && remote_endpoint.is_none_or(|e| e == r.remote_endpoint)
                })
            }
            _ => bail!("usage: fake-juju remove-relation <app>[:<endpoint>] <remote-app>[:<endpoint>] | <id>"),
        };
        let index = index.with_context(|| format!("relation {:?} not found", args.join(" ")))?;
        let relation = &mut model.relations[index];
        let departing = std::mem::take(&mut relation.remote_units);
        let relation = relation.clone();
        let units = model.app()?.units.iter().map(|u| u.name.clone()).collect::<Vec<_>>();
        Ok((relation, departing, units))
    })?;
    for unit in &units {
        for remote in &departing {
            let mut departed = hook(&relation, "departed", Some(remote));
            if let Some(r) = departed.relation.as_mut() {
                r.departing_unit = Some(remote.clone());
            }
            run_hook(store, unit, &departed)?;
        }
        run_hook(store, unit, &hook(&relation, "broken", None))?;
    }
    store.update(|model| {
        model.relations.retain(|r| r.id != relation.id);
        Ok(())
    })?;
    Ok(0)
}

/// `show-unit <unit>… [--format yaml|json] [--endpoint EP] [--related-unit U] [--app]`, with
/// `juju show-unit`'s keys; `relation-info[].local-unit.data` is the unit's committed bag.
pub fn show_unit(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let spec = Spec {
        bools: &["app"],
        values: &["format", "endpoint", "related-unit"],
    };
    let parsed = flags::parse(args, &spec).map_err(|m| anyhow!(m))?;
    if parsed.args.is_empty() {
        bail!("an unit name must be supplied");
    }
    let model = store.read()?;
    let app = model.app()?;
    let mut shown = Map::new();
    for name in &parsed.args {
        let unit = app
            .units
            .iter()
            .find(|u| u.name == *name)
            .with_context(|| format!("unit {name:?} not found"))?;
        let mut info = json!({
            "machine": unit.machine,
            "opened-ports": [],
            "charm": format!("local:{}-{}", app.name, app.revision),
            "leader": unit.leader,
            "life": "alive",
        });
        if !app.version.is_empty() {
            info["workload-version"] = json!(app.version);
        }
        let relations: Vec<Value> = model
            .relations
            .iter()
            .filter_map(|r| relation_info(r, &unit.name, &parsed))
            .collect();
        if !relations.is_empty() {
            info["relation-info"] = json!(relations);
        }
        shown.insert(name.clone(), info);
    }
    let format = parsed.flag(&["format"]).unwrap_or("yaml");
    print!(
        "{}",
        output::render(format, &Value::Object(shown)).map_err(|m| anyhow!(m))?
    );
    Ok(0)
}

fn relation_info(relation: &Relation, unit: &str, parsed: &flags::Parsed) -> Option<Value> {
    let endpoint = parsed.flag(&["endpoint"]);
    if endpoint.is_some_and(|e| e != relation.endpoint) {
        return None;
    }
    let mut info = json!({
        "relation-id": relation.id,
        "endpoint": relation.endpoint,
        "related-endpoint": relation.remote_endpoint,
        "application-data": relation.app_data,
    });
    if parsed.bool(&["app"]) {
        return Some(info);
    }
    let related = parsed.flag(&["related-unit"]);
    let local = match related {
        Some(r) if r != unit => Default::default(),
        _ => relation.unit_data.get(unit).cloned().unwrap_or_default(),
    };
    let mut remote = Map::new();
    for name in relation.remote_units.iter().filter(|u| related.is_none_or(|r| r == *u)) {
        let data = relation.remote_unit_data.get(name).cloned().unwrap_or_default();
        remote.insert(name.clone(), json!({"in-scope": true, "data": data}));
    }
    let shown = endpoint.is_some() || !relation.app_data.is_empty() || !remote.is_empty() || !local.is_empty();
    info["local-unit"] = json!({"in-scope": true, "data": local});
    if !remote.is_empty() {
        info["related-units"] = Value::Object(remote);
    }
    shown.then_some(info)
}
