//! `config-get`: defaults merged, unset options without default omitted (`--all` shows them
//! as null), an unknown key prints `null` and exits 0, and the values are a snapshot taken
//! when the context opened.

use serde_json::Value;

use super::{Call, Fail, ToolResult};

pub fn config_get(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let all = call.flags.bool(&["all", "a"]);
    let key = call.flags.args.first().cloned();
    if let (true, Some(key)) = (all, &key) {
        return Err(Fail::Usage(format!(
            "cannot use argument --all together with key {key:?}"
        )));
    }
    let snapshot = call.context().config.clone();
    if let Some(key) = key {
        return call.emit(snapshot.get(&key).unwrap_or(&Value::Null));
    }
    let mut map: serde_json::Map<String, Value> = snapshot.into_iter().collect();
    if all {
        let schema = call
            .model
            .app
            .as_ref()
            .map(|a| a.config_schema.clone())
            .unwrap_or_default();
        for name in schema.keys() {
            map.entry(name.clone()).or_insert(Value::Null);
        }
    }
    call.emit(&Value::Object(map))
}
