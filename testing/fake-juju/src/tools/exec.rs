//! `juju-exec` (Juju 3) and `juju-run` (Juju 2.9): run commands in a unit's hook context,
//! from outside any hook, as the reconcile timer does.
//!
//! Refused inside a hook (`JUJU_CONTEXT_ID` set). The unit is `-u <unit>`, the first argument
//! (`app/0` or `unit-app-0`), or the only unit. One command argument is passed as-is, several
//! are quoted and joined; they run in `/bin/bash -s` in the charm directory with the caller's
//! environment plus the context's variables (`JUJU_HOOK_NAME` empty, no `JUJU_DISPATCH_PATH`
//! unless the command sets it). Changes commit whatever the exit code, which is passed back.

use std::io::Write;

use crate::agent::{self, Invocation};
use crate::flags::{self, Spec};
use crate::model::store_from_env;

pub fn main(name: &str, args: &[String]) -> i32 {
    match run(name, args) {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("ERROR {message}");
            code
        }
    }
}

fn run(name: &str, args: &[String]) -> Result<i32, (i32, String)> {
    if let Some(context) = std::env::var("JUJU_CONTEXT_ID").ok().filter(|c| !c.is_empty()) {
        return Err((
            1,
            format!("{name} cannot be called from within a hook, have context {context:?}"),
        ));
    }
    let parsed = flags::parse(
        args,
        &Spec {
            bools: &["no-context"],
            values: &["u", "unit"],
        },
    )
    .map_err(|m| (2, m))?;
    let store = store_from_env().ok_or((1, "FAKE_JUJU_MODEL is not set: no unit agent to talk to".to_string()))?;
    let model = store.read().map_err(|e| (1, format!("{e:#}")))?;
    let units: Vec<String> = model
        .app
        .iter()
        .flat_map(|a| a.units.iter().map(|u| u.name.clone()))
        .collect();
    let mut positional = parsed.args.clone();
    let unit = match parsed.flag(&["u", "unit"]) {
        Some(unit) => unit_name(unit),
        None if positional.first().is_some_and(|a| looks_like_unit(a)) => unit_name(&positional.remove(0)),
        None if units.len() == 1 => units[0].clone(),
        None => return Err((2, "missing unit name: more than one unit on this machine".into())),
    };
    if !units.contains(&unit) {
        return Err((1, format!("unit {unit:?} not found on this machine")));
    }
    let script = match positional.as_slice() {
        [] => return Err((2, "missing commands".into())),
        [one] => one.clone(),
        many => many.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "),
    };
    let inherited = std::env::vars().collect();
    let outcome =
        agent::run(&store, &unit, &Invocation::Commands { script, inherited }).map_err(|e| (1, format!("{e:#}")))?;
    let _ = std::io::stdout().write_all(&outcome.stdout);
    let _ = std::io::stderr().write_all(&outcome.stderr);
    Ok(outcome.code.unwrap_or(1))
}

fn looks_like_unit(arg: &str) -> bool {
    let name = unit_name(arg);
    name.split_once('/').is_some_and(|(app, n)| {
        !app.is_empty() && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !app.contains(' ')
    })
}

/// `unit-github-runner-0` → `github-runner/0`; `github-runner/0` stays.
fn unit_name(arg: &str) -> String {
    match arg.strip_prefix("unit-").and_then(|t| t.rsplit_once('-')) {
        Some((app, n)) if !arg.contains('/') => format!("{app}/{n}"),
        _ => arg.to_string(),
    }
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_tags_and_names_both_name_the_unit() {
        assert_eq!(unit_name("unit-github-runner-0"), "github-runner/0");
        assert_eq!(unit_name("github-runner/0"), "github-runner/0");
        assert!(looks_like_unit("github-runner/12"));
        assert!(!looks_like_unit("JUJU_DISPATCH_PATH=hooks/x ./dispatch"));
    }
}
