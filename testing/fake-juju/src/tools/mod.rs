//! The hook tools, one multi-call binary as jujuc is: `argv[0]` names the tool.
//!
//! Each tool finds its context from `JUJU_CONTEXT_ID` (unset → exit 1
//! `JUJU_CONTEXT_ID not set`; unknown or closed → exit 1 `bad request: …`), parses its flags
//! as gnuflag does, and answers as juju-contract §2 says: data on stdout in the asked format,
//! `ERROR <message>` on stderr with exit 2 for usage errors and 1 for runtime errors. Every
//! call is appended to `calls.log` in the model directory so tests can check command lines.

mod action;
mod config;
mod exec;
mod relation;
mod secret;
mod settings;
mod state;
mod status;
mod systemctl;

use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::flags::{self, Parsed, Spec};
use crate::model::{store_from_env, Context, Model, Store, Unit};
use crate::output;

/// The names this binary answers to besides `fake-juju`.
pub const TOOLS: &[&str] = &[
    "action-fail",
    "action-get",
    "action-log",
    "action-set",
    "application-version-set",
    "config-get",
    "is-leader",
    "goal-state",
    "juju-exec",
    "juju-log",
    "juju-reboot",
    "juju-run",
    "close-port",
    "open-port",
    "opened-ports",
    "relation-get",
    "relation-ids",
    "relation-list",
    "relation-set",
    "secret-get",
    "state-delete",
    "state-get",
    "state-set",
    "status-get",
    "status-set",
    "systemctl",
];

/// How a tool failed: exit 2 (usage) or exit 1 (runtime).
#[derive(Debug)]
pub enum Fail {
    Usage(String),
    Runtime(String),
}

pub type ToolResult = Result<String, Fail>;

/// One tool call inside a live context.
pub struct Call<'a> {
    pub model: &'a mut Model,
    pub unit: String,
    pub store: &'a Store,
    pub flags: Parsed,
}

impl Call<'_> {
    pub fn unit(&mut self) -> &mut Unit {
        self.model
            .unit_mut(&self.unit)
            .expect("the unit was found when the call began")
    }

    pub fn context(&mut self) -> &mut Context {
        self.unit()
            .context
            .as_mut()
            .expect("the context was found when the call began")
    }

    /// Renders `value` in the `--format` asked for (default `smart`).
    pub fn emit(&self, value: &Value) -> ToolResult {
        let format = self.flags.flag(&["format"]).unwrap_or("smart");
        output::render(format, value).map_err(Fail::Usage)
    }

    /// Fails unless there are at most `max` positional arguments.
    pub fn at_most(&self, max: usize) -> Result<(), Fail> {
        if self.flags.args.len() > max {
            return Err(Fail::Usage(format!(
                "unrecognized args: {}",
                output::go_json(&json!(self.flags.args[max..]))
            )));
        }
        Ok(())
    }
}

/// Runs tool `name`; returns the exit code.
pub fn main(name: &str, args: &[String]) -> i32 {
    let result = match name {
        "juju-exec" | "juju-run" => return exec::main(name, args),
        "systemctl" => return systemctl::main(args),
        _ => in_context(name, args),
    };
    let (code, stdout, stderr) = match result {
        Ok(out) => (0, out, String::new()),
        Err(Fail::Usage(m)) => (2, String::new(), format!("ERROR {m}\n")),
        Err(Fail::Runtime(m)) => (1, String::new(), format!("ERROR {m}\n")),
    };
    if let Some(store) = store_from_env() {
        record_call(&store, name, args, code);
    }
    print!("{stdout}");
    eprint!("{stderr}");
    let _ = std::io::stdout().flush();
    code
}

pub fn record_systemctl(store: &Store, args: &[String], code: i32) {
    record_call(store, "systemctl", args, code);
}

fn record_call(store: &Store, name: &str, args: &[String], code: i32) {
    let line = output::go_json(&json!({"tool": name, "args": args, "exit": code}));
    if let Ok(mut f) = std::fs::File::options()
        .create(true)
        .append(true)
        .open(store.dir.join("calls.log"))
    {
        let _ = writeln!(f, "{line}");
    }
}

fn spec(name: &str) -> Option<Spec> {
    let spec = |bools, values| Some(Spec { bools, values });
    match name {
        "config-get" => spec(&["all", "a"], &["format"]),
        "status-set" => spec(&["application"], &[]),
        "status-get" => spec(&["application", "include-data"], &["format"]),
        "juju-log" => spec(&["debug"], &["l", "log-level", "format"]),
        "action-get" => spec(&[], &["format"]),
        "action-set" | "action-fail" | "action-log" => spec(&[], &[]),
        "is-leader" => spec(&[], &["format"]),
        "state-get" => spec(&["strict"], &["format"]),
        "state-set" => spec(&[], &["file"]),
        "state-delete" => spec(&[], &[]),
        "application-version-set" => spec(&[], &[]),
        "open-port" | "close-port" => spec(&[], &["endpoints"]),
        "opened-ports" => spec(&["endpoints"], &["format"]),
        "juju-reboot" => spec(&["now"], &[]),
        "relation-ids" => spec(&[], &["format"]),
        "goal-state" => spec(&[], &["format"]),
        "relation-list" => spec(&["app"], &["format", "r", "relation"]),
        "relation-get" => spec(&["app"], &["format", "r", "relation"]),
        // `--format` is accepted and ignored (deprecated), as Juju does.
        "relation-set" => spec(&["app"], &["file", "format", "r", "relation"]),
        "secret-get" => spec(&["peek", "refresh"], &["format", "label"]),
        _ => None,
    }
}

fn in_context(name: &str, args: &[String]) -> ToolResult {
    let spec = spec(name).ok_or_else(|| Fail::Usage(format!("unknown hook tool {name:?}")))?;
    let parsed = flags::parse(args, &spec).map_err(Fail::Usage)?;
    if parsed.help {
        return Ok(format!("Usage: {name} [options]\n"));
    }
    let context_id = std::env::var("JUJU_CONTEXT_ID")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Fail::Runtime("JUJU_CONTEXT_ID not set".into()))?;
    let store = store_from_env()
        .ok_or_else(|| Fail::Runtime("JUJU_AGENT_SOCKET_ADDRESS not set: cannot reach the unit agent".into()))?;
    // `--file -` reads stdin before the model is locked.
    let stdin = if parsed.flag(&["file"]) == Some("-") {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| Fail::Runtime(format!("reading stdin: {e}")))?;
        Some(buf)
    } else {
        None
    };
    let outcome = store.update(|model| {
        let Some(unit) = model.unit_by_context(&context_id).map(|u| u.name.clone()) else {
            return Ok(Err(Fail::Runtime(format!(
                "bad request: no hook context {context_id:?} (the hook has ended)"
            ))));
        };
        let mut call = Call {
            model,
            unit,
            store: &store,
            flags: parsed,
        };
        Ok(dispatch(name, &mut call, stdin))
    });
    outcome.unwrap_or_else(|e| Err(Fail::Runtime(format!("{e:#}"))))
}

fn dispatch(name: &str, call: &mut Call, stdin: Option<String>) -> ToolResult {
    match name {
        "config-get" => config::config_get(call),
        "status-set" => status::status_set(call),
        "status-get" => status::status_get(call),
        "juju-log" => status::juju_log(call),
        "application-version-set" => status::application_version_set(call),
        "is-leader" => {
            call.at_most(0)?;
            let leader = call.unit().leader;
            call.emit(&json!(leader))
        }
        "juju-reboot" => status::juju_reboot(call),
        "action-get" => action::action_get(call),
        "action-set" => action::action_set(call),
        "action-fail" => action::action_fail(call),
        "action-log" => action::action_log(call),
        "state-get" => state::state_get(call),
        "state-set" => state::state_set(call, stdin),
        "state-delete" => state::state_delete(call),
        "relation-ids" => relation::relation_ids(call),
        "goal-state" => relation::goal_state(call),
        "relation-list" => relation::relation_list(call),
        "relation-get" => relation::relation_get(call),
        "relation-set" => relation::relation_set(call, stdin),
        "secret-get" => secret::secret_get(call),
        "open-port" => status::set_port(call, true),
        "close-port" => status::set_port(call, false),
        "opened-ports" => status::opened_ports(call),
        other => Err(Fail::Usage(format!("unknown hook tool {other:?}"))),
    }
}
