//! The action tools: parameters in, results, progress and failure out.
//!
//! Results are flat `dotted.key → string` pairs, as Juju stores them (`delta.virtual-machines`
//! becomes `{delta: {virtual-machines: "…"}}` in `juju run`). Failing an action is
//! `action-fail` and then exit 0: a non-zero exit would replace the message with
//! `exit status N`.

use std::collections::BTreeMap;

use super::ToolError;

const ACTION_SET: &str = "action-set";
const ACTION_FAIL: &str = "action-fail";
const ACTION_LOG: &str = "action-log";

/// An action's results: dotted keys of lowercase letters, digits and inner hyphens.
pub type Results = BTreeMap<String, String>;

/// Records the results; several calls merge.
pub(super) fn set_results(results: &Results) -> Result<(), ToolError> {
    if results.is_empty() {
        return Ok(());
    }
    let args: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    super::run(ACTION_SET, &args, None)?;
    Ok(())
}

/// Marks the action failed with a message for the operator.
pub(super) fn fail(message: &str) -> Result<(), ToolError> {
    super::run(ACTION_FAIL, &["--", message], None)?;
    Ok(())
}

/// Streams a progress line to `juju run` and `juju show-task`.
pub(super) fn log(message: &str) -> Result<(), ToolError> {
    super::run(ACTION_LOG, &["--", message], None)?;
    Ok(())
}
