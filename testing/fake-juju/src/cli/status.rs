//! `fake-juju status` and `fake-juju debug-log`.

use serde_json::{json, Map, Value};

use crate::model::{App, Store, Unit};
use crate::output;

/// Most severe first (Juju 2.9/3.x).
const SEVERITY: [&str; 7] = [
    "error",
    "blocked",
    "waiting",
    "maintenance",
    "active",
    "terminated",
    "unknown",
];

fn shown_workload(unit: &Unit) -> (String, String) {
    match &unit.error_hook {
        Some(hook) => ("error".into(), format!("hook failed: {:?}", hook.name)),
        None => (unit.workload.current.clone(), unit.workload.message.clone()),
    }
}

fn app_status(app: &App) -> (String, String) {
    if let Some(status) = &app.status {
        return (status.current.clone(), status.message.clone());
    }
    app.units
        .iter()
        .map(shown_workload)
        .min_by_key(|(s, _)| SEVERITY.iter().position(|x| x == s).unwrap_or(SEVERITY.len()))
        .unwrap_or_else(|| ("unknown".into(), String::new()))
}

pub fn status(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let model = store.read()?;
    let json = args.iter().any(|a| a == "--format=json");
    let Some(app) = &model.app else {
        println!("Model  {}\n\nModel \"{}\" is empty.", model.name, model.name);
        return Ok(0);
    };
    let (app_current, app_message) = app_status(app);
    if json {
        let mut units = Map::new();
        for unit in &app.units {
            let (current, message) = shown_workload(unit);
            units.insert(
                unit.name.clone(),
                json!({
                    "workload-status": {"current": current, "message": message},
                    "juju-status": {"current": unit.agent.current, "message": unit.agent.message},
                    "leader": unit.leader,
                    "machine": unit.machine,
                    "open-ports": unit.opened_ports,
                }),
            );
        }
        let doc = json!({
            "model": {"name": model.name, "version": model.juju_version},
            "applications": {app.name.clone(): {
                "charm-rev": app.revision,
                "version": app.version,
                "application-status": {"current": app_current, "message": app_message},
                "units": Value::Object(units),
            }},
        });
        println!("{}", output::go_json(&doc));
        return Ok(0);
    }
    println!("Model  Version\n{:<6} {}\n", model.name, model.juju_version);
    println!("App{:<14} Version  Status       Scale  Rev  Message", "");
    println!(
        "{:<17} {:<8} {:<12} {:<6} {:<4} {}",
        app.name,
        app.version,
        app_current,
        app.units.len(),
        app.revision,
        app_message
    );
    println!("\nUnit{:<14} Workload     Agent      Machine  Message", "");
    for unit in &app.units {
        let (current, message) = shown_workload(unit);
        let name = if unit.leader {
            format!("{}*", unit.name)
        } else {
            unit.name.clone()
        };
        println!(
            "{name:<18} {current:<12} {:<10} {:<8} {message}",
            unit.agent.current, unit.machine
        );
    }
    Ok(0)
}

pub fn debug_log(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
    let min = args
        .iter()
        .position(|a| a == "--level")
        .and_then(|i| args.get(i + 1))
        .and_then(|l| LEVELS.iter().position(|x| x.eq_ignore_ascii_case(l)))
        .unwrap_or(0);
    let text = std::fs::read_to_string(store.debug_log_path()).unwrap_or_default();
    for line in text.lines() {
        let level = line
            .split_whitespace()
            .nth(2)
            .and_then(|l| LEVELS.iter().position(|x| *x == l))
            .unwrap_or(0);
        if level >= min {
            println!("{line}");
        }
    }
    Ok(0)
}
