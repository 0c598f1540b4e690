//! The probe charm under a real `fake-juju` controller, shared by the fake's test files: a
//! tiny charm whose `dispatch` runs `hook.sh`, which each test writes, for every hook.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fake-juju");

const METADATA: &str = "name: probe
summary: s
description: d
provides:
  cos-agent:
    interface: cos_agent
requires:
  db:
    interface: mysql
peers:
  ring:
    interface: probe-ring
";

pub struct Model {
    pub dir: tempfile::TempDir,
}

impl Model {
    /// Deploys the probe charm; its hooks do nothing until a test writes `hook.sh`.
    pub fn deploy() -> Model {
        let dir = tempfile::tempdir().expect("tempdir");
        let charm = dir.path().join("charm");
        std::fs::create_dir_all(&charm).expect("mkdir");
        std::fs::write(charm.join("metadata.yaml"), METADATA).expect("write");
        std::fs::write(
            charm.join("config.yaml"),
            "options:\n  name:\n    type: string\n    default: x\n  count:\n    type: int\n    default: 1\n  mode:\n    type: string\n",
        )
        .expect("write");
        std::fs::write(
            charm.join("actions.yaml"),
            "go:\n  description: d\n  params:\n    n:\n      type: integer\n      default: 3\n  additionalProperties: false\n",
        )
        .expect("write");
        let dispatch = charm.join("dispatch");
        std::fs::write(
            &dispatch,
            "#!/bin/sh\n[ -f ./hook.sh ] && exec /bin/sh ./hook.sh\nexit 0\n",
        )
        .expect("write");
        std::fs::set_permissions(&dispatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let model = Model { dir };
        let out = model.juju(&["deploy", charm.to_str().expect("utf-8")]);
        assert!(out.status.success(), "deploy: {}", String::from_utf8_lossy(&out.stderr));
        model
    }

    pub fn charm(&self) -> PathBuf {
        self.dir.path().join("charm")
    }

    pub fn model(&self) -> PathBuf {
        self.dir.path().join("model")
    }

    pub fn juju(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("FAKE_JUJU_MODEL", self.model())
            .env("GITHUB_RUNNER_ROOT", self.dir.path().join("root"))
            .env_remove("JUJU_CONTEXT_ID")
            .output()
            .expect("fake-juju runs")
    }

    /// Runs `fake-juju <args>`, insists it succeeds, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.juju(args);
        assert!(
            out.status.success(),
            "fake-juju {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes the script every later hook runs.
    pub fn on_every_hook(&self, script: &str) {
        std::fs::write(self.charm().join("hook.sh"), script).expect("write hook");
    }

    /// Runs `script` as the charm's `update-status` hook and returns what it wrote to `out`.
    pub fn hook(&self, script: &str) -> (bool, String) {
        self.on_every_hook(script);
        let _ = std::fs::remove_file(self.charm().join("out"));
        let out = self.juju(&["run-hook", "probe/0", "update-status"]);
        let written = std::fs::read_to_string(self.charm().join("out")).unwrap_or_default();
        (out.status.success(), written)
    }

    /// What the hooks appended to `out` in the charm directory.
    pub fn out(&self) -> String {
        std::fs::read_to_string(self.charm().join("out")).unwrap_or_default()
    }

    pub fn status(&self) -> Value {
        let out = self.juju(&["status", "--format=json"]);
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }

    /// `show-unit probe/0 --format=json`, the unit's entry.
    pub fn show_unit(&self) -> Value {
        let shown: Value = serde_json::from_str(&self.ok(&["show-unit", "probe/0", "--format=json"])).expect("JSON");
        shown["probe/0"].clone()
    }
}

/// A shell line that runs `cmd` and appends `stdout`, `stderr` and the exit code to `out`.
pub fn probe(cmd: &str) -> String {
    format!("{cmd} >o 2>e; echo \"rc=$? out=$(cat o) err=$(cat e)\" >> out\n")
}
