//! The GitHub contract: GitHub's own OpenAPI description of the runner endpoints and of the
//! workflow runs and jobs (`openapi/github-openapi-{runners,workflow-jobs}.deref.json`, copies
//! of the project's research files with every `$ref` inlined, kept here so a clone stands
//! alone), and checks of requests and responses against it. Used by the emulator's tests and
//! the client's.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::state::LoggedRequest;

/// GitHub's generic error body, for statuses an operation does not declare (401, 403, 404, …).
fn basic_error() -> Value {
    json!({"type": "object", "properties": {"message": {"type": "string"}, "documentation_url": {"type": "string"}, "url": {"type": "string"}, "status": {"type": "string"}}})
}

pub struct Spec {
    doc: Value,
    /// The `workflow_job` webhooks (`x-webhooks`), by name (`workflow-job-queued`, …).
    webhooks: Value,
}

/// Headers every request to GitHub must carry.
const REQUIRED_HEADERS: [&str; 3] = ["accept", "user-agent", "x-github-api-version"];

impl Spec {
    pub fn path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi/github-openapi-runners.deref.json")
    }

    /// Both descriptions, their paths in one document.
    pub fn load() -> Spec {
        let read = |path: PathBuf| -> Value {
            let text = std::fs::read(path).expect("the OpenAPI description ships with fake-github");
            serde_json::from_slice(&text).expect("the OpenAPI description is JSON")
        };
        let mut doc = read(Self::path());
        let jobs = read(Self::path().with_file_name("github-openapi-workflow-jobs.deref.json"));
        let paths = doc["paths"].as_object_mut().expect("paths");
        for (path, operations) in jobs["paths"].as_object().expect("paths") {
            paths.insert(path.clone(), operations.clone());
        }
        Spec {
            doc,
            webhooks: jobs["x-webhooks"].clone(),
        }
    }

    /// Checks a `workflow_job` delivery's body against the payload schema of its `action`.
    pub fn check_webhook(&self, body: &Value) -> Result<(), String> {
        let action = body["action"].as_str().ok_or("a delivery without an action")?;
        let name = format!("workflow-job-{}", action.replace('_', "-"));
        let schema = &self.webhooks[&name]["post"]["requestBody"]["content"]["application/json"]["schema"];
        if schema.is_null() {
            return Err(format!("{name} is no webhook of the description"));
        }
        validate(schema, body).map_err(|e| format!("{name}: {e}"))
    }

    /// The operation for `method` and a concrete `path` (without `/api/v3`): the template
    /// with the most literal segments among those that match.
    pub fn operation(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        paths
            .iter()
            .filter_map(|(template, item)| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                let matches = parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s);
                let op = item.get(method.to_ascii_lowercase())?;
                matches.then(|| {
                    (
                        parts.iter().filter(|p| !p.starts_with('{')).count(),
                        template.clone(),
                        op,
                    )
                })
            })
            .max_by_key(|(literal, _, _)| *literal)
            .map(|(_, template, op)| (template, op))
    }

    /// Checks a response body against the operation's schema for `status`.
    pub fn check_response(&self, method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
        let (template, op) = self
            .operation(method, path)
            .ok_or_else(|| format!("{method} {path} is no GitHub operation"))?;
        let declared = &op["responses"][status.to_string()];
        let schema = match declared.get("content") {
            Some(content) => content["application/json"]["schema"].clone(),
            None if declared.is_object() => return Ok(()), // e.g. 204: no body
            None if status >= 400 => basic_error(),
            None => return Err(format!("{method} {template} does not declare status {status}")),
        };
        validate(&schema, body).map_err(|e| format!("{method} {template} → {status}: {e}"))
    }

    /// Checks a logged request: a known operation, the required headers, a valid JSON body.
    pub fn check_request(&self, request: &LoggedRequest) -> Result<(), String> {
        let path = request.path.strip_prefix("/api/v3").unwrap_or(&request.path);
        let (template, op) = self
            .operation(&request.method, path)
            .ok_or_else(|| format!("{} {path} is no GitHub operation", request.method))?;
        for header in REQUIRED_HEADERS {
            if !request.headers.contains_key(header) {
                return Err(format!("{} {template}: no {header} header", request.method));
            }
        }
        if let Some(schema) = op
            .get("requestBody")
            .map(|b| b["content"]["application/json"]["schema"].clone())
        {
            let body = request
                .body
                .clone()
                .ok_or_else(|| format!("{} {template}: no JSON body", request.method))?;
            validate(&schema, &body).map_err(|e| format!("{} {template} request body: {e}", request.method))?;
        }
        Ok(())
    }
}

/// Validates with OpenAPI's `nullable` turned into JSON Schema's `[T, "null"]`.
fn validate(schema: &Value, instance: &Value) -> Result<(), String> {
    let schema = json_schema(schema.clone());
    let validator = jsonschema::validator_for(&schema).map_err(|e| format!("bad schema: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn json_schema(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(kind) = map.get("type").cloned() {
                    map.insert("type".into(), json!([kind, "null"]));
                }
                // OpenAPI 3.0: `nullable` admits null even where an `enum` lists the values.
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            for v in map.values_mut() {
                *v = json_schema(std::mem::take(v));
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                *v = json_schema(std::mem::take(v));
            }
        }
        _ => {}
    }
    value
}
