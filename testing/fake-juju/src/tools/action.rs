//! The action tools. Outside an action they fail with `not running an action`.
//! `action-set` keys: dot-separated segments of lowercase letters, digits and inner hyphens;
//! the reserved `stdout`, `stdout-encoding`, `stderr`, `stderr-encoding` are refused; values
//! split at the first `=`, stored as strings, merged into a nested map.

use serde_json::{Map, Value};

use super::{Call, Fail, ToolResult};
use crate::model::ActionContext;

const RESERVED: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

fn action<'c>(call: &'c mut Call) -> Result<&'c mut ActionContext, Fail> {
    call.context()
        .action
        .as_mut()
        .ok_or_else(|| Fail::Runtime("not running an action".into()))
}

pub fn action_get(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let params = Value::Object(action(call)?.params.clone());
    let value = match call.flags.args.first() {
        None => params,
        Some(key) => key
            .split('.')
            .try_fold(&params, |v, seg| v.get(seg))
            .cloned()
            .unwrap_or(Value::Null),
    };
    call.emit(&value)
}

/// `^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`
fn valid_segment(segment: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !segment.is_empty()
        && segment.starts_with(ok_char)
        && segment.ends_with(ok_char)
        && segment.chars().all(|c| ok_char(c) || c == '-')
}

pub fn action_set(call: &mut Call) -> ToolResult {
    let mut pairs = Vec::new();
    for arg in &call.flags.args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(Fail::Usage(format!(
                "argument {arg:?} must be of the form key...=value"
            )));
        };
        for segment in key.split('.') {
            if !valid_segment(segment) {
                return Err(Fail::Usage(format!(
                    "key {key:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
                )));
            }
            if RESERVED.contains(&segment) {
                return Err(Fail::Usage(format!("cannot set reserved action key {segment:?}")));
            }
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    if pairs.is_empty() {
        return Err(Fail::Usage("no key=value pairs specified".into()));
    }
    let results = &mut action(call)?.results;
    for (key, value) in pairs {
        insert_dotted(results, &key, value);
    }
    Ok(String::new())
}

/// A later scalar overwrites; a path through a scalar replaces it with a map.
fn insert_dotted(map: &mut Map<String, Value>, key: &str, value: String) {
    match key.split_once('.') {
        None => {
            map.insert(key.to_string(), Value::String(value));
        }
        Some((head, rest)) => {
            let entry = map.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            insert_dotted(entry.as_object_mut().expect("made an object just above"), rest, value);
        }
    }
}

pub fn action_fail(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let message = call
        .flags
        .args
        .first()
        .cloned()
        .unwrap_or_else(|| "action failed without reason given, check action for errors".into());
    let action = action(call)?;
    action.failed = true;
    action.message = Some(message);
    Ok(String::new())
}

pub fn action_log(call: &mut Call) -> ToolResult {
    if call.flags.args.is_empty() {
        return Err(Fail::Usage("no message specified".into()));
    }
    let message = call.flags.args.join(" ");
    action(call)?
        .logs
        .push(format!("{} {message}", crate::clock::now_hms()));
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_nest_and_scalars_are_replaced_by_maps() {
        let mut map = Map::new();
        insert_dotted(&mut map, "delta", "1".into());
        insert_dotted(&mut map, "delta.virtual-machines", "3".into());
        assert_eq!(
            Value::Object(map),
            serde_json::json!({"delta": {"virtual-machines": "3"}})
        );
    }

    #[test]
    fn segments_are_lowercase_with_inner_hyphens() {
        assert!(valid_segment("virtual-machines"));
        assert!(!valid_segment("Foo"));
        assert!(!valid_segment("a_b"));
        assert!(!valid_segment("-a"));
    }
}
