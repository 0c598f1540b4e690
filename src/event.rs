//! Which event this process was started for.
//!
//! Owns the dispatch rules (DESIGN §3): `JUJU_DISPATCH_PATH` (`hooks/<name>`,
//! `actions/<name>`, or a bare custom name such as `reconcile-runners`, which timer units
//! written by the original charm still use) → else `JUJU_ACTION_NAME` → else `JUJU_HOOK_NAME`
//! → else `basename(argv[0])`. It only names the event; it does not run anything.

use std::path::Path;

/// The hooks this charm handles. Any other hook name is [`Event::Unhandled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Install,
    Start,
    Stop,
    ConfigChanged,
    UpgradeCharm,
    UpdateStatus,
    /// The unit is about to be deleted: the last hook it runs.
    Remove,
    /// The custom event the reconcile timer dispatches through `juju-exec`.
    ReconcileRunners,
    /// A secret the charm reads (`token-secret-id`) has a new revision.
    SecretChanged,
    /// `cos-agent-relation-created`, `-joined` or `-changed`: the relation wants its data.
    CosAgentChanged,
    /// `runner-peers-relation-joined` or `-departed`: the application gained or lost a unit,
    /// so this unit's share of the queued jobs changed.
    PeersChanged,
}

/// The actions of `actions.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CheckRunners,
    ReconcileRunners,
    FlushRunners,
    UpdateDependencies,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Hook(Hook),
    Action(Action),
    /// An action Juju ran that this charm does not declare: it must fail, not succeed.
    UnknownAction(String),
    /// A hook (or custom event) this charm has nothing to do for: exit 0.
    Unhandled(String),
    /// No event at all (e.g. `./dispatch` run by hand with an empty environment).
    None,
}

/// Where the process learns its event from; `std::env` in production, a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Event {
    /// Decides the event from the environment and `argv[0]`.
    pub fn detect(env: &impl Env, argv0: &str) -> Event {
        if let Some(path) = env.var("JUJU_DISPATCH_PATH") {
            return Event::from_dispatch_path(&path);
        }
        if let Some(action) = env.var("JUJU_ACTION_NAME") {
            return Event::action(&action);
        }
        if let Some(hook) = env.var("JUJU_HOOK_NAME") {
            return Event::hook(&hook);
        }
        match Path::new(argv0).file_name().and_then(|n| n.to_str()) {
            Some("dispatch") | None => Event::None,
            Some(name) => Event::hook(name),
        }
    }

    /// `hooks/x` and bare `x` are hooks or custom events; `actions/x` is an action. Only the
    /// last component and whether its parent is `actions` matter, as in ops.
    fn from_dispatch_path(path: &str) -> Event {
        let path = Path::new(path);
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Event::None;
        };
        let parent = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str());
        if parent == Some("actions") {
            Event::action(name)
        } else {
            Event::hook(name)
        }
    }

    fn hook(name: &str) -> Event {
        let hook = match name {
            "install" => Hook::Install,
            "start" => Hook::Start,
            "stop" => Hook::Stop,
            "config-changed" => Hook::ConfigChanged,
            "upgrade-charm" => Hook::UpgradeCharm,
            "update-status" => Hook::UpdateStatus,
            "remove" => Hook::Remove,
            "reconcile-runners" => Hook::ReconcileRunners,
            "secret-changed" => Hook::SecretChanged,
            "cos-agent-relation-created" | "cos-agent-relation-joined" | "cos-agent-relation-changed" => {
                Hook::CosAgentChanged
            }
            "runner-peers-relation-joined" | "runner-peers-relation-departed" => Hook::PeersChanged,
            other => return Event::Unhandled(other.to_string()),
        };
        Event::Hook(hook)
    }

    fn action(name: &str) -> Event {
        let action = match name {
            "check-runners" => Action::CheckRunners,
            "reconcile-runners" => Action::ReconcileRunners,
            "flush-runners" => Action::FlushRunners,
            "update-dependencies" => Action::UpdateDependencies,
            other => return Event::UnknownAction(other.to_string()),
        };
        Event::Action(action)
    }
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Install => "install",
            Hook::Start => "start",
            Hook::Stop => "stop",
            Hook::ConfigChanged => "config-changed",
            Hook::UpgradeCharm => "upgrade-charm",
            Hook::UpdateStatus => "update-status",
            Hook::Remove => "remove",
            Hook::ReconcileRunners => "reconcile-runners",
            Hook::SecretChanged => "secret-changed",
            Hook::CosAgentChanged => "cos-agent-relation-changed",
            Hook::PeersChanged => "runner-peers-relation-changed",
        }
    }
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::CheckRunners => "check-runners",
            Action::ReconcileRunners => "reconcile-runners",
            Action::FlushRunners => "flush-runners",
            Action::UpdateDependencies => "update-dependencies",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);

    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).filter(|v| !v.is_empty()).map(|v| v.to_string())
        }
    }

    fn detect(vars: &[(&'static str, &'static str)], argv0: &str) -> Event {
        Event::detect(&MapEnv(vars.iter().copied().collect()), argv0)
    }

    #[test]
    fn dispatch_path_with_hooks_prefix_names_the_hook() {
        let event = detect(&[("JUJU_DISPATCH_PATH", "hooks/config-changed")], "./dispatch");
        assert_eq!(event, Event::Hook(Hook::ConfigChanged));
    }

    #[test]
    fn dispatch_path_under_actions_names_the_action() {
        let event = detect(
            &[("JUJU_DISPATCH_PATH", "actions/flush-runners"), ("JUJU_HOOK_NAME", "")],
            "./dispatch",
        );
        assert_eq!(event, Event::Action(Action::FlushRunners));
    }

    #[test]
    fn bare_custom_name_from_old_timer_units_is_the_reconcile_event() {
        let event = detect(&[("JUJU_DISPATCH_PATH", "reconcile-runners")], "./dispatch");
        assert_eq!(event, Event::Hook(Hook::ReconcileRunners));
    }

    #[test]
    fn dispatch_path_wins_over_every_other_source() {
        let event = detect(
            &[
                ("JUJU_DISPATCH_PATH", "hooks/stop"),
                ("JUJU_ACTION_NAME", "check-runners"),
                ("JUJU_HOOK_NAME", "install"),
            ],
            "hooks/start",
        );
        assert_eq!(event, Event::Hook(Hook::Stop));
    }

    #[test]
    fn action_name_is_used_when_there_is_no_dispatch_path() {
        let event = detect(
            &[("JUJU_ACTION_NAME", "check-runners"), ("JUJU_HOOK_NAME", "install")],
            "./dispatch",
        );
        assert_eq!(event, Event::Action(Action::CheckRunners));
    }

    #[test]
    fn hook_name_is_used_before_argv0() {
        let event = detect(&[("JUJU_HOOK_NAME", "update-status")], "hooks/start");
        assert_eq!(event, Event::Hook(Hook::UpdateStatus));
    }

    #[test]
    fn argv0_basename_is_the_legacy_fallback() {
        assert_eq!(
            detect(&[], "/var/lib/juju/agents/unit-x-0/charm/hooks/upgrade-charm"),
            Event::Hook(Hook::UpgradeCharm)
        );
    }

    #[test]
    fn dispatch_itself_without_environment_is_no_event() {
        assert_eq!(detect(&[], "./dispatch"), Event::None);
    }

    #[test]
    fn unknown_hooks_and_relation_hooks_are_unhandled() {
        assert_eq!(
            detect(&[("JUJU_DISPATCH_PATH", "hooks/leader-elected")], "./dispatch"),
            Event::Unhandled("leader-elected".into())
        );
        assert_eq!(
            detect(
                &[("JUJU_DISPATCH_PATH", "hooks/cos-agent-relation-broken")],
                "./dispatch"
            ),
            Event::Unhandled("cos-agent-relation-broken".into())
        );
        for path in [
            "hooks/cos-agent-relation-created",
            "hooks/cos-agent-relation-joined",
            "hooks/cos-agent-relation-changed",
        ] {
            assert_eq!(
                detect(&[("JUJU_DISPATCH_PATH", path)], "./dispatch"),
                Event::Hook(Hook::CosAgentChanged)
            );
        }
    }

    #[test]
    fn undeclared_action_is_unknown_so_it_can_fail() {
        assert_eq!(
            detect(&[("JUJU_DISPATCH_PATH", "actions/backup")], "./dispatch"),
            Event::UnknownAction("backup".into())
        );
    }
}
