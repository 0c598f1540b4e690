//! The packed `.charm` has the layout Juju needs: an executable `dispatch`, hooks kept as
//! relative symlinks to it, metadata, config, actions, manifest and templates.

use crate::common;
use std::io::Read;

#[test]
fn the_charm_zip_holds_what_juju_reads() {
    let charm_dir = common::charm_dir();
    let zip_path = std::fs::read_dir(charm_dir.parent().expect("out dir"))
        .expect("out dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "charm"))
        .expect("a .charm file");
    let name = zip_path.file_name().expect("name").to_string_lossy().into_owned();
    assert!(name.starts_with("github-runner_ubuntu-22.04-"), "{name}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).expect("open")).expect("a zip");
    let mode = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str| {
        zip.by_name(name)
            .unwrap_or_else(|_| panic!("{name} missing"))
            .unix_mode()
            .expect("unix mode")
    };
    assert_eq!(
        mode(&mut zip, "dispatch") & 0o170777,
        0o100755,
        "dispatch is an executable file"
    );
    for file in [
        "metadata.yaml",
        "config.yaml",
        "actions.yaml",
        "manifest.yaml",
        "templates/dispatch-event.service.j2",
    ] {
        assert_eq!(mode(&mut zip, file) & 0o170000, 0o100000, "{file} is a file");
    }
    for hook in [
        "install",
        "start",
        "stop",
        "remove",
        "config-changed",
        "upgrade-charm",
        "update-status",
        "reconcile-runners",
    ] {
        let path = format!("hooks/{hook}");
        assert_eq!(mode(&mut zip, &path) & 0o170000, 0o120000, "{path} is a symlink");
        let mut target = String::new();
        zip.by_name(&path)
            .expect("hook")
            .read_to_string(&mut target)
            .expect("target");
        assert_eq!(target, "../dispatch");
    }
    let mut manifest = String::new();
    zip.by_name("manifest.yaml")
        .expect("manifest")
        .read_to_string(&mut manifest)
        .expect("text");
    let manifest: serde_yaml::Value = serde_yaml::from_str(&manifest).expect("yaml");
    assert_eq!(manifest["bases"][0]["name"], "ubuntu");
    assert_eq!(manifest["bases"][0]["channel"], "22.04");
}

#[test]
fn metadata_declares_the_cos_agent_endpoint_and_no_series() {
    let metadata: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../metadata.yaml")).expect("metadata.yaml parses");
    assert_eq!(metadata["name"], "github-runner");
    assert_eq!(metadata["provides"]["cos-agent"]["interface"], "cos_agent");
    assert!(metadata.get("series").is_none());
}

#[test]
fn actions_declare_no_params_and_refuse_unknown_ones() {
    let actions: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../actions.yaml")).expect("actions.yaml parses");
    for name in [
        "check-runners",
        "reconcile-runners",
        "flush-runners",
        "update-dependencies",
    ] {
        assert_eq!(actions[name]["additionalProperties"], false, "{name}");
    }
}
