//! Juju's output formats: `json` (Go's `json.Marshal`: compact, sorted keys, `<>&` escaped,
//! one newline), `smart` (plain strings, `True`/`False`, nothing for null or empty) and `yaml`.

use serde_json::Value;

pub fn render(format: &str, value: &Value) -> Result<String, String> {
    match format {
        "json" => Ok(go_json(value) + "\n"),
        "yaml" => Ok(yaml(value)),
        "smart" => Ok(match value {
            Value::Null => String::new(),
            Value::String(s) if s.is_empty() => String::new(),
            Value::String(s) => format!("{s}\n"),
            Value::Bool(true) => "True\n".into(),
            Value::Bool(false) => "False\n".into(),
            Value::Array(items) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| format!("{s}\n"))
                .collect(),
            other => yaml(other),
        }),
        other => Err(format!(
            "invalid value {other:?} for flag --format: unknown format {other:?}"
        )),
    }
}

pub fn yaml(value: &Value) -> String {
    let text = serde_yaml::to_string(value).unwrap_or_default();
    format!("{}\n", text.trim_end())
}

/// Go's encoding: keys sorted whatever serde_json's map order, HTML characters escaped.
pub fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(&Value::String(key.clone()), out);
                out.push(':');
                write_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        scalar => {
            let text = scalar.to_string();
            out.push_str(
                &text
                    .replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_compact_sorted_and_html_escaped() {
        let value = json!({"b": 1, "a": "<x&y>"});
        assert_eq!(
            render("json", &value).expect("json"),
            "{\"a\":\"\\u003cx\\u0026y\\u003e\",\"b\":1}\n"
        );
        assert_eq!(render("json", &Value::Null).expect("json"), "null\n");
    }

    #[test]
    fn smart_prints_nothing_for_null_and_python_style_booleans() {
        assert_eq!(render("smart", &Value::Null).expect("smart"), "");
        assert_eq!(render("smart", &json!(true)).expect("smart"), "True\n");
    }

    #[test]
    fn unknown_format_is_a_usage_error() {
        assert!(render("toml", &Value::Null).is_err());
    }
}
