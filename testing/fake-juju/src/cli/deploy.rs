//! Deploying, configuring, refreshing and removing the application.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::hooks::run_hooks;
use crate::model::{App, Model, OptionSpec, StatusEntry, Store, Unit};
use crate::relation::Relation;
use crate::relation::{endpoints_of, Endpoint};
use crate::tools::TOOLS;

/// Host seams copied from the controller's environment into every context.
const SEAMS: [&str; 6] = [
    "GITHUB_RUNNER_ROOT",
    "LXD_DIR",
    "GITHUB_RUNNER_GITHUB_TIMEOUT",
    "GITHUB_RUNNER_GITHUB_RETRY_DELAY",
    "GITHUB_RUNNER_ONLINE_GRACE",
    "GITHUB_RUNNER_YQ",
];

pub fn deploy(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let (positional, config_args) = split_config_flags(args)?;
    let Some(charm_dir) = positional.first() else {
        bail!("usage: fake-juju deploy <charm-dir> [<app>] [--config k=v]…");
    };
    let charm_dir = std::path::absolute(charm_dir)?;
    let charm = read_charm(&charm_dir)?;
    let app_name = positional.get(1).cloned().unwrap_or_else(|| charm.name.clone());
    let seams = SEAMS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    store.init(Model {
        name: "fake".into(),
        // A test that must know the model's UUID before the deploy (the names the charm derives
        // from it) sets it.
        uuid: std::env::var("FAKE_JUJU_MODEL_UUID").unwrap_or_else(|_| crate::clock::model_uuid()),
        juju_version: "3.6.4".into(),
        seams,
        ..Model::default()
    })?;
    install_tools(store)?;
    let unit = format!("{app_name}/0");
    store.update(|model| {
        if model.app.is_some() {
            bail!("an application is already deployed in {}", store.dir.display());
        }
        let config = parse_config(&charm.config_schema, &config_args)?;
        model.app = Some(App {
            name: app_name.clone(),
            charm_dir: charm_dir.clone(),
            revision: 0,
            config_schema: charm.config_schema,
            config,
            actions: charm.actions,
            endpoints: charm.endpoints,
            version: String::new(),
            status: None,
            units: vec![new_unit(&unit, true, "0")],
            next_unit: 1,
        });
        Ok(())
    })?;
    run_hooks(store, &unit, &["install", "leader-elected", "config-changed", "start"])?;
    println!("Deployed {app_name:?} from {}", charm_dir.display());
    Ok(0)
}

pub fn config(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let Some((app_name, rest)) = args.split_first() else {
        bail!("usage: fake-juju config <app> [k=v…] [--reset k[,k…]]");
    };
    let mut reset = Vec::new();
    let mut sets = Vec::new();
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.strip_prefix("--reset") {
            Some("") => reset.extend(
                iter.next()
                    .context("--reset needs option names")?
                    .split(',')
                    .map(str::to_string),
            ),
            Some(v) => reset.extend(v.trim_start_matches('=').split(',').map(str::to_string)),
            None => sets.push(arg.clone()),
        }
    }
    let changed = store.update(|model| {
        let app = model.app_mut()?;
        if app.name != *app_name {
            bail!("application {app_name:?} not found");
        }
        if sets.is_empty() && reset.is_empty() {
            let config = app.effective_config();
            println!("{}", crate::output::yaml(&serde_json::to_value(config)?).trim_end());
            return Ok(false);
        }
        let before = app.effective_config();
        let updates = parse_config(&app.config_schema, &sets)?;
        for name in &reset {
            if !app.config_schema.contains_key(name) {
                bail!("unknown option {name:?}");
            }
            app.config.remove(name);
        }
        app.config.extend(updates);
        Ok(before != app.effective_config())
    })?;
    if changed {
        for unit in units(store)? {
            run_hooks(store, &unit, &["config-changed"])?;
        }
    }
    Ok(0)
}

pub fn model_config(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    store.update(|model| {
        if args.is_empty() {
            for (k, v) in &model.model_config {
                println!("{k}: {v}");
            }
        }
        for arg in args {
            let (k, v) = arg
                .split_once('=')
                .with_context(|| format!("expected key=value, got {arg:?}"))?;
            model.model_config.insert(k.to_string(), v.to_string());
        }
        Ok(())
    })?;
    Ok(0)
}

pub fn refresh(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let path = args
        .iter()
        .position(|a| a == "--path")
        .and_then(|i| args.get(i + 1))
        .cloned();
    store.update(|model| {
        let app = model.app_mut()?;
        let dir = match &path {
            Some(p) => std::path::absolute(p)?,
            None => app.charm_dir.clone(),
        };
        let charm = read_charm(&dir)?;
        app.charm_dir = dir;
        app.config_schema = charm.config_schema;
        app.actions = charm.actions;
        app.endpoints = charm.endpoints;
        app.revision += 1;
        Ok(())
    })?;
    for unit in units(store)? {
        run_hooks(store, &unit, &["upgrade-charm", "config-changed"])?;
    }
    Ok(0)
}

/// `add-unit <app>`: one more unit on its own machine (`install`, `config-changed`,
/// `start`), in the application's peer relations, made now if they are not yet (as Juju lists
/// them; no relation hooks run).
pub fn add_unit(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let [app_name] = args else {
        bail!("usage: fake-juju add-unit <app>")
    };
    let unit = store.update(|model| {
        let app = model.app_mut()?;
        if app.name != *app_name {
            bail!("application {app_name:?} not found");
        }
        let unit = format!("{}/{}", app.name, app.next_unit);
        app.units.push(new_unit(&unit, false, &app.next_unit.to_string()));
        app.next_unit += 1;
        // Juju makes each peer relation with the application; here it comes with the second
        // unit (a unit alone sees no peer in it either way), so that the relation ids of a
        // one-unit model stay those the other relations were given.
        let app = model.app.as_ref().expect("checked above");
        let (app_name, peers): (String, Vec<String>) = (
            app.name.clone(),
            app.endpoints
                .iter()
                .filter(|(_, e)| e.role == "peers")
                .map(|(name, _)| name.clone())
                .collect(),
        );
        let units: Vec<String> = app.units.iter().map(|u| u.name.clone()).collect();
        for endpoint in peers {
            if let Some(relation) = model.relations.iter_mut().find(|r| r.endpoint == endpoint) {
                relation.unit_data.entry(unit.clone()).or_default();
                continue;
            }
            model
                .relations
                .push(Relation::peer(model.next_relation_id, &endpoint, &app_name, &units));
            model.next_relation_id += 1;
        }
        Ok(unit)
    })?;
    run_hooks(store, &unit, &["install", "config-changed", "start"])?;
    println!("added unit {unit}");
    Ok(0)
}

pub fn remove_unit(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let [unit] = args else {
        bail!("usage: fake-juju remove-unit <unit>")
    };
    run_hooks(store, unit, &["stop", "remove"])?;
    store.update(|model| {
        model.app_mut()?.units.retain(|u| u.name != *unit);
        Ok(())
    })?;
    println!("removed unit {unit}");
    Ok(0)
}

/// A unit as its agent first reports it, on `machine`.
fn new_unit(name: &str, leader: bool, machine: &str) -> Unit {
    Unit {
        name: name.to_string(),
        leader,
        machine: machine.to_string(),
        workload: StatusEntry::new("waiting", "agent initialising"),
        agent: StatusEntry::new("allocating", ""),
        status_set: false,
        history: Vec::new(),
        state: BTreeMap::new(),
        error_hook: None,
        context: None,
        opened_ports: Default::default(),
    }
}

fn units(store: &Store) -> anyhow::Result<Vec<String>> {
    Ok(store.read()?.app()?.units.iter().map(|u| u.name.clone()).collect())
}

struct Charm {
    name: String,
    config_schema: BTreeMap<String, OptionSpec>,
    actions: BTreeMap<String, Value>,
    endpoints: BTreeMap<String, Endpoint>,
}

fn read_charm(dir: &Path) -> anyhow::Result<Charm> {
    let read_yaml = |file: &str| -> anyhow::Result<Option<serde_yaml::Value>> {
        let path = dir.join(file);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(
            serde_yaml::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?,
        ))
    };
    let metadata =
        read_yaml("metadata.yaml")?.with_context(|| format!("{} has no metadata.yaml: not a charm", dir.display()))?;
    let name = metadata
        .get("name")
        .and_then(|n| n.as_str())
        .context("metadata.yaml has no name")?
        .to_string();
    let config_schema = match read_yaml("config.yaml")? {
        Some(config) => {
            serde_yaml::from_value(config.get("options").cloned().unwrap_or_default()).context("config.yaml options")?
        }
        None => BTreeMap::new(),
    };
    let actions = match read_yaml("actions.yaml")? {
        Some(actions) => serde_yaml::from_value(actions).context("actions.yaml")?,
        None => BTreeMap::new(),
    };
    Ok(Charm {
        name,
        config_schema,
        actions,
        endpoints: endpoints_of(&metadata)?,
    })
}

/// Splits `--config k=v` pairs from the other arguments.
fn split_config_flags(args: &[String]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (mut positional, mut config) = (Vec::new(), Vec::new());
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.strip_prefix("--config") {
            Some("") => config.push(iter.next().context("--config needs key=value")?.clone()),
            Some(v) => config.push(v.trim_start_matches('=').to_string()),
            None => positional.push(arg.clone()),
        }
    }
    Ok((positional, config))
}

/// Parses `k=v` against the schema, as `juju config` does: unknown keys and values of the
/// wrong type are refused before any hook runs.
fn parse_config(schema: &BTreeMap<String, OptionSpec>, pairs: &[String]) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .with_context(|| format!("expected key=value, got {pair:?}"))?;
        let spec = schema.get(key).with_context(|| format!("unknown option {key:?}"))?;
        let bad = || anyhow::anyhow!("option {key:?} expected {}, got {raw:?}", spec.kind);
        let value = match spec.kind.as_str() {
            "int" => Value::from(raw.trim().parse::<i64>().map_err(|_| bad())?),
            "float" => Value::from(raw.trim().parse::<f64>().map_err(|_| bad())?),
            "boolean" => Value::from(crate::flags::parse_bool(raw.trim()).ok_or_else(bad)?),
            _ => Value::from(raw),
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// Links every hook tool name to this binary, as the agent's tools directory does.
fn install_tools(store: &Store) -> anyhow::Result<()> {
    let dir = store.tools_dir();
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe().context("finding the fake-juju binary")?;
    for tool in TOOLS {
        let link = dir.join(tool);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(())
}
