//! The packed `.charm`s have the layout Juju needs and charmcraft makes: one per platform of
//! `charmcraft.yaml`, an executable `dispatch` (no hooks/: Juju 2.8+ dispatches every event
//! to it), metadata made from `charmcraft.yaml`, config, actions, manifest and templates.
//! `scripts/check-charmcraft` compares them with charmcraft itself.

use crate::common;
use std::io::Read;

/// The `.charm` files `scripts/pack` wrote beside the charm directory.
fn packed() -> Vec<std::path::PathBuf> {
    let out = common::charm_dir().parent().expect("out dir");
    let mut charms: Vec<_> = std::fs::read_dir(out)
        .expect("out dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "charm"))
        .collect();
    charms.sort();
    charms
}

fn read(zip: &mut zip::ZipArchive<std::fs::File>, name: &str) -> String {
    let mut text = String::new();
    zip.by_name(name)
        .unwrap_or_else(|_| panic!("{name} missing"))
        .read_to_string(&mut text)
        .expect("text");
    text
}

#[test]
fn one_charm_per_ubuntu_lts_each_holding_what_juju_reads() {
    let charms = packed();
    let names: Vec<String> = charms
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(
        names,
        [
            format!("github-runner_ubuntu@22.04-{arch}.charm"),
            format!("github-runner_ubuntu@24.04-{arch}.charm")
        ]
    );
    for (path, channel) in charms.iter().zip(["22.04", "24.04"]) {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("a zip");
        let mut files: Vec<String> = zip.file_names().map(|n| n.expect("a name").to_string()).collect();
        files.sort();
        assert!(
            files.iter().all(|f| !f.starts_with("hooks/")),
            "no hook copies: {files:?}"
        );
        for file in [
            "actions.yaml",
            "config.yaml",
            "dispatch",
            "manifest.yaml",
            "metadata.yaml",
        ] {
            assert!(files.contains(&file.to_string()), "{file} in {files:?}");
        }
        assert!(files.contains(&"templates/dispatch-event.service.j2".to_string()));
        for i in 0..zip.len() {
            let entry = zip.by_index(i).expect("entry");
            let name = entry.name().expect("a name").to_string();
            let mode = entry.unix_mode().expect("unix mode");
            let expected = if name == "dispatch" { 0o100755 } else { 0o100644 };
            assert_eq!(mode & 0o170777, expected, "{name}: {mode:o}");
        }
        let manifest: serde_yaml::Value = serde_yaml::from_str(&read(&mut zip, "manifest.yaml")).expect("yaml");
        assert_eq!(manifest["bases"][0]["name"], "ubuntu");
        assert_eq!(manifest["bases"][0]["channel"], channel);
        assert_eq!(manifest["bases"][0]["architectures"][0], arch);
        let metadata: serde_yaml::Value = serde_yaml::from_str(&read(&mut zip, "metadata.yaml")).expect("yaml");
        assert_eq!(metadata["name"], "github-runner");
        assert_eq!(metadata["display-name"], "GitHub runner");
        assert_eq!(metadata["assumes"][0], "juju >= 2.9");
        assert_eq!(metadata["provides"]["cos-agent"]["interface"], "cos_agent");
        assert!(metadata.get("series").is_none());
    }
}

#[test]
fn a_binary_needing_a_newer_glibc_than_ubuntu_22_04_s_is_refused() {
    let out = tempfile::tempdir().expect("tempdir");
    // objdump, as binutils' would answer for a binary built on a newer system.
    let bin = out.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let objdump = bin.join("objdump");
    std::fs::write(&objdump, "#!/bin/sh\necho '0000 DF *UND* 0000 (GLIBC_2.38) memcpy'\n").expect("write");
    std::fs::set_permissions(&objdump, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = std::process::Command::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pack"))
        .args(["--binary", env!("CARGO_BIN_EXE_github-runner"), "--out"])
        .arg(out.path().join("charm"))
        .env("PATH", path)
        .output()
        .expect("scripts/pack runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs glibc 2.38, newer than Ubuntu 22.04's"),
        "{stderr}"
    );
    assert!(!out.path().join("charm").exists(), "nothing packed");
}

#[test]
fn packing_twice_gives_the_same_bytes() {
    let out = tempfile::tempdir().expect("tempdir");
    let pack = |dir: &str| {
        let status = std::process::Command::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pack"))
            .args(["--binary", env!("CARGO_BIN_EXE_github-runner"), "--out"])
            .arg(out.path().join(dir))
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("scripts/pack runs");
        assert!(status.success());
        let name = format!(
            "github-runner_ubuntu@24.04-{}.charm",
            std::env::consts::ARCH.replace("x86_64", "amd64")
        );
        std::fs::read(out.path().join(dir).join(name)).expect("the charm")
    };
    let first = pack("a");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(first == pack("b"), "the same sources and epoch give the same .charm");
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
