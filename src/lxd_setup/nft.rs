//! The runners' packet filter ahead of NAT: an nftables table of the application's own
//! (`inet ghr-<tag>`, [`super::Names`]), with one chain on the prerouting hook at priority `raw` (-300): before
//! connection tracking, before every DNAT (Docker's `-p`, LXD's network forwards and proxy
//! devices with `nat=true`, Kubernetes' NodePorts) and before LXD's own table, which accepts
//! DNS and DHCP from the bridge to *any* host address.
//!
//! LXD's ACL (kept as a second layer, [`super::firewall`]) sees a packet's destination after
//! DNAT, and host addresses as they were at the last hook; this table judges the destination
//! the runner wrote, against the kernel's own view of the host's addresses (`fib daddr type`)
//! at the moment the packet arrives. From the runners' bridge it refuses what is addressed to:
//! - a local address of the host (any interface, the gateway included), a broadcast or a
//!   multicast address;
//! - the subnets of the host's other container networks: every other LXD network, Docker's
//!   (`docker0`, `br-<id>`), fan, libvirt and LXC bridges (their containers would see the
//!   traffic as the host's). The physical LAN is not among them: on-premises users reach their
//!   own services there, under `denylist`;
//! - the runner subnet itself (other runners), and the cloud metadata addresses;
//! - anything over IPv6 (the bridge has none).
//!
//! The exceptions come first: DHCP, DNS to the bridge's own gateway, and each model proxy's
//! TCP port. What is refused gets a TCP reset or an ICMP "port unreachable", as the ACL's
//! rejects do, so a job fails at once rather than timing out (the kernel answers no
//! broadcast or multicast: those are just dropped). The chain has no `input` twin: whatever
//! is addressed to the host was refused here already, and DNAT happens after it.
//!
//! [`ruleset`] renders the table from plain data; [`apply`] loads it with `nft -f -` as one
//! transaction (the table is declared, flushed by deletion and written again, so the load is
//! idempotent and never leaves a half table); [`remove`] deletes it.

use std::net::Ipv4Addr;

use super::firewall::METADATA;
use crate::config::Ipv4Net;
use crate::host::net::Address;

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error(
        "`nft` is not installed and installing nftables failed: {0}; install it (`apt-get install nftables`), no \
         runner is created without the runners' packet filter"
    )]
    Install(String),
    #[error("loading the runners' packet filter (nftables table inet {table}) failed: {message}; no runner is created without it")]
    Load { table: String, message: String },
}

/// What the table is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The runners' bridge (its interface name).
    pub bridge: String,
    pub runner_subnet: Ipv4Net,
    /// Every address and port of the model's HTTP and HTTPS proxies.
    pub proxies: Vec<(Ipv4Addr, u16)>,
    /// The subnets of the host's other container networks.
    pub other_networks: Vec<Ipv4Net>,
}

/// Whether a host interface is a container network's bridge (not the physical LAN's):
/// Docker's, fan's, libvirt's or LXC's by their well-known names. LXD's are asked of LXD.
pub fn is_container_bridge(interface: &str) -> bool {
    let docker_user_network = |rest: &str| rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_hexdigit());
    interface == "docker0"
        || interface == "lxcbr0"
        || interface.strip_prefix("br-").is_some_and(docker_user_network)
        || ["fan-", "ftun", "virbr", "cni", "podman"]
            .iter()
            .any(|prefix| interface.starts_with(prefix))
}

/// The subnets of the host's addresses on other container networks: LXD's networks named in
/// `lxd_networks` and the bridges [`is_container_bridge`] knows, never `bridge` itself.
pub fn other_networks(addresses: &[Address], lxd_networks: &[String], bridge: &str) -> Vec<Ipv4Net> {
    let mut nets: Vec<Ipv4Net> = addresses
        .iter()
        .filter(|a| a.interface != bridge)
        .filter(|a| lxd_networks.contains(&a.interface) || is_container_bridge(&a.interface))
        .map(|a| Ipv4Net::containing(a.address, a.prefix))
        .collect();
    nets.sort_by_key(|n| (u32::from(n.addr), n.prefix));
    nets.dedup();
    // One set element each: a network inside another is covered by it (nft refuses overlaps).
    let held = |i: usize, n: &Ipv4Net| nets.iter().enumerate().any(|(j, m)| j != i && m.holds(n) && m != n);
    (0..nets.len())
        .filter(|&i| !held(i, &nets[i]))
        .map(|i| nets[i])
        .collect()
}

/// The nft script that makes the table `table` what `filter` says (one transaction).
pub fn ruleset(filter: &Filter, table: &str) -> String {
    let gateway = filter.runner_subnet.first_host();
    let mut drops = vec![filter.runner_subnet.to_string()];
    drops.extend(filter.other_networks.iter().map(ToString::to_string));
    drops.extend(METADATA.iter().map(|m| m.trim_end_matches("/32").to_string()));
    drops.push("255.255.255.255".into());
    drops.push("224.0.0.0/4".into());
    let mut rules = vec![
        format!("iifname != \"{}\" accept", filter.bridge),
        "meta nfproto ipv6 drop".to_string(),
        "udp sport 68 udp dport 67 accept".to_string(),
        format!("ip daddr {gateway} meta l4proto {{ tcp, udp }} th dport 53 accept"),
    ];
    let mut proxies = filter.proxies.clone();
    proxies.sort();
    proxies.dedup();
    rules.extend(
        proxies
            .iter()
            .map(|(addr, port)| format!("ip daddr {addr} tcp dport {port} accept")),
    );
    rules.push("fib daddr type { local, broadcast, multicast } jump refuse".to_string());
    rules.push(format!("ip daddr {{ {} }} jump refuse", drops.join(", ")));
    let body: String = rules.iter().map(|r| format!("\t\t{r}\n")).collect();
    format!(
        "table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n\
         \tchain refuse {{\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject with icmpx port-unreachable\n\t}}\n\
         \tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{body}\t}}\n}}\n"
    )
}

/// Loads the table `table` as `filter` says, installing nftables first where `nft` is missing.
pub fn apply(filter: &Filter, table: &str) -> Result<(), NftError> {
    let nft = ensure_nft()?;
    crate::process::run(&nft, &["-f", "-"], Some(ruleset(filter, table).as_bytes()))
        .map(drop)
        .map_err(|e| NftError::Load {
            table: table.to_string(),
            message: e.to_string(),
        })
}

/// Deletes the table `table`; one that is not there is fine.
pub fn remove(table: &str) -> Result<(), NftError> {
    let Some(nft) = which("nft") else { return Ok(()) };
    match crate::process::run(&nft, &["delete", "table", "inet", table], None) {
        Err(e) if !e.to_string().contains("No such file or directory") => Err(NftError::Load {
            table: table.to_string(),
            message: e.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Whether the kernel holds the table `table` (for the tests).
pub fn present(table: &str) -> bool {
    which("nft").is_some_and(|nft| crate::process::run(&nft, &["list", "table", "inet", table], None).is_ok())
}

/// The `inet` tables the kernel holds whose names start with `prefix` (for the tests' reset).
pub fn tables_starting(prefix: &str) -> Vec<String> {
    let Some(nft) = which("nft") else { return Vec::new() };
    let listed = crate::process::run(&nft, &["list", "tables", "inet"], None).map(|o| o.stdout);
    listed
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("table inet "))
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// nftables from the distribution's archive: Ubuntu ships it by default; a minimal image may not.
fn ensure_nft() -> Result<String, NftError> {
    if let Some(nft) = which("nft") {
        return Ok(nft);
    }
    tracing::info!("installing nftables (apt-get): the runners' packet filter needs `nft`");
    crate::process::run(
        "env",
        &[
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "nftables",
        ],
        None,
    )
    .map_err(|e| NftError::Install(e.to_string()))?;
    which("nft").ok_or_else(|| NftError::Install("`nft` is still missing".into()))
}

/// `program` on `PATH`, or in the system directories a hook's `PATH` may lack.
fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(interface: &str, address: &str, prefix: u8) -> Address {
        Address {
            interface: interface.into(),
            address: address.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn other_container_networks_are_lxd_s_docker_s_and_fan_s_never_the_lan_nor_the_runners() {
        let addresses = [
            address("eth0", "192.168.1.20", 24),
            address("br0", "10.0.0.5", 16),
            address("lxdbr0", "10.209.1.1", 24),
            address("github-runners", "10.73.0.1", 24),
            address("docker0", "172.17.0.1", 16),
            address("br-0123456789ab", "172.18.0.1", 16),
            address("br-lan", "192.168.2.1", 24),
            address("fan-250", "250.1.0.1", 8),
            address("mynet", "10.99.0.1", 24),
        ];
        let nets = other_networks(&addresses, &["lxdbr0".into(), "mynet".into()], "github-runners");
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "10.99.0.0/24",
                "10.209.1.0/24",
                "172.17.0.0/16",
                "172.18.0.0/16",
                "250.0.0.0/8"
            ]
        );
    }

    #[test]
    fn the_table_refuses_before_nat_what_the_bridge_sends_to_the_host_its_neighbours_and_metadata() {
        let filter = Filter {
            bridge: "github-runners".into(),
            runner_subnet: Ipv4Net::parse("10.73.0.0/24").unwrap(),
            proxies: vec![("10.0.0.5".parse().unwrap(), 3128), ("10.0.0.5".parse().unwrap(), 3128)],
            other_networks: vec![Ipv4Net::parse("172.17.0.0/16").unwrap()],
        };
        let script = ruleset(&filter, "ghr-1a2b3c4d");
        assert!(
            script.starts_with("table inet ghr-1a2b3c4d\ndelete table inet ghr-1a2b3c4d\n"),
            "{script}"
        );
        assert!(script.contains("type filter hook prerouting priority raw; policy accept;"));
        let rules: Vec<&str> = script.lines().map(str::trim).collect();
        let at = |rule: &str| {
            rules
                .iter()
                .position(|r| *r == rule)
                .unwrap_or_else(|| panic!("{rule} in {script}"))
        };
        let local = at("fib daddr type { local, broadcast, multicast } jump refuse");
        assert_eq!(
            at("iifname != \"github-runners\" accept"),
            9,
            "the first rule: {script}"
        );
        assert!(at("meta l4proto tcp reject with tcp reset") < at("reject with icmpx port-unreachable"));
        assert!(at("udp sport 68 udp dport 67 accept") < local);
        assert!(at("ip daddr 10.73.0.1 meta l4proto { tcp, udp } th dport 53 accept") < local);
        assert!(at("ip daddr 10.0.0.5 tcp dport 3128 accept") < local);
        assert_eq!(rules.iter().filter(|r| r.contains("3128")).count(), 1, "once each");
        at(
            "ip daddr { 10.73.0.0/24, 172.17.0.0/16, 169.254.0.0/16, 168.63.129.16, 100.100.100.200, \
            255.255.255.255, 224.0.0.0/4 } jump refuse",
        );
        at("meta nfproto ipv6 drop");
    }
}
