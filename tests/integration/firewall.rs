//! What runners can reach, probed from inside a real runner: fake-github on its test host
//! (the runner comes online), no address of this host but its DNS on the bridge, no cloud
//! metadata, and a second test host only while its network is not in `denylist` — changed
//! in place, with no runner recreated. Real LXD, busybox runners, test hosts in network namespaces.

use crate::common;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::common::stack::{blocking, stack, Stack};

/// Answers every connection with a one-line HTTP page saying `name`.
pub(crate) fn serve(listener: TcpListener, name: &'static str) -> u16 {
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = write!(conn, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{name}", name.len());
        }
    });
    port
}

/// What a bounded probe from the runner `name` to `http://addr:port/` saw.
pub(crate) async fn probe(s: &Stack, name: &str, addr: impl std::fmt::Display, port: u16) -> String {
    // busybox wget's own -T segfaults; `timeout` bounds it.
    let script = format!("timeout 3 wget -q -O - http://{addr}:{port}/ 2>&1; echo \" rc=$?\"");
    let out = s.sh(name, &script).await;
    out.stdout.trim().to_string()
}

pub(crate) fn refused(seen: &str) -> bool {
    seen.contains("Connection refused") && seen.ends_with("rc=1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_reach_github_but_not_the_host_nor_metadata_and_the_denylist_changes_in_place() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await; // fake-github on its test host is reachable: the runners are online
    let runners: Vec<String> = s.instances().await.into_iter().collect();
    let (runner, other) = (runners[0].clone(), runners[1].clone());
    let names = s.juju.names();
    // Runners cannot reach each other (port isolation on their NICs): a job cannot attack
    // the next job's runner.
    let other_ip = s
        .lxd
        .instance_state(&other)
        .await
        .expect("asked")
        .and_then(|state| state.global_ipv4())
        .expect("the other runner's address");
    let (_, github_ip) = common::GITHUB_HOST;
    let script = format!(
        "ping -c 1 -W 2 {github_ip} >/dev/null 2>&1; echo github rc=$?; ping -c 1 -W 2 {other_ip} 2>&1; echo runner rc=$?"
    );
    let out = s.sh(&runner, &script).await;
    assert!(out.stdout.contains("github rc=0"), "ping works at all: {}", out.stdout);
    assert!(
        out.stdout.contains("100% packet loss") && out.stdout.contains("runner rc=1"),
        "runner {runner} reached runner {other} at {other_ip}: {}",
        out.stdout
    );
    let host_port = serve(TcpListener::bind("0.0.0.0:0").expect("host listener"), "host");
    let hosts = common::host_addresses();
    assert!(
        hosts.len() >= 3,
        "this host, lxdbr0, the runners' bridge, the test hosts' ends: {hosts:?}"
    );
    for addr in &hosts {
        let seen = probe(&s, &runner, addr, host_port).await;
        assert!(refused(&seen), "host address {addr}: {seen}");
    }
    let seen = probe(&s, &runner, "169.254.169.254", 80).await;
    assert!(refused(&seen), "cloud metadata: {seen}");
    // IPv6: none on the runners' bridge (not even the host end's link-local address), so a
    // runner has no IPv6 path to the host at all; the ACL's `::/0` rule stands behind that.
    let ip6 = |args: &[&str]| {
        let out = std::process::Command::new("ip").args(args).output().expect("ip");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        ip6(&["-6", "-o", "addr", "show", "dev", names.bridge.as_str()]),
        "",
        "IPv6 on the bridge"
    );
    let v6_port = serve(
        std::net::TcpListener::bind("[::]:0").expect("an IPv6 listener"),
        "host-v6",
    );
    let host_v6: Vec<String> = ip6(&["-6", "-o", "addr", "show", "scope", "global"])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.split('/').next().map(String::from))
        .collect();
    if host_v6.is_empty() {
        eprintln!("this host has no global IPv6 address: the IPv6 probe has nothing to try");
    }
    for addr in &host_v6 {
        let script = format!("timeout 3 nc {addr} {v6_port} </dev/null 2>&1; echo \" rc=$?\"");
        let out = s.sh(&runner, &script).await;
        assert!(
            out.stdout.contains("Network is unreachable") && out.stdout.trim_end().ends_with("rc=1"),
            "host address {addr} over IPv6: {} {}",
            out.stdout,
            out.stderr
        );
    }
    // The one service of the host runners keep: DNS on the bridge (GitHub's name must
    // resolve), asked of the gateway the TCP probes above found refused.
    let script = format!(
        "gw=$(ip route | awk '/^default/ {{print $3}}'); \
         ip -4 -o addr show eth0 | awk '{{split($4, a, \"/\"); print \"ip=\" a[1]}}'; \
         timeout 5 nslookup {runner}.lxd \"$gw\""
    );
    let out = s.sh(&runner, &script).await;
    let ip = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ip="))
        .expect("the runner's address");
    assert!(
        out.success() && out.stdout.matches(ip).count() >= 2,
        "the bridge's DNS answers the runner's own name with {ip}: {} {}",
        out.stdout,
        out.stderr
    );

    // A runner's NIC is its own copy: an edit of the `runner` profile (here by hand, then
    // undone by the charm's next hook) re-plugs no running runner.
    let host_name = |instance: github_runner::lxd::Instance| instance.config.get("volatile.eth0.host_name").cloned();
    let nic_before = host_name(s.lxd.instance(&runner).await.expect("asked").expect("there"));
    assert!(nic_before.is_some(), "the runner's NIC is plugged");
    let mut profile = s
        .lxd
        .profile(names.runner_profile.as_str())
        .await
        .expect("asked")
        .expect("there");
    let nic = profile.devices.get_mut("eth0").expect("the NIC");
    // Port isolation is a key LXD cannot change on a running NIC: it would re-plug it.
    nic.remove("security.port_isolation");
    nic.remove("security.mac_filtering");
    s.lxd.update_profile(&profile).await.expect("edited by hand");

    let (netns, ip) = common::DENIED_HOST;
    let denied_port = serve(common::listen_in(netns, &format!("{ip}:0")), "denied-host");
    assert!(probe(&s, &runner, ip, denied_port).await.starts_with("denied-host"));
    s.juju(&["config", "github-runner", "denylist=10.153.0.0/24"]);
    let seen = probe(&s, &runner, ip, denied_port).await;
    assert!(refused(&seen), "a denylisted network: {seen}");
    s.juju(&["config", "github-runner", "denylist="]);
    assert!(probe(&s, &runner, ip, denied_port).await.starts_with("denied-host"));
    assert_eq!(
        s.instances().await.into_iter().collect::<Vec<_>>(),
        runners,
        "no runner was recreated"
    );
    let profile = s
        .lxd
        .profile(names.runner_profile.as_str())
        .await
        .expect("asked")
        .expect("there");
    assert_eq!(
        profile.devices["eth0"]["security.mac_filtering"], "true",
        "the charm undid the edit"
    );
    assert_eq!(
        host_name(s.lxd.instance(&runner).await.expect("asked").expect("there")),
        nic_before,
        "the runner's NIC was not re-plugged"
    );
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!((status.as_str(), message.as_str()), ("active", "2/2 runners"));
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lxdbr0_the_default_profile_and_other_instances_stay_byte_identical() {
    let Some(lxd) = common::lxd().await else { return };
    let guard = common::exclusive(&lxd).await;
    let bystander = common::unique("gh-test-bystander");
    lxd.create_instance(&common::container(&bystander, common::TEST_IMAGE))
        .await
        .expect("bystander");
    lxd.start_instance(&bystander, Duration::from_secs(30))
        .await
        .expect("started");
    let paths = [
        "/1.0/networks/lxdbr0".to_string(),
        "/1.0/profiles/default".to_string(),
        format!("/1.0/instances/{bystander}"),
    ];
    let mut before = Vec::new();
    for path in &paths {
        before.push(common::lxd_raw(&lxd, path).await);
    }
    let s = common::stack::Stack::deploy(lxd.clone(), 2).await;
    let names = s.juju.names();
    s.settle(2).await;
    s.juju(&["tick"]);
    s.settle(2).await;
    s.remove();
    for (path, before) in paths.iter().zip(before) {
        assert_eq!(common::lxd_raw(&lxd, path).await, before, "{path} changed");
    }
    // And the unit took its own away: bridge, firewall, profiles, pool.
    assert!(lxd.network(names.bridge.as_str()).await.expect("asked").is_none());
    assert!(lxd.network_acl(names.acl.as_str()).await.expect("asked").is_none());
    assert!(lxd
        .profile(names.runner_profile.as_str())
        .await
        .expect("asked")
        .is_none());
    assert!(lxd.storage_pool(names.pool.as_str()).await.expect("asked").is_none());
    let _ = lxd.stop_instance(&bystander, Duration::from_secs(5)).await;
    let _ = lxd.delete_instance(&bystander).await;
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_without_the_charm_s_network_gets_it_back_and_runners_come_online() {
    let Some((_one, s)) = stack(1).await else { return };
    s.settle(1).await;
    s.remove();
    common::reset(&s.lxd).await; // the bridge, its ACL, the profiles and the pool are gone
    assert!(s
        .lxd
        .network(s.juju.names().bridge.as_str())
        .await
        .expect("asked")
        .is_none());
    let s = common::stack::Stack::deploy(s.lxd.clone(), 1).await;
    let names = s.juju.names();
    s.settle(1).await;
    let network = s
        .lxd
        .network(names.bridge.as_str())
        .await
        .expect("asked")
        .expect("made again");
    assert_eq!(network.config["ipv4.address"], "10.73.0.1/24");
    assert_eq!(network.config["security.acls"], names.acl.as_str());
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aproxy_on_an_image_without_snapd_fails_the_runner_saying_so_and_leaves_nothing() {
    let Some((_one, s)) = stack(0).await else { return };
    let (_, ip) = common::GITHUB_HOST;
    // The charm itself talks to fake-github directly; runners would go through aproxy.
    s.juju(&[
        "model-config",
        &format!("juju-http-proxy=http://{ip}:3128"),
        &format!("juju-no-proxy={ip}"),
    ]);
    s.juju(&[
        "config",
        "github-runner",
        "experimental-use-aproxy=true",
        "virtual-machines=1",
    ]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "waiting", "{message}");
    assert!(
        message.contains("0/1 runners; 1 failed")
            && message.contains("experimental-use-aproxy needs snapd and nftables in the runner image"),
        "{message}"
    );
    assert!(
        s.instances().await.is_empty(),
        "the failed runner's instance is removed"
    );
    assert!(s.registered().is_empty(), "and its registration");
    s.remove();
}
