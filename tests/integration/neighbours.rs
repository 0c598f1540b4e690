//! Two units with the same application and unit names in two models, against one
//! organisation (the same GitHub, the same LXD), each with its own `runner-subnet` and
//! `denylist`: they scale up and down in turn, ten rounds each, and neither ever removes a
//! registration or an instance of the other, nor changes the other's bridge or firewall.

use crate::common;
use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::stack::blocking;
use crate::common::Juju;
use github_runner::lxd::LxdClient;

/// The model tag in this unit's runner names (`github-runner-0-<tag>-<hex>`).
fn tag(name: &str) -> &str {
    &name["github-runner-0-".len()..name.len() - 9]
}

struct Seen {
    instances: BTreeSet<String>,
    /// Registration ids and names.
    registrations: BTreeSet<(u64, String)>,
}

async fn seen(lxd: &LxdClient, emulator: &fake_github::Emulator, model_tag: &str) -> Seen {
    let instances = lxd
        .instances()
        .await
        .expect("instances")
        .into_iter()
        .map(|i| i.name)
        .filter(|n| n.starts_with("github-runner-0-") && tag(n) == model_tag)
        .collect();
    let w = emulator.world();
    let registrations = w
        .runners
        .values()
        .filter(|r| r.name.starts_with("github-runner-0-") && tag(&r.name) == model_tag)
        .map(|r| (r.id, r.name.clone()))
        .collect();
    Seen {
        instances,
        registrations,
    }
}

fn unit(emulator: &fake_github::Emulator, lxd: &LxdClient, extra: &[&str]) -> Juju {
    let juju = common::stack::unit_on(lxd);
    let config = common::stack::config(emulator, 1);
    let config: Vec<&str> = config.iter().map(String::as_str).chain(extra.iter().copied()).collect();
    blocking(|| juju.deploy(&config));
    juju
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_models_with_the_same_unit_names_never_touch_each_other_s_runners_bridge_or_firewall() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let emulator = common::emulator_in_test_host().await;
    for dir in ["etc", "var"] {
        let _ = std::fs::remove_dir_all(common::root().join(dir));
    }
    let a = unit(&emulator, &lxd, &[]);
    common::eventually("a's runner", Duration::from_secs(30), async || {
        lxd.instances()
            .await
            .expect("instances")
            .iter()
            .any(|i| i.name.starts_with("github-runner-0-"))
    })
    .await;
    let name_a = lxd
        .instances()
        .await
        .expect("instances")
        .into_iter()
        .map(|i| i.name)
        .find(|n| n.starts_with("github-runner-0-"))
        .expect("a's runner");
    let tag_a = tag(&name_a).to_string();
    let b = unit(
        &emulator,
        &lxd,
        &["runner-subnet=10.74.0.0/24", "denylist=10.153.0.0/24"],
    );
    let tag_b = lxd
        .instances()
        .await
        .expect("instances")
        .into_iter()
        .map(|i| i.name)
        .filter(|n| n.starts_with("github-runner-0-"))
        .map(|n| tag(&n).to_string())
        .find(|t| *t != tag_a)
        .expect("b's runner");
    // Each has its bridge, firewall and packet filter; their snapshots, to compare at the end
    // (once a's firewall knows b's bridge's address: every host address is refused).
    blocking(|| a.ok(&["tick"]));
    let (names_a, names_b) = (a.names(), b.names());
    assert_ne!(names_a.bridge, names_b.bridge);
    let objects = |names: &github_runner::lxd_setup::Names| {
        [
            format!("/1.0/networks/{}", names.bridge),
            format!("/1.0/network-acls/{}", names.acl),
            format!("/1.0/profiles/{}", names.runner_profile),
        ]
    };
    let mut snapshots = Vec::new();
    for path in objects(&names_a).into_iter().chain(objects(&names_b)) {
        let mut value = common::lxd_raw(&lxd, &path).await;
        value["used_by"] = serde_json::Value::Null; // the runners come and go
        snapshots.push((path, value));
    }
    let acl_b = &snapshots[4].1;
    assert!(acl_b.to_string().contains("10.153.0.0/24"), "b's denylist: {acl_b}");
    assert!(
        !snapshots[1].1.to_string().contains("10.153.0.0/24"),
        "not in a's firewall"
    );
    assert_eq!(snapshots[3].1["config"]["ipv4.address"], "10.74.0.1/24");
    let targets = [3, 1, 2, 0, 3, 2, 1, 3, 0, 2];
    let units = [(&a, &tag_a, &tag_b), (&b, &tag_b, &tag_a)];
    for (round, target) in targets.iter().enumerate() {
        for (i, (juju, mine, theirs)) in units.iter().enumerate() {
            let target = (target + i) % 4;
            let before = seen(&lxd, &emulator, theirs).await;
            emulator.world().log.clear();
            blocking(|| juju.ok(&["config", "github-runner", &format!("virtual-machines={target}")]));
            blocking(|| juju.ok(&["tick"]));
            let after = seen(&lxd, &emulator, theirs).await;
            assert!(
                after.instances.is_superset(&before.instances),
                "round {round}: {mine} removed instances of {theirs}: {:?}",
                before.instances.difference(&after.instances).collect::<Vec<_>>()
            );
            assert!(
                after.registrations.is_superset(&before.registrations),
                "round {round}: {mine} removed registrations of {theirs}"
            );
            let deleted: Vec<String> = emulator
                .requests()
                .into_iter()
                .filter(|r| r.method == "DELETE")
                .map(|r| r.path)
                .collect();
            for path in deleted {
                let id: u64 = path
                    .rsplit('/')
                    .next()
                    .and_then(|i| i.parse().ok())
                    .expect("a runner id");
                assert!(
                    !before.registrations.iter().any(|(theirs_id, _)| *theirs_id == id),
                    "round {round}: {mine} deleted registration {id} of {theirs}"
                );
            }
        }
    }
    for (path, before) in &snapshots {
        let mut now = common::lxd_raw(&lxd, path).await;
        now["used_by"] = serde_json::Value::Null;
        assert_eq!(&now, before, "{path} changed while the other unit scaled");
    }
    for juju in [&a, &b] {
        blocking(|| juju.ok(&["remove-unit", "github-runner/0"]));
    }
    assert!(seen(&lxd, &emulator, &tag_a).await.instances.is_empty());
    assert!(seen(&lxd, &emulator, &tag_b).await.instances.is_empty());
}

/// The original charm names its runners `<app>-<unit>-<24 hex>`: in another model, its unit
/// with the same names makes the same shape. Such a name is this unit's only where its
/// instance is on this machine (an upgrade from the original charm cleans those up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_charm_runner_of_another_model_survives_and_one_on_this_machine_goes() {
    let Some((_one, s)) = crate::common::stack::stack(1).await else {
        return;
    };
    s.settle(1).await;
    let theirs = "github-runner-0-0123456789abcdef01234567";
    let ours = "github-runner-0-89abcdef0123456789abcdef";
    {
        let mut world = s.emulator.world();
        for name in [theirs, ours] {
            let id = world.add_runner(fake_github::NewRunner::named(name)).expect("seeded");
            world.runners.get_mut(&id).expect("seeded").pinned_online = true;
        }
    }
    s.lxd
        .create_instance(&common::container(ours, common::TEST_IMAGE))
        .await
        .expect("the original charm's instance, left on this machine");
    for _ in 0..3 {
        s.juju(&["tick"]);
    }
    let registered: BTreeSet<String> = s
        .registered()
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    assert!(registered.contains(theirs), "online, idle, another model's: kept");
    assert!(!registered.contains(ours), "this machine's: cleaned up");
    assert!(s.lxd.instance(ours).await.expect("asked").is_none(), "its instance too");
    s.remove();
}
