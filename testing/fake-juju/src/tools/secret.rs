//! `secret-get <uri> [key] [--label L] [--peek | --refresh] [--format yaml|json]`.
//!
//! The first read starts tracking the latest revision, and later reads return the tracked one;
//! `--refresh` moves tracking to the latest and returns it, `--peek` returns the latest and
//! moves nothing. `--label` names the secret for this unit (and finds it without a URI). The
//! format is `yaml` unless `json` is asked. A secret not granted to this application is
//! `permission denied`; an unknown one `secret "<uri>" not found`. Reads are immediate, as
//! Juju's controller records the tracked revision when it hands the content out.

use serde_json::json;

use super::{Call, Fail, ToolResult};
use crate::output;
use crate::secret::{parse_uri, Consumer, Secret};

pub fn secret_get(call: &mut Call) -> ToolResult {
    let format = call.flags.flag(&["format"]).unwrap_or("yaml").to_string();
    if !["yaml", "json"].contains(&format.as_str()) {
        return Err(Fail::Usage(format!(
            "invalid value {format:?} for flag --format: unknown format {format:?}"
        )));
    }
    let mut args = call.flags.args.clone();
    let uri = match (!args.is_empty()).then(|| args.remove(0)) {
        Some(arg) => Some(parse_uri(&arg).ok_or_else(|| Fail::Usage(format!("secret URI {arg:?} not valid")))?),
        None => None,
    };
    let label = call.flags.flag(&["label"]).map(str::to_string);
    if uri.is_none() && label.is_none() {
        return Err(Fail::Usage("require either a secret URI or label".into()));
    }
    let (peek, refresh) = (call.flags.bool(&["peek"]), call.flags.bool(&["refresh"]));
    if peek && refresh {
        return Err(Fail::Usage("specify one of --peek or --refresh but not both".into()));
    }
    call.at_most(2)?;
    let key = args.first().cloned();
    let unit = call.unit.clone();
    let app = call.model.app.as_ref().map(|a| a.name.clone()).unwrap_or_default();
    let secret = find(&mut call.model.secrets, uri.as_deref(), label.as_deref(), &unit)?;
    if !secret.granted.contains(&app) {
        return Err(Fail::Runtime("permission denied".into()));
    }
    let latest = secret.latest();
    let revision = if peek {
        latest
    } else {
        let consumer = secret.consumers.entry(unit).or_insert(Consumer {
            tracked: latest,
            label: None,
        });
        if refresh {
            consumer.tracked = latest;
        }
        if uri.is_some() && label.is_some() {
            consumer.label = label;
        }
        consumer.tracked
    };
    let content = secret.content(revision);
    let value = match key {
        None => json!(content),
        Some(key) => json!(content
            .get(&key)
            .ok_or_else(|| Fail::Runtime(format!("secret key value {key:?} not found")))?),
    };
    output::render(&format, &value).map_err(Fail::Usage)
}

/// The secret by URI, or by the label this unit gave it.
fn find<'s>(
    secrets: &'s mut [Secret],
    uri: Option<&str>,
    label: Option<&str>,
    unit: &str,
) -> Result<&'s mut Secret, Fail> {
    match (uri, label) {
        (Some(uri), _) => secrets
            .iter_mut()
            .find(|s| s.uri == uri)
            .ok_or_else(|| Fail::Runtime(format!("secret {uri:?} not found"))),
        (None, Some(label)) => secrets
            .iter_mut()
            .find(|s| s.consumers.get(unit).and_then(|c| c.label.as_deref()) == Some(label))
            .ok_or_else(|| Fail::Runtime(format!("secret with label {label:?} not found"))),
        (None, None) => Err(Fail::Usage("require either a secret URI or label".into())),
    }
}
