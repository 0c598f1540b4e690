//! Two units with the same application and unit names in two models, against one
//! organisation (the same GitHub, the same LXD): they scale up and down in turn, ten rounds
//! each, and neither ever removes a registration or an instance of the other.

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

fn unit(emulator: &fake_github::Emulator, lxd: &LxdClient) -> Juju {
    let juju = common::stack::unit_on(lxd);
    let config = common::stack::config(emulator, 1);
    let config: Vec<&str> = config.iter().map(String::as_str).collect();
    blocking(|| juju.deploy(&config));
    juju
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_models_with_the_same_unit_names_never_touch_each_other_s_runners() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let emulator = common::emulator_in_test_host().await;
    for dir in ["etc", "var"] {
        let _ = std::fs::remove_dir_all(common::root().join(dir));
    }
    let a = unit(&emulator, &lxd);
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
    let b = unit(&emulator, &lxd);
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
    for juju in [&a, &b] {
        blocking(|| juju.ok(&["remove-unit", "github-runner/0"]));
    }
    assert!(seen(&lxd, &emulator, &tag_a).await.instances.is_empty());
    assert!(seen(&lxd, &emulator, &tag_b).await.instances.is_empty());
}
