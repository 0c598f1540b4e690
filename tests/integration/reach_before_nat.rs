//! The packet filter ahead of NAT (`lxd_setup::nft`), probed from inside a real runner: a port
//! forwarded from the host's addresses to a test host (an nft DNAT rule, as Docker's `-p`
//! makes), an address on another LXD network (`lxdbr0`), DNS on another host address and
//! multicast are refused; the same test host reached directly, the forward from elsewhere and DNS on the
//! runners' own gateway still answer. Without the table, LXD's ACL would have let the first
//! two through: it sees the destination after DNAT, and knows nothing of `lxdbr0`.

use std::net::Ipv4Addr;
use std::process::Command;

use crate::common;
use crate::common::stack::{stack, Stack};
use crate::firewall::{probe, refused, serve};
use github_runner::lxd_setup::nft;

const FORWARDED: u16 = 18080;
const DNAT_TABLE: &str = "ghr_test_dnat";

/// A port forwarded on every local address to `to`, as Docker's `-p` does; gone on drop.
struct Dnat;

impl Dnat {
    fn add(to: &str, port: u16) -> Dnat {
        let script = format!(
            "table ip {DNAT_TABLE} {{\n chain pre {{\n  type nat hook prerouting priority dstnat; policy accept;\n  \
             fib daddr type local tcp dport {FORWARDED} dnat to {to}:{port}\n }}\n}}\n"
        );
        nft(&["-f", "-"], Some(&script)).expect("the test's DNAT rule loads");
        Dnat
    }
}

impl Drop for Dnat {
    fn drop(&mut self) {
        let _ = nft(&["delete", "table", "ip", DNAT_TABLE], None);
    }
}

/// `nft args…` fed `script`; what it printed.
fn nft(args: &[&str], script: Option<&str>) -> Result<String, github_runner::process::ProcessError> {
    github_runner::process::run("nft", args, script.map(str::as_bytes)).map(|out| out.stdout)
}

/// What `nslookup name server` printed, bounded.
fn nslookup_here(name: &str, server: Ipv4Addr) -> String {
    let out = Command::new("timeout")
        .args(["5", "busybox", "nslookup", name, &server.to_string()])
        .output()
        .expect("busybox nslookup");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_forwarded_from_the_host_another_lxd_network_dns_elsewhere_broadcast_and_multicast_are_refused_but_the_proxy_is_not(
) {
    let Some((_one, s)) = stack(1).await else { return };
    s.settle(1).await;
    let names = s.juju.names();
    assert!(
        nft::present(&names.table),
        "the charm's table inet {} is loaded",
        names.table
    );
    let runner = s.instances().await.into_iter().next().expect("a runner");

    // A port forwarded from the host to the GitHub test host.
    let (netns, github_ip) = common::GITHUB_HOST;
    let port = serve(common::listen_in(netns, &format!("{github_ip}:0")), "behind-nat");
    assert!(
        probe(&s, &runner, github_ip, port).await.starts_with("behind-nat"),
        "the test host itself is reachable"
    );
    let _dnat = Dnat::add(github_ip, port);
    let (denied_ns, denied_ip) = common::DENIED_HOST;
    let host_end: Ipv4Addr = denied_ip
        .parse::<Ipv4Addr>()
        .map(|ip| Ipv4Addr::from(u32::from(ip) - 1))
        .expect("ip");
    let from_elsewhere = Command::new("ip")
        .args([
            "netns", "exec", denied_ns, "timeout", "3", "busybox", "wget", "-q", "-O", "-",
        ])
        .arg(format!("http://{host_end}:{FORWARDED}/"))
        .output()
        .expect("wget from the other test host");
    assert_eq!(
        String::from_utf8_lossy(&from_elsewhere.stdout),
        "behind-nat",
        "the forward works from elsewhere: {}",
        String::from_utf8_lossy(&from_elsewhere.stderr)
    );
    for addr in &common::host_addresses() {
        let seen = probe(&s, &runner, addr, FORWARDED).await;
        assert!(refused(&seen), "the port forwarded from {addr}: {seen}");
    }

    // An address on another LXD network: refused at once, not forwarded to lxdbr0.
    let (gateway, _) = common::network_address(&s.lxd, "lxdbr0").await;
    let neighbour = Ipv4Addr::from(u32::from(gateway) + 199);
    let seen = probe(&s, &runner, neighbour, 80).await;
    assert!(refused(&seen), "{neighbour} on lxdbr0: {seen}");
    // And a container there serving HTTP, which the host itself reaches.
    let container = common::unique("gh-test-lxdbr0");
    s.lxd
        .create_instance(&common::container(&container, common::TEST_IMAGE))
        .await
        .expect("a container on lxdbr0");
    s.lxd
        .start_instance(&container, std::time::Duration::from_secs(30))
        .await
        .expect("started");
    let mut address = None;
    common::eventually(
        "the container's address",
        std::time::Duration::from_secs(30),
        async || {
            address = s
                .lxd
                .instance_state(&container)
                .await
                .ok()
                .flatten()
                .and_then(|st| st.global_ipv4());
            address.is_some()
        },
    )
    .await;
    let address = address.expect("an address on lxdbr0");
    let serve = "mkdir -p /tmp/w && echo lxdbr0-container > /tmp/w/index.html && httpd -p 8080 -h /tmp/w";
    assert!(s.sh(&container, serve).await.success(), "httpd starts");
    let here = Command::new("timeout")
        .args([
            "5",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{address}:8080/"),
        ])
        .output()
        .expect("wget from the host");
    assert_eq!(
        String::from_utf8_lossy(&here.stdout).trim(),
        "lxdbr0-container",
        "the host reaches it"
    );
    let seen = probe(&s, &runner, address, 8080).await;
    assert!(refused(&seen), "the container {address} on lxdbr0: {seen}");
    let _ = s.lxd.stop_instance(&container, std::time::Duration::from_secs(5)).await;
    let _ = s.lxd.delete_instance(&container).await;
    // The metadata services some clouds keep outside link-local (Azure's, Alibaba's).
    for metadata in ["168.63.129.16", "100.100.100.200"] {
        let seen = probe(&s, &runner, metadata, 80).await;
        assert!(refused(&seen), "metadata at {metadata}: {seen}");
    }

    // DNS on another host address (lxdbr0's dnsmasq) answers the host, not the runner.
    let here = nslookup_here("nothing.invalid", gateway);
    assert!(
        !here.contains("no servers could be reached"),
        "lxdbr0's DNS answers the host: {here}"
    );
    let script = format!("timeout 5 nslookup nothing.invalid {gateway} 2>&1; echo \" rc=$?\"");
    let out = s.sh(&runner, &script).await;
    assert!(
        out.stdout.contains("no servers could be reached")
            || out.stdout.contains("refused")
            || out.stdout.contains("rc=143"),
        "lxdbr0's DNS from a runner: {}",
        out.stdout
    );
    let script = format!("gw=$(ip route | awk '/^default/ {{print $3}}'); timeout 5 nslookup {runner}.lxd \"$gw\"");
    let out = s.sh(&runner, &script).await;
    assert!(
        out.success(),
        "the runners' own gateway still answers DNS: {} {}",
        out.stdout,
        out.stderr
    );

    // Multicast to a group the host joined on the runners' bridge never reaches the host.
    let (bridge_end, _) = common::network_address(&s.lxd, &names.bridge).await;
    let group = Ipv4Addr::new(239, 255, 73, 1);
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
    socket
        .join_multicast_v4(&group, &bridge_end)
        .expect("joined on the bridge");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .expect("timeout");
    let port = socket.local_addr().expect("bound").port();
    let script = format!("timeout 2 nslookup probe.invalid {group}:{port} >/dev/null 2>&1; true");
    s.sh(&runner, &script).await;
    let mut buf = [0u8; 512];
    let got = socket.recv_from(&mut buf);
    assert!(got.is_err(), "a runner's multicast reached the host: {got:?}");
    broadcast_from_a_runner_never_reaches_the_host(&s, &runner).await;
    a_model_proxy_on_a_host_address_stays_reachable_on_its_port_alone(&s, &runner).await;
    s.remove();
    assert!(!nft::present(&names.table), "the table goes with the unit");
}

/// Fails closed: where the kernel refuses the table, the unit is blocked saying so, and
/// neither the runners' bridge nor a runner exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_filter_the_kernel_refuses_blocks_the_unit_and_nothing_is_made() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    common::reset(&lxd).await;
    let bin = tempfile::tempdir().expect("tempdir");
    let nft = bin.path().join("nft");
    std::fs::write(
        &nft,
        "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\nexit 1\n",
    )
    .expect("a refusing nft");
    std::fs::set_permissions(&nft, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("executable");
    let prefix = bin.path().to_path_buf();
    let s = common::stack::Stack::deploy_with(lxd.clone(), 1, &[], move |j| j.path_prefix = Some(prefix)).await;
    let (status, message) = common::stack::blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked", "{message}");
    assert!(
        message.contains("runners' packet filter")
            && message.contains("Operation not supported")
            && message.contains("no runner is created without it"),
        "{message}"
    );
    assert!(
        lxd.network(&s.juju.names().bridge).await.expect("asked").is_none(),
        "no bridge"
    );
    assert!(s.instances().await.is_empty(), "no runner");
    s.remove();
}

/// The one opening on the host: a model proxy listening on a host address keeps its TCP port
/// (only) reachable from runners, through the packet filter and the ACL alike.
async fn a_model_proxy_on_a_host_address_stays_reachable_on_its_port_alone(s: &Stack, runner: &str) {
    let (_, github_ip) = common::GITHUB_HOST;
    let host: Ipv4Addr = Ipv4Addr::from(u32::from(github_ip.parse::<Ipv4Addr>().expect("ip")) - 1);
    let proxy_port = serve(std::net::TcpListener::bind((host, 0)).expect("a proxy"), "proxy");
    let other_port = serve(
        std::net::TcpListener::bind((host, 0)).expect("another service"),
        "other",
    );
    // The charm and the runners talk to fake-github directly (no_proxy); nothing is proxied.
    s.juju(&[
        "model-config",
        &format!("juju-http-proxy=http://{host}:{proxy_port}"),
        &format!("juju-no-proxy={github_ip}"),
    ]);
    s.juju(&["tick"]);
    let seen = probe(s, runner, host, proxy_port).await;
    assert!(
        seen.starts_with("proxy"),
        "the model proxy at {host}:{proxy_port}: {seen}"
    );
    let seen = probe(s, runner, host, other_port).await;
    assert!(refused(&seen), "another port of the same address: {seen}");
}

/// Broadcast from a runner (busybox's `ping` sets SO_BROADCAST) to the limited and the
/// subnet-directed broadcast addresses: counted on arrival by a table of the test's at a
/// priority before the charm's, and never counted by one on input, past it.
async fn broadcast_from_a_runner_never_reaches_the_host(s: &Stack, runner: &str) {
    let names = s.juju.names();
    let (gateway, prefix) = common::network_address(&s.lxd, &names.bridge).await;
    let net = github_runner::config::Ipv4Net::containing(gateway, prefix);
    let directed = Ipv4Addr::from(u32::from(net.addr) | (u32::MAX >> net.prefix));
    let table = "ghr_test_count";
    let script = format!(
        "table inet {table} {{\n counter arrived {{}}\n counter delivered {{}}\n \
         chain pre {{ type filter hook prerouting priority -400; iifname \"{bridge}\" ip daddr {{ 255.255.255.255, {directed} }} icmp type echo-request counter name arrived; }}\n \
         chain in {{ type filter hook input priority 0; iifname \"{bridge}\" ip daddr {{ 255.255.255.255, {directed} }} icmp type echo-request counter name delivered; }}\n}}\n",
        bridge = names.bridge
    );
    nft(&["-f", "-"], Some(&script)).expect("the counting table loads");
    let out = s
        .sh(
            runner,
            &format!("ping -c 2 -W 1 255.255.255.255; ping -c 2 -W 1 {directed}; true"),
        )
        .await;
    let listed = nft(&["list", "table", "inet", table], None).expect("the counters");
    let _ = nft(&["delete", "table", "inet", table], None);
    let packets = |name: &str| {
        listed
            .split(&format!("counter {name} {{"))
            .nth(1)
            .and_then(|rest| rest.split("packets ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .expect("a counter")
    };
    assert!(
        packets("arrived") >= 2,
        "the runner sent broadcasts: {listed}\n{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(packets("delivered"), 0, "none reached the host: {listed}");
}
