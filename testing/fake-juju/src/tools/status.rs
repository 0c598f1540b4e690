//! `status-set`, `status-get`, `juju-log`, `application-version-set` and `juju-reboot`:
//! the tools whose effect is immediate and never rolled back (but for the reboot, which
//! happens only after a successful hook, or kills the hook with `--now`).

use serde_json::json;

use super::{Call, Fail, ToolResult};
use crate::model::{ContextKind, StatusEntry};

const SETTABLE: [&str; 4] = ["maintenance", "blocked", "waiting", "active"];
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

pub fn status_set(call: &mut Call) -> ToolResult {
    call.at_most(2)?;
    let Some(status) = call.flags.args.first().cloned() else {
        return Err(Fail::Usage("invalid args, require <status> [message]".into()));
    };
    if !SETTABLE.contains(&status.as_str()) {
        return Err(Fail::Usage(format!(
            "invalid status {status:?}, expected one of [maintenance blocked waiting active]"
        )));
    }
    let message = call.flags.args.get(1).cloned().unwrap_or_default();
    if call.flags.bool(&["application"]) {
        if !call.unit().leader {
            return Err(Fail::Runtime("this unit is not the leader".into()));
        }
        let app = call.model.app.as_mut().expect("a unit implies an app");
        app.status = Some(StatusEntry::new(&status, &message));
        return Ok(String::new());
    }
    let unit = call.unit();
    unit.status_set = true;
    unit.set_workload(StatusEntry::new(&status, &message));
    Ok(String::new())
}

pub fn status_get(call: &mut Call) -> ToolResult {
    call.at_most(0)?;
    let unit = call.unit().workload.clone();
    if call.flags.bool(&["application"]) && !call.unit().leader {
        return Err(Fail::Runtime(
            "finding application status: this unit is not the leader".into(),
        ));
    }
    if call.flags.bool(&["include-data"]) {
        return call.emit(&json!({"message": unit.message, "status": unit.current, "status-data": {}}));
    }
    call.emit(&json!(unit.current))
}

pub fn juju_log(call: &mut Call) -> ToolResult {
    if call.flags.args.is_empty() {
        return Err(Fail::Usage("no message specified".into()));
    }
    let asked = call.flags.flag(&["l", "log-level"]).unwrap_or("INFO").to_uppercase();
    let level = if call.flags.bool(&["debug"]) {
        "DEBUG".to_string()
    } else {
        asked
    };
    let level = if LEVELS.contains(&level.as_str()) {
        level
    } else {
        let module = format!("unit.{}.juju-log", call.unit);
        call.store.log(
            &call.unit,
            &module,
            "WARNING",
            &format!("Specified log level ({level}) is not valid"),
        );
        "INFO".into()
    };
    let message = call.flags.args.join(" ");
    call.store
        .log(&call.unit, &format!("unit.{}.juju-log", call.unit), &level, &message);
    Ok(String::new())
}

pub fn application_version_set(call: &mut Call) -> ToolResult {
    call.at_most(1)?;
    let Some(version) = call.flags.args.first().cloned() else {
        return Err(Fail::Usage("no version specified".into()));
    };
    call.model.app.as_mut().expect("a unit implies an app").version = version;
    Ok(String::new())
}

/// `open-port` / `close-port <port>[/<protocol>]` (tcp unless said): what `juju expose` opens.
pub fn set_port(call: &mut Call, open: bool) -> ToolResult {
    call.at_most(1)?;
    let Some(port) = call.flags.args.first().cloned() else {
        return Err(Fail::Usage("no port or range specified".into()));
    };
    let (number, protocol) = port.split_once('/').unwrap_or((&port, "tcp"));
    if number.parse::<u16>().map_or(true, |n| n == 0) || !matches!(protocol, "tcp" | "udp") {
        return Err(Fail::Usage(format!("invalid port {port:?}")));
    }
    let port = format!("{number}/{protocol}");
    let ports = &mut call.unit().opened_ports;
    if open {
        ports.insert(port);
    } else {
        ports.remove(&port);
    }
    Ok(String::new())
}

/// `opened-ports`: this unit's, one `<port>/<protocol>` a line.
pub fn opened_ports(call: &mut Call) -> ToolResult {
    call.at_most(0)?;
    Ok(call.unit().opened_ports.iter().map(|p| format!("{p}\n")).collect())
}

pub fn juju_reboot(call: &mut Call) -> ToolResult {
    call.at_most(0)?;
    if call.context().kind == ContextKind::Action {
        return Err(Fail::Runtime(
            "juju-reboot is not supported when running an action.".into(),
        ));
    }
    let now = call.flags.bool(&["now"]);
    let context = call.context();
    context.reboot = Some(if now { "now" } else { "after-hook" }.into());
    if let (true, Some(pid)) = (now, context.pid) {
        // Juju kills the hook at once and runs it again after the reboot.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    Ok(String::new())
}
