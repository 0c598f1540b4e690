//! A recording [`HookTools`] for handler tests, in the style of goops' `goopstest`: the test
//! sets the config, runs a handler, then reads the statuses, action results, failure, progress
//! lines and log lines it produced. No process is spawned.

use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

use super::{HookTools, RawConfig, Results, Status, ToolError};

/// What a handler did through its hook tools.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// Every `status-set`, in order.
    pub statuses: Vec<Status>,
    pub results: Results,
    pub failed: Option<String>,
    pub action_log: Vec<String>,
    /// `(level, message)` of every `juju-log`.
    pub log: Vec<(&'static str, String)>,
}

/// Hook tools that answer `config-get` from a map and record everything else.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    config: Arc<Mutex<RawConfig>>,
    recorded: Arc<Mutex<Recorded>>,
}

impl Recorder {
    /// Tools whose `config-get` prints `config` (a JSON object).
    pub fn with_config(config: Json) -> Self {
        let recorder = Recorder::default();
        recorder.set_config(config);
        recorder
    }

    pub fn set_config(&self, config: Json) {
        let Json::Object(map) = config else {
            panic!("config-get prints a JSON object");
        };
        *self.config.lock().expect("config lock") = map;
    }

    pub fn recorded(&self) -> Recorded {
        self.recorded.lock().expect("recorder lock").clone()
    }

    /// The last status set, if any.
    pub fn status(&self) -> Option<Status> {
        self.recorded().statuses.last().cloned()
    }

    /// Forgets what was recorded (the config stays), between two events of one test.
    pub fn clear(&self) {
        *self.recorded.lock().expect("recorder lock") = Recorded::default();
    }

    fn record(&self, f: impl FnOnce(&mut Recorded)) -> Result<(), ToolError> {
        f(&mut self.recorded.lock().expect("recorder lock"));
        Ok(())
    }
}

impl HookTools for Recorder {
    fn config_get(&self) -> Result<RawConfig, ToolError> {
        Ok(self.config.lock().expect("config lock").clone())
    }

    fn status_set(&self, status: &Status) -> Result<(), ToolError> {
        self.record(|r| r.statuses.push(status.clone()))
    }

    fn action_set(&self, results: &Results) -> Result<(), ToolError> {
        self.record(|r| r.results.extend(results.clone()))
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        self.record(|r| r.failed = Some(message.to_string()))
    }

    fn action_log(&self, message: &str) -> Result<(), ToolError> {
        self.record(|r| r.action_log.push(message.to_string()))
    }

    fn juju_log(&self, level: &'static str, message: &str) -> Result<(), ToolError> {
        self.record(|r| r.log.push((level, message.to_string())))
    }
}
