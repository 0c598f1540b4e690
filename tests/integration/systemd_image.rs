//! The provisioning path on a real distribution image: Debian bookworm with systemd, an
//! `ubuntu` user and Docker (`runner-systemd`, built by `scripts/lxd-setup.sh systemd-image`),
//! through the real charm under fake-juju with fake-github on its test host. Proxies with
//! awkward values reach the runner byte for byte and run nothing; the single-use secret is in
//! no file and no command line once the runner runs.

use crate::common;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::common::stack::{blocking, Stack};
use github_runner::lxd::LxdClient;

const IMAGE: &str = "runner-systemd";
/// A proxy URL with a quote, `$`, `&`, `;` and a percent-encoded password.
const HTTP_PROXY: &str = "http://o'neil$&;:p%40ss@10.152.0.9:3128";
/// Spaces after commas, double quotes, a systemd specifier, and three ways to run a command
/// that must never run.
const NO_PROXY: &str =
    "localhost, 10.152.0.2, \"quoted\", $(touch /tmp/pwned), `touch /tmp/pwned`; touch /tmp/pwned, %h, .internal";
const MIRROR: &str = "https://mirror.internal:5000";

/// The image, or `None` (skip) where it was not built; with `REQUIRE_LXD=1` it must be there.
async fn image(lxd: &LxdClient) -> bool {
    if lxd.image_alias(IMAGE).await.expect("asked").is_some() {
        return true;
    }
    assert!(
        std::env::var("REQUIRE_LXD").as_deref() != Ok("1"),
        "REQUIRE_LXD=1 but LXD has no image {IMAGE}: run `scripts/lxd-setup.sh systemd-image`"
    );
    eprintln!("skipping: no {IMAGE} image (scripts/lxd-setup.sh systemd-image)");
    false
}

async fn sh(lxd: &LxdClient, name: &str, script: &str) -> String {
    // LXD 5.0 now and then fails an exec with "Failed to retrieve PID of executing child
    // process" while the instance is busy: once more.
    let command = ["sh", "-c", script];
    let out = match lxd.exec(name, &command, &BTreeMap::new()).await {
        Ok(out) => out,
        Err(_) => lxd.exec(name, &command, &BTreeMap::new()).await.expect("exec"),
    };
    assert!(out.success(), "{script}: exit {}: {}", out.code, out.stderr);
    out.stdout
}

/// `/proc/<pid>/environ` as `NAME → value`.
fn environ(raw: &str) -> BTreeMap<String, String> {
    raw.split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_on_the_systemd_image_runs_as_ubuntu_with_its_proxies_intact_and_no_secret_left() {
    let Some(lxd) = common::lxd().await else { return };
    if !image(&lxd).await {
        return;
    }
    let _one = common::exclusive(&lxd).await;
    let extra = [
        "base-image=runner-systemd",
        "vm-memory=1GiB",
        "vm-disk=1GiB",
        "dockerhub-mirror=https://mirror.internal:5000",
    ];
    let s = Stack::deploy_with(lxd.clone(), 0, &extra, |_| {}).await;
    s.juju(&[
        "model-config",
        &format!("juju-http-proxy={HTTP_PROXY}"),
        &format!("juju-https-proxy={HTTP_PROXY}"),
        &format!("juju-no-proxy={NO_PROXY}"),
    ]);
    s.juju(&["config", "github-runner", "virtual-machines=1"]);
    s.settle(1).await;
    let name = s.instances().await.into_iter().next().expect("a runner");

    // The runner process: the stub's listener, as ubuntu, with a login environment.
    let ps = sh(&lxd, &name, "ps -eo pid=,user=,args=").await;
    let (pid, user) = ps
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.iter().any(|a| a.ends_with("bin/Runner.Listener")) && !f.contains(&"-c"))
        .map(|f| (f[0].to_string(), f[1].to_string()))
        .unwrap_or_else(|| panic!("no bin/Runner.Listener in:\n{ps}"));
    assert_eq!(user, "ubuntu", "{ps}");
    let env = environ(&sh(&lxd, &name, &format!("cat /proc/{pid}/environ")).await);
    assert_eq!(env["HOME"], "/home/ubuntu");
    assert_eq!(env["USER"], "ubuntu");
    assert_eq!(env["LOGNAME"], "ubuntu");
    assert_eq!(env["SHELL"], "/bin/bash");
    assert!(env["PATH"].starts_with("/home/ubuntu/.local/bin:"), "{}", env["PATH"]);
    for key in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
        assert_eq!(env[key], HTTP_PROXY, "{key}");
    }
    assert_eq!(env["NO_PROXY"], NO_PROXY);
    assert_eq!(env["no_proxy"], NO_PROXY);
    assert_eq!(env["DOCKERHUB_MIRROR"], MIRROR);
    let pwned = sh(&lxd, &name, "test -e /tmp/pwned && echo ran || echo never").await;
    assert_eq!(pwned.trim(), "never", "a value was evaluated");

    let etc_environment = sh(&lxd, &name, "cat /etc/environment").await;
    assert!(
        etc_environment.contains(&format!("HTTP_PROXY=\"{HTTP_PROXY}\"\n")),
        "{etc_environment}"
    );
    assert!(
        etc_environment.contains(&format!("NO_PROXY='{NO_PROXY}'\n")),
        "{etc_environment}"
    );
    let daemon = sh(&lxd, &name, "cat /etc/docker/daemon.json").await;
    let daemon: serde_json::Value = serde_json::from_str(&daemon).expect("daemon.json is JSON");
    assert_eq!(daemon["registry-mirrors"][0], MIRROR);
    let client = sh(&lxd, &name, "cat /home/ubuntu/.docker/config.json").await;
    let client: serde_json::Value = serde_json::from_str(&client).expect("config.json is JSON");
    assert_eq!(client["proxies"]["default"]["httpProxy"], HTTP_PROXY);
    let dropin = sh(&lxd, &name, "cat /etc/systemd/system/docker.service.d/http-proxy.conf").await;
    assert!(
        dropin.contains("Environment=\"HTTP_PROXY=http://o'neil$&;:p%%40ss@10.152.0.9:3128\""),
        "{dropin}"
    );
    // Docker as it runs, not only its files: the drop-in's escapes undone by systemd.
    let docker = sh(
        &lxd,
        &name,
        "systemctl is-active docker; tr '\\0' '\\n' < /proc/$(pidof dockerd)/environ | grep '^NO_PROXY='",
    )
    .await;
    assert_eq!(
        docker,
        format!("active\nNO_PROXY={NO_PROXY}\n"),
        "dockerd's environment"
    );

    // The JIT config (the single-use secret; the runner keeps its session credentials, as the
    // real one does): in no file, no command line and no journal; in the environment of the
    // listener alone (it was started with it), no wrapper shell's.
    let secrets: Vec<String> = s.emulator.world().jit_configs.clone();
    assert!(!secrets.is_empty());
    let needles = secrets.join("\n") + "\n";
    lxd.push_file(&name, "/root/.needles", needles.into_bytes(), 0o600)
        .await
        .expect("needles");
    let files = sh(
        &lxd,
        &name,
        "for d in /* /dev/shm; do case $d in /proc|/sys|/dev) continue ;; esac; \
         grep -rlF -f /root/.needles --exclude=.needles \"$d\" 2>/dev/null; done; \
         journalctl -o cat 2>/dev/null | grep -qF -f /root/.needles && echo journal; true",
    )
    .await;
    assert_eq!(files.trim(), "", "files holding the secret");
    let holders = sh(
        &lxd,
        &name,
        "for p in /proc/[0-9]*; do grep -qF -f /root/.needles $p/cmdline 2>/dev/null && echo \"cmdline $p\"; \
         grep -qF -f /root/.needles $p/environ 2>/dev/null && echo \"environ $p $(tr '\\0' ' ' < $p/cmdline)\"; done; true",
    )
    .await;
    assert!(
        holders.contains(&format!("environ /proc/{pid} ")),
        "the scan finds the secret where it is: {holders}"
    );
    for line in holders.lines() {
        assert!(
            line.starts_with(&format!("environ /proc/{pid} ")),
            "only the listener (pid {pid}) may hold it: {line}\n{holders}"
        );
    }
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!((status.as_str(), message.as_str()), ("active", "1/1 runners"));
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_github_has_no_jit_config_sh_registers_as_ubuntu_and_the_token_is_gone_after() {
    let Some(lxd) = common::lxd().await else { return };
    if !image(&lxd).await {
        return;
    }
    let _one = common::exclusive(&lxd).await;
    let extra = ["base-image=runner-systemd", "vm-memory=1GiB", "vm-disk=1GiB"];
    let s = Stack::deploy_with(lxd.clone(), 0, &extra, |_| {}).await;
    // An older GitHub Enterprise Server: no JIT endpoint.
    s.emulator.world().faults.push(
        fake_github::Fault::on("POST", "generate-jitconfig")
            .times(100)
            .status(404),
    );
    s.juju(&["config", "github-runner", "virtual-machines=1"]);
    s.settle(1).await;
    let name = s.instances().await.into_iter().next().expect("a runner");
    let owner = sh(&lxd, &name, "stat -c %U /home/ubuntu/github-runner/.runner").await;
    assert_eq!(owner.trim(), "ubuntu", "config.sh ran as ubuntu");
    let gone = sh(&lxd, &name, "ls -a /home/ubuntu/github-runner /var/lib/github-runner").await;
    for leftover in [".runner-token", ".runner-inputs", "token", "runner.tar.gz"] {
        assert!(!gone.lines().any(|l| l == leftover), "{leftover} left in:\n{gone}");
    }
    let tokens: Vec<String> = s.emulator.world().tokens.keys().cloned().collect();
    assert!(!tokens.is_empty(), "a registration token was issued");
    lxd.push_file(&name, "/root/.needles", (tokens.join("\n") + "\n").into_bytes(), 0o600)
        .await
        .expect("needles");
    let holders = sh(
        &lxd,
        &name,
        "grep -rlF -f /root/.needles --exclude=.needles /etc /home /root /tmp /var /run 2>/dev/null; \
         for p in /proc/[0-9]*; do grep -lF -f /root/.needles $p/cmdline $p/environ 2>/dev/null; done; true",
    )
    .await;
    assert_eq!(
        holders.trim(),
        "",
        "the registration token is kept by nothing once the runner runs"
    );
    s.remove();
}

/// aproxy itself is a snap, which cannot run here; its firewall half can: the exact rules
/// the bootstrap loads, loaded (twice: a re-run replaces them) by the real `nft` of the
/// Debian image on this kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aproxy_s_nft_rules_load_on_a_real_kernel_and_send_web_traffic_to_its_port() {
    let Some(lxd) = common::lxd().await else { return };
    if !image(&lxd).await {
        return;
    }
    let _one = common::exclusive(&lxd).await;
    let name = common::unique("gh-test-nft");
    lxd.create_instance(&common::container(&name, IMAGE))
        .await
        .expect("instance");
    lxd.start_instance(&name, Duration::from_secs(60))
        .await
        .expect("started");
    let rules = github_runner::runner::aproxy_rules(Ipv4Addr::new(10, 73, 0, 5));
    lxd.push_file(&name, "/root/aproxy.nft", rules.into_bytes(), 0o600)
        .await
        .expect("rules pushed");
    let listed = sh(
        &lxd,
        &name,
        "nft -c -f /root/aproxy.nft && nft -f /root/aproxy.nft && nft -f /root/aproxy.nft && nft list table ip aproxy",
    )
    .await;
    let redirect = format!(
        "tcp dport {{ 80, 443 }} dnat to 10.73.0.5:{}",
        github_runner::runner::APROXY_PORT
    );
    assert_eq!(
        listed.matches(&redirect).count(),
        2,
        "prerouting and output, once each:\n{listed}"
    );
    assert!(listed.contains("type nat hook output priority -100"), "{listed}");
    assert!(
        listed.contains("ip daddr != { 10.0.0.0/8, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 }"),
        "{listed}"
    );
    let _ = lxd.stop_instance(&name, Duration::from_secs(5)).await;
    lxd.delete_instance(&name).await.expect("deleted");
}
