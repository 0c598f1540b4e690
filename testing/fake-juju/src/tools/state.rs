//! `state-get`, `state-set`, `state-delete`: the unit's key/value store. Writes are batched
//! in the context and committed only when the hook succeeds; reads see them at once.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Call, Fail, ToolResult};

const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 * 1024;

fn pending<'c>(call: &'c mut Call) -> &'c mut BTreeMap<String, String> {
    let committed = call.unit().state.clone();
    call.context().pending_state.get_or_insert(committed)
}

pub fn state_get(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let state = pending(call).clone();
    match call.flags.args.first().map(String::as_str) {
        None | Some("-") if state.is_empty() => call.emit(&Value::Null),
        None | Some("-") => call.emit(&json!(state)),
        Some(key) => match state.get(key) {
            Some(value) => call.emit(&json!(value)),
            None if call.flags.bool(&["strict"]) => Err(Fail::Runtime(format!("{key:?} not found"))),
            None => call.emit(&json!("")),
        },
    }
}

pub fn state_set(call: &mut Call, stdin: Option<String>) -> ToolResult {
    let changes = super::settings::settings(call, stdin)?;
    for (key, value) in &changes {
        if key.len() > MAX_KEY {
            return Err(Fail::Runtime(format!("key {key:?} is longer than {MAX_KEY} bytes")));
        }
        if value.len() > MAX_VALUE {
            return Err(Fail::Runtime(format!(
                "value of {key:?} is longer than {MAX_VALUE} bytes"
            )));
        }
    }
    pending(call).extend(changes);
    Ok(String::new())
}

pub fn state_delete(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let Some(key) = call.flags.args.first().cloned() else {
        return Err(Fail::Usage("no key specified".into()));
    };
    pending(call).remove(&key);
    Ok(String::new())
}
