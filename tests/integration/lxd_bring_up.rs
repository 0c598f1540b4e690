//! A fresh machine and bad network settings, through the real charm under fake-juju: LXD
//! installed by `snap` at install (a fake `snap` on `PATH` stands in for the store), and
//! every setting that would fence runners off GitHub or clash with the host blocked, naming
//! it, with nothing applied.

use crate::common;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::lxd_gate::{LxdGate, Refuse};
use crate::common::stack::{blocking, Stack};
use github_runner::lxd::NetworkAcl;
use hyper::Method;

/// A fake `snap` that logs its calls and runs `cases` (a shell `case` body on `"$1 $2"`).
fn fake_snap(cases: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let fakes = tempfile::tempdir().expect("tempdir");
    let calls = fakes.path().join("snap.calls");
    let snap = format!(
        "#!/bin/sh\necho \"$*\" >> {calls}\ncase \"$1 $2\" in\n{cases}\nesac\n",
        calls = calls.display()
    );
    std::fs::write(fakes.path().join("snap"), snap).expect("fake snap");
    std::fs::set_permissions(fakes.path().join("snap"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (fakes, calls)
}

/// Deploys on "Ubuntu" with the fake `snap` of `fakes` and LXD looked for in `lxd_dir`.
async fn deploy_on_ubuntu(lxd: &github_runner::lxd::LxdClient, fakes: &Path, lxd_dir: &Path) -> Stack {
    let os_release = common::root().join("etc/os-release");
    let (fakes, lxd_dir) = (fakes.to_path_buf(), lxd_dir.to_path_buf());
    Stack::deploy_with(lxd.clone(), 1, &[], move |juju| {
        std::fs::create_dir_all(os_release.parent().expect("etc")).expect("etc");
        std::fs::write(&os_release, "NAME=Ubuntu\nID=ubuntu\nVERSION_ID=\"24.04\"\n").expect("os-release");
        juju.path_prefix = Some(fakes);
        juju.lxd_dir = Some(lxd_dir);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_on_ubuntu_without_lxd_installs_the_snap_then_brings_runners_up() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let lxd_dir = tempfile::tempdir().expect("tempdir");
    // `snap list lxd` fails (only the 24.04 stub is there, which is no snap); `snap install
    // lxd` makes the daemon appear where the charm looks (the real one, through a symlink).
    let (fakes, calls) = fake_snap(&format!(
        "  'list lxd') exit 1 ;;\n  'install lxd') ln -sf {real} {dir}/unix.socket ;;",
        real = lxd.socket().display(),
        dir = lxd_dir.path().display(),
    ));
    let s = deploy_on_ubuntu(&lxd, fakes.path(), lxd_dir.path()).await;
    s.settle(1).await;
    assert_eq!(
        std::fs::read_to_string(&calls).expect("snap ran"),
        "list lxd\ninstall lxd\n"
    );
    let statuses: Vec<Vec<String>> = blocking(|| s.juju.calls())
        .into_iter()
        .filter(|(tool, _)| tool == "status-set")
        .map(|(_, args)| args)
        .collect();
    assert!(
        statuses
            .iter()
            .any(|a| a.contains(&"maintenance".to_string())
                && a.contains(&"installing LXD: snap install lxd".to_string())),
        "{statuses:?}"
    );
    s.remove();
    let _ = std::fs::remove_file(common::root().join("etc/os-release"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_that_fails_blocks_with_the_command_to_run_by_hand() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let no_lxd = tempfile::tempdir().expect("tempdir");
    // No snap yet, and the store cannot be reached; once `installed` is there, the snap is
    // (so it is refreshed, and that fails too).
    let (fakes, calls) = fake_snap(&format!(
        "  'list lxd') test -e {dir}/installed ;;\n  \
         'install lxd'|'refresh lxd') echo \"error: cannot $1 \\\"lxd\\\": store unreachable\" >&2; exit 1 ;;",
        dir = no_lxd.path().display()
    ));
    let s = deploy_on_ubuntu(&lxd, fakes.path(), no_lxd.path()).await;
    assert_eq!(
        std::fs::read_to_string(&calls).expect("snap ran"),
        "list lxd\ninstall lxd\n".repeat(3),
        "install, config-changed and start each try while there is no LXD at all"
    );
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked", "still saying what to run: {message}");
    assert!(
        message.contains("`snap install lxd` failed")
            && message.contains("store unreachable")
            && message.contains("run it by hand"),
        "{message}"
    );

    // The snap is there but no daemon answers: config-changed waits for it (never refreshes);
    // upgrade-charm refreshes it, and the config-changed after it waits again.
    std::fs::write(no_lxd.path().join("installed"), "").expect("installed");
    std::fs::remove_file(&calls).expect("calls reset");
    s.juju(&["config", "github-runner", "virtual-machines=2"]);
    assert_eq!(std::fs::read_to_string(&calls).expect("snap ran"), "list lxd\n");
    assert_eq!(blocking(|| s.juju.unit_status()).0, "waiting");
    s.juju(&["refresh", "github-runner"]);
    assert_eq!(
        std::fs::read_to_string(&calls).expect("snap ran"),
        "list lxd\nlist lxd\nrefresh lxd\nlist lxd\n"
    );
    let refresh_failed = blocking(|| s.juju.calls()).into_iter().any(|(tool, args)| {
        tool == "status-set" && args[1] == "blocked" && args[3].contains("`snap refresh lxd` failed")
    });
    assert!(refresh_failed, "upgrade-charm said the refresh failed");
    assert_eq!(blocking(|| s.juju.unit_status()).0, "waiting");
    assert!(s.instances().await.is_empty());
    s.remove();
    let _ = std::fs::remove_file(common::root().join("etc/os-release"));
}

/// The model of [`blocked_by`]'s units, known before they are deployed.
const MODEL: &str = "fa4e0000-b10cb10c";

/// Deploys with `extra` options, in [`MODEL`], and returns the unit's status once install is
/// done.
async fn blocked_by(
    lxd: &github_runner::lxd::LxdClient,
    extra: &[&str],
    customize: impl FnOnce(&mut common::Juju),
) -> (Stack, String) {
    let fixed = |j: &mut common::Juju| {
        customize(j);
        j.env.push(("FAKE_JUJU_MODEL_UUID".into(), MODEL.into()));
    };
    let s = Stack::deploy_with(lxd.clone(), 1, extra, fixed).await;
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked", "{message}\n{}", blocking(|| s.juju.debug_log()));
    assert!(
        s.instances().await.is_empty(),
        "no runner without its network and firewall"
    );
    (s, message)
}

/// [`blocked_by`] with the unit's LXD behind a gate refusing what `refuse` names; the gate
/// lives as long as it is held.
async fn blocked_through(lxd: &github_runner::lxd::LxdClient, refuse: Refuse) -> (Stack, String, LxdGate) {
    let gate = LxdGate::start(lxd.socket(), refuse);
    let lxd_dir = gate.lxd_dir();
    let (s, message) = blocked_by(lxd, &[], move |juju| juju.lxd_dir = Some(lxd_dir)).await;
    (s, message, gate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_network_settings_block_naming_the_cause_and_change_nothing() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    common::reset(&lxd).await;
    let names = common::names_in(MODEL);

    let (s, message) = blocked_by(&lxd, &["denylist=10.152.0.0/24"], |_| {}).await;
    assert!(
        message.contains("`denylist` entry 10.152.0.0/24 covers GitHub"),
        "{message}"
    );
    assert!(
        lxd.network_acl(names.acl.as_str()).await.expect("asked").is_none(),
        "no firewall half made"
    );
    s.remove();

    let (s, message) = blocked_by(&lxd, &["runner-subnet=10.152.0.0/24"], |_| {}).await;
    assert!(
        message.contains("config `runner-subnet` 10.152.0.0/24 cannot be used: the host already routes 10.152.0.0/24"),
        "{message}"
    );
    assert!(lxd.network(names.bridge.as_str()).await.expect("asked").is_none());
    s.remove();

    let config = [
        ("ipv4.address", "10.74.0.1/24"),
        ("ipv4.nat", "false"),
        ("ipv6.address", "none"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    lxd.create_network(names.bridge.as_str(), "bridge", "someone else's", &config)
        .await
        .expect("a foreign bridge");
    let before = common::lxd_raw(&lxd, &format!("/1.0/networks/{}", names.bridge.as_str())).await;
    let (s, message) = blocked_by(&lxd, &[], |_| {}).await;
    assert!(
        message.contains(&format!(
            "LXD network `{}` exists and was not made by this charm",
            names.bridge
        )),
        "{message}"
    );
    assert!(
        lxd.network_acl(names.acl.as_str()).await.expect("asked").is_none(),
        "the bridge's name was checked before its firewall was made"
    );
    s.remove();
    assert_eq!(
        common::lxd_raw(&lxd, &format!("/1.0/networks/{}", names.bridge.as_str())).await,
        before
    );
    common::reset(&lxd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firewall_lxd_refuses_or_a_foreign_acl_blocks_and_nothing_is_made() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    common::reset(&lxd).await;
    let names = common::names_in(MODEL);

    // LXD's own words for a rule it will not program, from its ACL validation.
    let (s, message, gate) = blocked_through(&lxd, |method, path| {
        (method == Method::POST && path == "/1.0/network-acls")
            .then_some("Invalid egress rule 0: Invalid destination: firewall driver does not support it")
    })
    .await;
    assert!(
        message.starts_with(&format!(
            "LXD refused the runners' firewall (network ACL `{}`): Invalid egress rule 0: Invalid destination",
            names.acl
        )) && message.ends_with("no runner is created without it"),
        "{message}"
    );
    assert!(
        lxd.network(names.bridge.as_str()).await.expect("asked").is_none(),
        "no bridge without its firewall"
    );
    assert!(lxd
        .profile(names.runner_profile.as_str())
        .await
        .expect("asked")
        .is_none());
    s.remove();
    drop(gate);

    // The bridge refused once its firewall is made: the firewall is taken back.
    let (s, message, gate) = blocked_through(&lxd, |method, path| {
        (method == Method::POST && path == "/1.0/networks").then_some("Failed creating bridge: operation not permitted")
    })
    .await;
    assert!(
        message.contains(&format!(
            "LXD refused the runners' bridge `{}`: Failed creating bridge",
            names.bridge
        )),
        "{message}"
    );
    assert!(
        lxd.network_acl(names.acl.as_str()).await.expect("asked").is_none(),
        "no firewall left for a bridge that is not there"
    );
    s.remove();
    drop(gate);

    lxd.create_network_acl(&NetworkAcl {
        name: names.acl.as_str().into(),
        description: "someone else's".into(),
        ..NetworkAcl::default()
    })
    .await
    .expect("a foreign ACL");
    let (s, message) = blocked_by(&lxd, &[], |_| {}).await;
    assert!(
        message.contains(&format!(
            "LXD network ACL `{}` exists and was not made by this charm",
            names.acl
        )),
        "{message}"
    );
    assert!(lxd.network(names.bridge.as_str()).await.expect("asked").is_none());
    let acl = lxd
        .network_acl(names.acl.as_str())
        .await
        .expect("asked")
        .expect("still there");
    assert_eq!(acl.description, "someone else's", "the foreign ACL is left as it was");
    s.remove();
    lxd.delete_network_acl(names.acl.as_str()).await.expect("deleted");
}
