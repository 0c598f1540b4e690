//! `config-get`: the application's config as Juju holds it.
//!
//! Returns the raw JSON map; [`crate::config`] gives it meaning. Keys that are unset and have
//! no default are absent (Juju omits them), which is why every option is an `Option` there.

use serde_json::{Map, Value};

use super::ToolError;

const CONFIG_GET: &str = "config-get";

/// What `config-get --format=json` prints: option name → typed JSON value.
pub type RawConfig = Map<String, Value>;

/// Every option that is set or has a default, as typed JSON.
pub(super) fn get_all() -> Result<RawConfig, ToolError> {
    super::run_json(CONFIG_GET, &[])
}
