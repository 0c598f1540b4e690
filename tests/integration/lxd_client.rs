//! The LXD client against the real daemon (`scripts/lxd-setup.sh`): a container's whole
//! life, failures reported as failures, and no hang over many cycles (research/lxd.md §8).

use crate::common;
use std::collections::BTreeMap;
use std::time::Duration;

use github_runner::lxd::{InstanceSource, InstanceSpec, LxdClient, LxdError};

fn spec(name: &str) -> InstanceSpec {
    InstanceSpec {
        config: BTreeMap::from([("user.test".to_string(), "lxd_client".to_string())]),
        ..common::container(name, common::TEST_IMAGE)
    }
}

async fn cleanup(lxd: &LxdClient, name: &str) {
    if lxd.instance(name).await.ok().flatten().is_some() {
        let _ = lxd.stop_instance(name, Duration::from_secs(5)).await;
        let _ = lxd.delete_instance(name).await;
    }
}

#[tokio::test]
async fn a_container_is_created_started_used_stopped_and_deleted() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let name = common::unique("lxd-life");
    lxd.create_instance(&spec(&name)).await.expect("created");
    let instance = lxd.instance(&name).await.expect("asked").expect("exists");
    assert!(!instance.is_running());
    assert_eq!(instance.config.get("user.test").map(String::as_str), Some("lxd_client"));
    lxd.start_instance(&name, Duration::from_secs(30))
        .await
        .expect("started");
    assert!(lxd.instance(&name).await.expect("asked").expect("exists").is_running());

    lxd.push_file(
        &name,
        "/root/hello.sh",
        b"echo pushed; echo oops >&2; exit 3\n".to_vec(),
        0o700,
    )
    .await
    .expect("pushed");
    let pulled = lxd
        .pull_file(&name, "/root/hello.sh")
        .await
        .expect("pulled")
        .expect("exists");
    assert_eq!(
        pulled, b"echo pushed; echo oops >&2; exit 3\n",
        "not an empty file: the Content-Type is right"
    );
    assert_eq!(lxd.pull_file(&name, "/root/missing").await.expect("asked"), None);

    let out = lxd
        .exec(&name, &["sh", "/root/hello.sh"], &BTreeMap::new())
        .await
        .expect("ran");
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "pushed\n", "oops\n"),
        "a non-zero exit is reported"
    );
    let env = BTreeMap::from([("GREETING".to_string(), "hi".to_string())]);
    let out = lxd
        .exec(&name, &["sh", "-c", "echo $GREETING"], &env)
        .await
        .expect("ran");
    assert!(out.success());
    assert_eq!(out.stdout, "hi\n");

    lxd.stop_instance(&name, Duration::from_secs(10))
        .await
        .expect("stopped");
    lxd.delete_instance(&name).await.expect("deleted");
    assert!(lxd.instance(&name).await.expect("asked").is_none());
}

#[tokio::test]
async fn a_failed_operation_is_an_error_not_a_success() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let name = common::unique("lxd-dup");
    lxd.create_instance(&spec(&name)).await.expect("created");
    // LXD accepts a duplicate name as an async operation, which then fails: the wait
    // answers HTTP 200, and only the operation's status says it failed.
    let err = lxd.create_instance(&spec(&name)).await.expect_err("a duplicate fails");
    assert!(matches!(err, LxdError::OperationFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("already exists"), "{err}");
    cleanup(&lxd, &name).await;
}

#[tokio::test]
async fn an_unknown_image_and_a_missing_command_are_errors_with_lxd_s_message() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let name = common::unique("lxd-bad");
    let mut bad = spec(&name);
    bad.source = InstanceSource::Alias("no-such-image".into());
    let err = lxd.create_instance(&bad).await.expect_err("no image");
    assert!(err.to_string().to_lowercase().contains("not found"), "{err}");

    lxd.create_instance(&spec(&name)).await.expect("created");
    lxd.start_instance(&name, Duration::from_secs(30))
        .await
        .expect("started");
    let err = lxd
        .exec(&name, &["/no/such/command"], &BTreeMap::new())
        .await
        .expect_err("cannot start");
    assert!(err.to_string().contains("Command not found"), "{err}");
    let err = lxd
        .delete_instance(&name)
        .await
        .expect_err("running instances are not deleted");
    assert!(err.to_string().contains("running"), "{err}");
    cleanup(&lxd, &name).await;
}

#[tokio::test]
async fn twenty_create_and_delete_cycles_in_a_row_do_not_hang() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    for _ in 0..20 {
        let name = common::unique("lxd-cycle");
        lxd.create_instance(&spec(&name)).await.expect("created");
        lxd.start_instance(&name, Duration::from_secs(30))
            .await
            .expect("started");
        lxd.stop_instance(&name, Duration::from_secs(5)).await.expect("stopped");
        lxd.delete_instance(&name).await.expect("deleted");
    }
}

/// A command that prints without end, or outlives its deadline, is killed: the caller gets an
/// error naming why, LXD runs nothing more for it, and nothing it printed is on the host.
#[tokio::test]
async fn a_flooding_or_overdue_command_is_killed_and_leaves_nothing_on_the_host() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let name = common::unique("lxd-flood");
    lxd.create_instance(&spec(&name)).await.expect("created");
    lxd.start_instance(&name, Duration::from_secs(30))
        .await
        .expect("started");
    let none = BTreeMap::new();

    let err = lxd
        .exec(&name, &["sh", "-c", "yes flood >&2 & exec yes flood"], &none)
        .await
        .expect_err("a flood is refused");
    assert!(matches!(err, LxdError::OutputTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("printed more than"), "{err}");

    let started = std::time::Instant::now();
    let err = lxd
        .exec_within(&name, &["sleep", "600"], &none, Duration::from_secs(1))
        .await
        .expect_err("overdue");
    assert!(matches!(err, LxdError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "killed, not waited for");

    assert_eq!(
        lxd.running_operations_on(&name).await.expect("asked"),
        Vec::<String>::new()
    );
    let out = lxd.exec(&name, &["ps", "-o", "args"], &none).await.expect("ran");
    assert!(out.success() && out.stdout.contains("ps -o args"), "{out:?}");
    assert!(
        !out.stdout.contains("yes flood") && !out.stdout.contains("sleep 600"),
        "the killed commands are gone: {}",
        out.stdout
    );
    let logged = common::bytes_under(&common::lxd_log_dir(&name).join("exec-output"));
    assert_eq!(logged, 0, "no exec output is written on the host");
    cleanup(&lxd, &name).await;
}
