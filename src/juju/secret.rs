//! `secret-get`: one value of a Juju secret the charm was given (a `secret:…` URI).
//!
//! Juju returns the revision this unit tracks (the latest at its first read); `refresh` moves
//! it to the latest (`--refresh`). The value is a [`Secret`] from the moment it is read and is
//! never logged: an error never quotes what `secret-get` printed (a JSON syntax error says
//! where, not what; a value of the wrong type only says that it is).

use super::ToolError;
use crate::secret::Secret;

const SECRET_GET: &str = "secret-get";

/// The value of `key` in the secret `uri`.
pub(super) fn get(uri: &str, key: &str, refresh: bool) -> Result<Secret, ToolError> {
    let mut args = vec!["--format=json"];
    if refresh {
        args.push("--refresh");
    }
    args.extend([uri, key]);
    let output = super::run(SECRET_GET, &args, None)?;
    value_of(&output)
}

/// The JSON string `secret-get --format=json <uri> <key>` prints.
fn value_of(output: &str) -> Result<Secret, ToolError> {
    let bad = |source| ToolError::BadOutput {
        tool: SECRET_GET,
        bytes: output.len(),
        source,
    };
    // A syntax error says where; a type error would quote the value, so it is replaced.
    serde_json::from_str::<String>(output)
        .map(Secret::new)
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => bad(serde::de::Error::custom("expected a JSON string")),
            _ => bad(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_a_secret() {
        let value = value_of("\"ghp_SECRETtoken\"\n").expect("a JSON string");
        assert_eq!(value.expose(), "ghp_SECRETtoken");
        assert!(!format!("{value:?}").contains("ghp_SECRETtoken"));
    }

    #[test]
    fn output_that_is_not_a_json_string_is_never_quoted() {
        for output in [
            "{\"token\": \"ghp_SECRETtoken\"}",
            "\"ghp_SECRETtoken",
            "ghp_SECRETtoken",
            "12345678",
        ] {
            let e = value_of(output).expect_err("not a JSON string");
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("SECRET") && !shown.contains("12345678"), "{shown}");
            assert!(
                e.to_string().contains(&format!("printed {} bytes", output.len())),
                "{e}"
            );
        }
    }
}
