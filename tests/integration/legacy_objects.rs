//! An upgrade from a release whose LXD objects were machine-wide (`github-runners`, `runner`):
//! the first application to set LXD up takes them for its own, so its runners stay on the
//! same bridge (nothing re-plugged, busy jobs unharmed); another application on the machine
//! makes its own set beside them.

use std::collections::BTreeMap;

use crate::common;
use crate::common::stack::{blocking, Stack};
use github_runner::lxd::NetworkAcl;
use github_runner::lxd_setup::{firewall, Names, CLAIM_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_application_after_an_upgrade_keeps_the_old_objects_and_another_makes_its_own() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    common::reset(&lxd).await;
    // What an earlier release left: its firewall, then its bridge, marked as the charm's.
    let legacy = Names::legacy();
    let owner = BTreeMap::from([(firewall::OWNER_KEY.to_string(), "true".to_string())]);
    lxd.create_network_acl(&NetworkAcl {
        name: legacy.acl.clone(),
        config: owner.clone(),
        ..NetworkAcl::default()
    })
    .await
    .expect("the old ACL");
    let subnet = github_runner::config::Ipv4Net::parse("10.73.0.0/24").expect("subnet");
    let old_bridge = firewall::network_config(&subnet, &legacy.acl);
    lxd.create_network(&legacy.bridge, "bridge", "an earlier release's", &old_bridge)
        .await
        .expect("the old bridge");

    let s = Stack::deploy_onto(lxd.clone(), 1, &[], |_| {}).await;
    s.settle(1).await;
    let own = s.juju.names();
    let bridge = lxd.network(&legacy.bridge).await.expect("asked").expect("kept");
    assert_eq!(
        bridge.config.get(CLAIM_KEY),
        Some(&own.bridge["ghr-".len()..].to_string()),
        "claimed by the application's tag"
    );
    assert!(
        lxd.network(&own.bridge).await.expect("asked").is_none(),
        "no second bridge"
    );
    let runner = s.instances().await.into_iter().next().expect("a runner");
    let instance = common::lxd_raw(&lxd, &format!("/1.0/instances/{runner}")).await;
    assert_eq!(
        instance["devices"]["eth0"]["network"],
        legacy.bridge.as_str(),
        "on the old bridge"
    );
    assert!(instance["profiles"]
        .as_array()
        .expect("profiles")
        .contains(&legacy.runner_profile.clone().into()));

    // Another application here makes its own objects, on its own subnet, and leaves these be.
    let before = common::lxd_raw(&lxd, &format!("/1.0/network-acls/{}", legacy.acl)).await;
    let other = common::stack::unit_on(&lxd);
    let config = common::stack::config(&s.emulator, 1);
    let config: Vec<&str> = config
        .iter()
        .map(String::as_str)
        .chain(["runner-subnet=10.74.0.0/24", "denylist=10.153.0.0/24"])
        .collect();
    blocking(|| other.deploy(&config));
    let theirs = other.names();
    let (status, message) = blocking(|| other.unit_status());
    assert_eq!(status, "active", "{message}");
    assert!(
        lxd.network(&theirs.bridge).await.expect("asked").is_some(),
        "its own bridge"
    );
    assert_eq!(
        common::lxd_raw(&lxd, &format!("/1.0/network-acls/{}", legacy.acl)).await,
        before
    );
    blocking(|| other.ok(&["remove-unit", "github-runner/0"]));
    s.remove();
    assert!(
        lxd.network(&legacy.bridge).await.expect("asked").is_none(),
        "gone with its unit"
    );
}
