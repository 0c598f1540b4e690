//! A tracing layer that sends INFO and above to `juju-log`, so `juju debug-log` shows them.
//!
//! Hook stdout reaches Juju's log at DEBUG and stderr at WARNING whatever it says, so the charm
//! writes its own lines only through `juju-log` with the right level. When `juju-log` cannot be
//! run (outside a hook), the line goes to stderr instead of being lost. DEBUG and TRACE events
//! are dropped: every `juju-log` is a process and a controller round trip.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{HookTools, ToolError};

const JUJU_LOG: &str = "juju-log";

/// Runs `juju-log -l LEVEL -- MESSAGE`.
pub(super) fn juju_log(level: &'static str, message: &str) -> Result<(), ToolError> {
    super::run(JUJU_LOG, &["-l", level, "--", message], None).map(drop)
}

/// Forwards events at INFO and above to the hook tools' `juju-log`.
pub struct JujuLogLayer {
    tools: Arc<dyn HookTools>,
}

impl JujuLogLayer {
    pub fn new(tools: Arc<dyn HookTools>) -> Self {
        JujuLogLayer { tools }
    }
}

impl<S: Subscriber> Layer<S> for JujuLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some((juju_level, line)) = logged(event) else {
            return;
        };
        if self.tools.juju_log(juju_level, &line).is_err() {
            eprintln!("{juju_level} {line}");
        }
    }
}

/// Juju's level and the line of an event at INFO or above; `None` below.
fn logged(event: &Event<'_>) -> Option<(&'static str, String)> {
    let level = *event.metadata().level();
    if level > Level::INFO {
        return None;
    }
    let mut line = Line::default();
    event.record(&mut line);
    Some((juju_level(level), line.0))
}

/// For the charm's long-running services (the watcher): INFO and above to stderr, which
/// systemd's journal keeps, one line each, led by Juju's level name.
pub struct StderrLayer;

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if let Some((juju_level, line)) = logged(event) {
            eprintln!("{juju_level} {line}");
        }
    }
}

/// Juju's loggo level names for tracing's levels.
fn juju_level(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// The message, then `key=value` for every other field.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push(' ');
                self.0.push_str(&rest);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warn_maps_to_juju_warning_level() {
        assert_eq!(juju_level(Level::WARN), "WARNING");
        assert_eq!(juju_level(Level::ERROR), "ERROR");
    }
}
