//! `config-get`: the application's config as Juju holds it.
//!
//! Returns the raw JSON map; [`crate::config`] gives it meaning. Keys that are unset and have
//! no default are absent (Juju omits them), which is why every option is an `Option` there.

use super::ToolError;

const CONFIG_GET: &str = "config-get";

/// Every option that is set or has a default, as typed JSON.
pub fn get_all() -> Result<serde_json::Map<String, serde_json::Value>, ToolError> {
    super::run_json(CONFIG_GET, &[])
}
