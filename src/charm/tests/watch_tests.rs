//! The elastic pool's watcher service and its webhook port, as the hooks keep them.

use std::os::unix::fs::PermissionsExt;

use super::*;

const WATCHER: &str = "etc/systemd/system/ghro.watcher.service";
const SPEC: &str = "var/lib/github-runner/github-runner-0/watch.json";
const URI: &str = "secret:cs0b3hqj2qpc7gcbq5c0";
const WEBHOOK_SECRET: &str = "0123456789abcdef-webhook";

fn config(webhook_port: u16, max: u32) -> Value {
    json!({
        "path": "test-org", "token": TOKEN, "test-mode": "insecure", "github-url": "http://127.0.0.1:9",
        "virtual-machines": 1, "vm-disk": "64MiB", "max-virtual-machines": max,
        "webhook-port": webhook_port, "webhook-secret-id": URI,
    })
}

fn elastic(webhook_port: u16) -> Unit {
    let unit = Unit::new(config(webhook_port, 3));
    unit.tools.set_secret(URI, &[("secret", WEBHOOK_SECRET)]);
    unit
}

#[tokio::test]
async fn an_elastic_pool_runs_the_watcher_with_its_secrets_in_a_root_only_file_and_opens_its_port() {
    let unit = elastic(8080);
    unit.hook(Hook::ConfigChanged).await;
    let service = std::fs::read_to_string(unit.path(WATCHER)).expect("the watcher's unit");
    assert!(
        service.contains(" watch --spec ") && service.contains("Restart=always"),
        "{service}"
    );
    assert!(
        !service.contains(TOKEN) && !service.contains(WEBHOOK_SECRET),
        "never on its command line"
    );
    let spec = std::fs::read_to_string(unit.path(SPEC)).expect("the spec");
    assert!(
        spec.contains(TOKEN) && spec.contains(WEBHOOK_SECRET),
        "the watcher reads them there"
    );
    let mode = std::fs::metadata(unit.path(SPEC)).expect("spec").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(unit
        .systemd
        .calls()
        .contains(&"enable ghro.watcher.service".to_string()));
    assert_eq!(unit.tools.ports(), [8080], "`juju expose` opens it");

    // Another port: the watcher is told (restarted), the old port closed.
    unit.tools.set_config(config(8081, 3));
    unit.hook(Hook::ConfigChanged).await;
    assert!(unit
        .systemd
        .calls()
        .contains(&"restart ghro.watcher.service".to_string()));
    assert_eq!(unit.tools.ports(), [8081]);

    // A fixed pool: no watcher, no spec, no port.
    unit.tools.set_config(config(0, 0));
    unit.hook(Hook::ConfigChanged).await;
    assert!(!unit.path(WATCHER).exists() && !unit.path(SPEC).exists());
    assert!(unit.tools.ports().is_empty());
}

#[tokio::test]
async fn stop_removes_the_watcher_and_closes_its_port() {
    let unit = elastic(8080);
    unit.hook(Hook::ConfigChanged).await;
    unit.hook(Hook::Stop).await;
    assert!(!unit.path(WATCHER).exists() && !unit.path(SPEC).exists());
    assert!(unit.tools.ports().is_empty());
    assert!(unit.systemd.calls().contains(&"stop ghro.watcher.service".to_string()));
}
