//! `fake-juju run <unit> <action> [k=v…]`: params checked against `actions.yaml` (unknown
//! action, `required`, `additionalProperties`, types; defaults filled in), then the task's
//! status decided as Juju does: exit 0 → completed (or failed with the `action-fail`
//! message); non-zero exit → failed with `exit status N`, whatever `action-fail` said.

use anyhow::{bail, Context as _};
use serde_json::{json, Map, Value};

use crate::agent::{self, Invocation};
use crate::model::{Store, Task};
use crate::output;

pub fn run(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let format = args
        .iter()
        .find_map(|a| a.strip_prefix("--format="))
        .unwrap_or("plain")
        .to_string();
    let words: Vec<&String> = args.iter().filter(|a| !a.starts_with("--format=")).collect();
    let [unit, action, params @ ..] = words.as_slice() else {
        bail!("usage: fake-juju run <unit> <action> [k=v…] [--format=json|yaml]");
    };
    let (spec, id) = store.update(|model| {
        let app = model.app()?;
        if !app.units.iter().any(|u| u.name == **unit) {
            bail!("unit {unit:?} not found");
        }
        let spec = app
            .actions
            .get(action.as_str())
            .cloned()
            .with_context(|| format!("action {action:?} not defined on unit {unit:?}"))?;
        Ok((spec, model.next_id().to_string()))
    })?;
    let params = check_params(&spec, params)?;
    let invocation = Invocation::Action {
        name: action.to_string(),
        id: id.clone(),
        params,
    };
    let outcome = agent::run(store, unit, &invocation)?;
    let context_action = outcome.context.action.clone().context("the action context vanished")?;
    let (status, message) = if outcome.missing {
        ("failed", Some(format!("action not implemented on unit {unit:?}")))
    } else if outcome.code != Some(0) {
        let code = outcome
            .code
            .map_or("signal: killed".into(), |c| format!("exit status {c}"));
        ("failed", Some(code))
    } else if context_action.failed {
        ("failed", context_action.message.clone())
    } else {
        ("completed", None)
    };
    let mut results = context_action.results.clone();
    results.insert("return-code".into(), json!(outcome.code.unwrap_or(-1)));
    for (key, bytes) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if !bytes.is_empty() {
            results.insert(key.into(), json!(String::from_utf8_lossy(bytes)));
        }
    }
    let task = Task {
        id: id.clone(),
        unit: unit.to_string(),
        action: action.to_string(),
        status: status.into(),
        message: message.clone(),
        results,
        logs: context_action.logs.clone(),
    };
    store.update(|model| {
        model.tasks.push(task.clone());
        Ok(())
    })?;
    print_task(&task, &format)?;
    if status == "failed" {
        eprintln!("ERROR the following task failed:\n - id {id:?} with return code {}\n\nuse 'juju show-task' to inspect the failure", outcome.code.unwrap_or(-1));
        return Ok(1);
    }
    Ok(0)
}

fn print_task(task: &Task, format: &str) -> anyhow::Result<()> {
    let mut shown = task.results.clone();
    let full = json!({
        task.unit.clone(): {
            "id": task.id, "status": task.status, "message": task.message,
            "results": Value::Object(shown.clone()), "log": task.logs, "unit": task.unit,
        }
    });
    match format {
        "json" => println!("{}", output::go_json(&full)),
        "yaml" => print!("{}", output::yaml(&full)),
        _ => {
            let tag = format!("unit-{}", task.unit.replace('/', "-"));
            println!(
                "Running operation {} with 1 task\n  - task {} on {tag}\n\nWaiting for task {}...",
                task.id, task.id, task.id
            );
            for line in &task.logs {
                println!("{line}");
            }
            shown.remove("return-code");
            if let Some(message) = &task.message {
                shown.insert("message".into(), json!(message));
            }
            if !shown.is_empty() {
                print!("{}", output::yaml(&Value::Object(shown)));
            }
        }
    }
    Ok(())
}

/// Checks `k=v` params against the action's schema; values are YAML, as on `juju run`.
fn check_params(spec: &Value, pairs: &[&String]) -> anyhow::Result<Map<String, Value>> {
    let declared = spec
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut params = Map::new();
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .with_context(|| format!("expected key=value, got {pair:?}"))?;
        let value: Value = serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        params.insert(key.to_string(), value);
    }
    if spec.get("additionalProperties") == Some(&Value::Bool(false)) {
        if let Some(extra) = params.keys().find(|k| !declared.contains_key(*k)) {
            bail!(
                "additional property {extra:?} is not allowed, given {}",
                output::go_json(&Value::Object(params.clone()))
            );
        }
    }
    for required in spec
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !params.contains_key(required) {
            bail!(
                "validation failed: (root) : {required:?} property is missing and required, given {}",
                output::go_json(&Value::Object(params.clone()))
            );
        }
    }
    for (name, schema) in &declared {
        match params.get(name) {
            Some(value) => check_type(name, schema, value)?,
            None => {
                if let Some(default) = schema.get("default") {
                    params.insert(name.clone(), default.clone());
                }
            }
        }
    }
    Ok(params)
}

fn check_type(name: &str, schema: &Value, value: &Value) -> anyhow::Result<()> {
    let Some(kind) = schema.get("type").and_then(Value::as_str) else {
        return Ok(());
    };
    let ok = match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !ok {
        bail!(
            "validation failed: {name}: invalid type. expected {kind}, given {}",
            output::go_json(value)
        );
    }
    Ok(())
}
