//! A host reboot, as the unit sees it afterwards: its ephemeral runners stopped (and so
//! deleted by LXD) and the RAM disk gone (a tmpfs does not survive); the next hook makes the
//! RAM disk and the pool on it again and brings the runners back to the target.

use crate::common;
use std::time::Duration;

use crate::common::stack::{blocking, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reboot_the_next_tick_rebuilds_the_ram_disk_and_the_runners() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    for name in s.instances().await {
        let _ = s.lxd.stop_instance(&name, Duration::from_secs(5)).await;
    }
    common::eventually("the runners are gone", Duration::from_secs(30), async || {
        s.instances().await.is_empty()
    })
    .await;
    let ram = s.juju.root().join(s.juju.names().ram_disk.trim_start_matches('/'));
    let out = std::process::Command::new("umount").arg(&ram).output().expect("umount");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    s.juju(&["tick"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("active", "2/2 runners"),
        "{}",
        blocking(|| s.juju.debug_log())
    );
    s.settle(2).await;
    s.remove();
}
