//! The settings `state-set` and `relation-set` take: `--file` (a YAML map; `-` is stdin),
//! then `key=value` arguments over it, read as Juju's `keyvalues` and `yaml.v2` read them.
//!
//! A bad argument is a usage error (exit 2: `expected "key=value", got "x"`, `key "k"
//! specified more than once`); a file that cannot be read or is not a map of scalars is a
//! runtime error (exit 1). Scalars become their text (`1`, `true`) and null becomes `""`.

use std::collections::BTreeMap;

use super::{Call, Fail};

/// The file's settings with the arguments' over them.
pub fn settings(call: &Call, stdin: Option<String>) -> Result<BTreeMap<String, String>, Fail> {
    let overrides = key_values(&call.flags.args)?;
    let mut settings = from_file(call, stdin)?;
    settings.extend(overrides);
    Ok(settings)
}

/// `key=value` arguments, split at the first `=`; empty values are kept.
fn key_values(args: &[String]) -> Result<BTreeMap<String, String>, Fail> {
    let mut out = BTreeMap::new();
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| Fail::Usage(format!("expected \"key=value\", got {arg:?}")))?;
        if out.insert(key.to_string(), value.to_string()).is_some() {
            return Err(Fail::Usage(format!("key {key:?} specified more than once")));
        }
    }
    Ok(out)
}

fn from_file(call: &Call, stdin: Option<String>) -> Result<BTreeMap<String, String>, Fail> {
    let Some(path) = call.flags.flag(&["file"]) else {
        return Ok(BTreeMap::new());
    };
    let text = match stdin {
        Some(text) => text,
        None => std::fs::read_to_string(path).map_err(|e| Fail::Runtime(format!("open {path}: {e}")))?,
    };
    parse_map(&text).map_err(|m| Fail::Runtime(format!("yaml: unmarshal errors:\n  {m}")))
}

fn parse_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let map = match value {
        serde_yaml::Value::Null => return Ok(BTreeMap::new()),
        serde_yaml::Value::Mapping(map) => map,
        other => return Err(format!("cannot unmarshal {} into map[string]string", tag(&other))),
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let key = scalar(&key).ok_or_else(|| format!("cannot unmarshal {} into string", tag(&key)))?;
        let value = scalar(&value).ok_or_else(|| format!("cannot unmarshal {} into string", tag(&value)))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn scalar(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::Null => Some(String::new()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn tag(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Mapping(_) => "!!map",
        serde_yaml::Value::Sequence(_) => "!!seq",
        serde_yaml::Value::Tagged(_) => "!!tagged",
        _ => "!!str",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_split_at_the_first_equals_and_keep_empty_values() {
        let kv = key_values(&args(&["a=b=c", "gone="])).expect("parses");
        assert_eq!(kv["a"], "b=c");
        assert_eq!(kv["gone"], "");
    }

    #[test]
    fn bad_and_repeated_arguments_are_usage_errors() {
        for (bad, message) in [
            (args(&["novalue"]), "expected \"key=value\", got \"novalue\""),
            (args(&["=x"]), "expected \"key=value\", got \"=x\""),
            (args(&["a=1", "a=2"]), "key \"a\" specified more than once"),
        ] {
            match key_values(&bad) {
                Err(Fail::Usage(m)) => assert_eq!(m, message),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_file_is_a_map_of_scalars_read_as_text() {
        let map = parse_map("a: 1\nb: true\nc:\nd: \"x: y\"\n").expect("a map");
        assert_eq!(map["a"], "1");
        assert_eq!(map["b"], "true");
        assert_eq!(map["c"], "", "null deletes, as an empty value does");
        assert_eq!(map["d"], "x: y");
        assert!(parse_map("{\"json\": \"is YAML\"}").is_ok());
        assert!(parse_map("").expect("empty").is_empty());
        assert_eq!(
            parse_map("a: {b: c}").expect_err("nested"),
            "cannot unmarshal !!map into string"
        );
        assert!(parse_map("- a").is_err());
    }
}
