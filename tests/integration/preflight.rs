//! A runner that cannot start in its image is never registered: on `runner-bare` (the busybox
//! image without ICU, where the real runner's .NET aborts, and so does the stub), the creation
//! stops before GitHub is asked for anything, leaves no instance, and the unit blocks saying
//! why. The same stack on `runner-test` (ICU present) runs its runner: the image makes the
//! difference.

use crate::common;
use crate::common::stack::{blocking, Stack, PREFIX};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_without_libicu_blocks_with_the_reason_and_registers_nothing() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let s = Stack::deploy_with(lxd.clone(), 1, &["base-image=runner-bare"], |_| {}).await;

    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked", "{message}");
    assert!(
        message.contains("the runner cannot start in this image: the image lacks libicu"),
        "{message}"
    );
    assert!(s.registered().is_empty(), "nothing registered on GitHub");
    assert!(s.emulator.world().jit_configs.is_empty(), "no JIT config was asked for");
    assert!(
        !s.instances().await.iter().any(|n| n.starts_with(PREFIX)),
        "the failed runner's instance is gone"
    );

    s.juju(&["config", "github-runner", "base-image=runner-test"]);
    s.settle(1).await;
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!((status.as_str(), message.as_str()), ("active", "1/1 runners"));
    s.remove();
}
