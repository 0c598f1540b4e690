//! What runners may reach, decided from plain data: the LXD network ACL on the runners'
//! bridge, the bridge's own config, and the checks that keep an operator's settings from
//! fencing runners off GitHub or clashing with the host. No I/O here; `setup` applies it.
//!
//! Egress from runners is rejected (refused at once, so a job fails fast) to:
//! - every IPv4 address of the host itself, the bridge's gateway included (LXD accepts DNS
//!   and DHCP on the bridge before its ACL chains, so those keep working); when a model
//!   proxy (HTTP or HTTPS) listens on a host address, only its TCP port stays open there;
//! - 169.254.0.0/16 (link-local: cloud metadata services), and the metadata addresses some
//!   clouds keep elsewhere: Azure's 168.63.129.16, Alibaba's 100.100.100.200;
//! - the runners' own subnet (runners reach each other through the host no more than on the
//!   bridge, where port isolation keeps them apart);
//! - all IPv6 (the bridge has none; a rule anyway, should LXD hand some out);
//! - each `denylist` network.
//!
//! Everything else is allowed (the network's default egress action): GitHub, mirrors, the
//! proxy. Runners on the bridge cannot reach each other (port isolation on their NIC).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::config::Ipv4Net;
use crate::host::net::{Address, Route};
use crate::lxd::{AclRule, NetworkAcl};

/// The config key that marks an LXD object as made by this charm (user keys are free text).
pub const OWNER_KEY: &str = "user.github-runner";

/// What the firewall is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// Every IPv4 address of the host, the bridge's gateway included.
    pub host_addresses: Vec<Ipv4Addr>,
    pub denylist: Vec<Ipv4Net>,
    /// Every address and port of the model's HTTP and HTTPS proxies (those on the host stay
    /// open on their port alone).
    pub proxies: Vec<(Ipv4Addr, u16)>,
    /// The runners' own network (`runner-subnet`).
    pub runner_subnet: Ipv4Net,
}

/// Cloud metadata services outside link-local: Azure's wireserver, Alibaba's metadata.
pub const METADATA: [&str; 3] = ["169.254.0.0/16", "168.63.129.16/32", "100.100.100.200/32"];

fn reject(destination: String, protocol: &str, ports: String, description: &str) -> AclRule {
    AclRule {
        action: "reject".into(),
        destination,
        protocol: protocol.into(),
        destination_port: ports,
        description: description.into(),
        state: "enabled".into(),
    }
}

fn cidrs<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, suffix: &str) -> String {
    items
        .into_iter()
        .map(|i| format!("{i}{suffix}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The ACL `name` the runners' bridge must carry.
pub fn acl(inputs: &Inputs, name: &str) -> NetworkAcl {
    let mut host: Vec<Ipv4Addr> = inputs
        .host_addresses
        .iter()
        .copied()
        .filter(|a| !a.is_loopback() && !a.is_unspecified())
        .collect();
    host.sort();
    host.dedup();
    let mut egress = Vec::new();
    let mut proxy_ports: BTreeMap<Ipv4Addr, Vec<u16>> = BTreeMap::new();
    for (addr, port) in inputs.proxies.iter().filter(|(addr, _)| host.contains(addr)) {
        proxy_ports.entry(*addr).or_default().push(*port);
    }
    let closed: Vec<&Ipv4Addr> = host.iter().filter(|a| !proxy_ports.contains_key(a)).collect();
    if !closed.is_empty() {
        egress.push(reject(cidrs(closed, "/32"), "", String::new(), "the unit's own host"));
    }
    for (addr, ports) in proxy_ports {
        let others = ports_but(ports);
        if !others.is_empty() {
            egress.push(reject(
                format!("{addr}/32"),
                "tcp",
                others,
                "the host, but the model proxy",
            ));
        }
        for protocol in ["udp", "icmp4"] {
            egress.push(reject(
                format!("{addr}/32"),
                protocol,
                String::new(),
                "the host, but the model proxy",
            ));
        }
    }
    egress.push(reject(
        METADATA.join(","),
        "",
        String::new(),
        "cloud metadata: link-local, Azure, Alibaba",
    ));
    egress.push(reject(
        inputs.runner_subnet.to_string(),
        "",
        String::new(),
        "the other runners",
    ));
    egress.push(reject("::/0".into(), "", String::new(), "IPv6"));
    if !inputs.denylist.is_empty() {
        egress.push(reject(
            cidrs(&inputs.denylist, ""),
            "",
            String::new(),
            "config denylist",
        ));
    }
    NetworkAcl {
        name: name.into(),
        description: "github-runner charm: where runners may not go (managed by the charm; edits are undone)".into(),
        egress,
        ingress: Vec::new(),
        config: BTreeMap::from([(OWNER_KEY.to_string(), "true".to_string())]),
    }
}

/// Every TCP port but `ports`, as LXD's `destination_port` list (`1-3127,3129-65535`).
fn ports_but(mut ports: Vec<u16>) -> String {
    ports.sort_unstable();
    ports.dedup();
    let mut ranges = Vec::new();
    let mut from = 1u32;
    for port in ports.into_iter().map(u32::from).chain([65536]) {
        match port.checked_sub(1) {
            Some(to) if to == from => ranges.push(from.to_string()),
            Some(to) if to > from => ranges.push(format!("{from}-{to}")),
            _ => {}
        }
        from = from.max(port + 1);
    }
    ranges.join(",")
}

/// The config the runners' bridge must have, guarded by the ACL `acl` (keys LXD adds itself
/// are left alone).
pub fn network_config(subnet: &Ipv4Net, acl: &str) -> BTreeMap<String, String> {
    BTreeMap::from(
        [
            ("ipv4.address", format!("{}/{}", subnet.first_host(), subnet.prefix)),
            ("ipv4.nat", "true".into()),
            ("ipv6.address", "none".into()),
            ("security.acls", acl.into()),
            ("security.acls.default.egress.action", "allow".into()),
            (OWNER_KEY, "true".into()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    )
}

/// Whether an LXD object's config marks it as this charm's.
pub fn owned(config: &BTreeMap<String, String>) -> bool {
    config.get(OWNER_KEY).is_some_and(|v| v == "true")
}

/// Why `runner-subnet` cannot be used on this host: a route or an address of another
/// interface already in it (the runners' own `bridge` does not count, nor the default route).
pub fn subnet_clash(subnet: &Ipv4Net, routes: &[Route], addresses: &[Address], bridge: &str) -> Option<String> {
    let route = routes.iter().find(|r| {
        r.interface != bridge
            && r.prefix > 0
            && Ipv4Net::parse(&format!("{}/{}", r.destination, r.prefix)).is_ok_and(|n| n.overlaps(subnet))
    });
    if let Some(r) = route {
        return Some(format!(
            "the host already routes {}/{} on {}",
            r.destination, r.prefix, r.interface
        ));
    }
    addresses
        .iter()
        .find(|a| a.interface != bridge && subnet.contains(a.address))
        .map(|a| format!("the host's {} has the address {}", a.interface, a.address))
}

/// Why runners could not reach `what` (GitHub, the model proxy) at `addresses`: the first
/// denylist entry or host address that covers one of them.
pub fn unreachable(what: &str, addresses: &[Ipv4Addr], inputs: &Inputs) -> Option<String> {
    for addr in addresses {
        if let Some(denied) = inputs.denylist.iter().find(|d| d.contains(*addr)) {
            return Some(format!(
                "config `denylist` entry {denied} covers {what} ({addr}): runners could not register; remove it"
            ));
        }
        let on_host = inputs.host_addresses.contains(addr) && !addr.is_loopback();
        let is_proxy = inputs.proxies.iter().any(|(p, _)| p == addr);
        if on_host && !is_proxy {
            return Some(format!(
                "{what} is at {addr}, an address of this host, which runners may never reach: serve it elsewhere"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse(s).expect("network")
    }

    fn inputs() -> Inputs {
        Inputs {
            host_addresses: vec![
                Ipv4Addr::new(192, 0, 2, 2),
                Ipv4Addr::LOCALHOST,
                Ipv4Addr::new(10, 73, 0, 1),
                Ipv4Addr::new(192, 0, 2, 2),
            ],
            denylist: vec![net("10.152.0.0/24"), net("172.16.0.9")],
            proxies: Vec::new(),
            runner_subnet: net("10.73.0.0/24"),
        }
    }

    #[test]
    fn the_acl_rejects_the_host_metadata_ipv6_and_the_denylist_and_allows_the_rest() {
        let acl = acl(&inputs(), "ghr-test");
        let rules: Vec<(&str, &str, &str)> = acl
            .egress
            .iter()
            .map(|r| (r.action.as_str(), r.destination.as_str(), r.protocol.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("reject", "10.73.0.1/32,192.0.2.2/32", ""),
                ("reject", "169.254.0.0/16,168.63.129.16/32,100.100.100.200/32", ""),
                ("reject", "10.73.0.0/24", ""),
                ("reject", "::/0", ""),
                ("reject", "10.152.0.0/24,172.16.0.9/32", ""),
            ]
        );
        assert!(acl.egress.iter().all(|r| r.state == "enabled"));
        assert!(acl.ingress.is_empty());
        assert!(owned(&acl.config));
    }

    #[test]
    fn a_model_proxy_on_the_host_keeps_only_its_port_open_there() {
        let acl = acl(
            &Inputs {
                proxies: vec![
                    (Ipv4Addr::new(192, 0, 2, 2), 3128),
                    (Ipv4Addr::new(198, 51, 100, 7), 8080),
                ],
                ..inputs()
            },
            "ghr-test",
        );
        let on_proxy: Vec<(&str, &str)> = acl
            .egress
            .iter()
            .filter(|r| r.destination == "192.0.2.2/32")
            .map(|r| (r.protocol.as_str(), r.destination_port.as_str()))
            .collect();
        assert_eq!(on_proxy, [("tcp", "1-3127,3129-65535"), ("udp", ""), ("icmp4", "")]);
        assert_eq!(acl.egress[0].destination, "10.73.0.1/32");
        assert!(
            acl.egress.iter().all(|r| !r.destination.contains("198.51.100.7")),
            "a proxy elsewhere is no host address"
        );
    }

    #[test]
    fn an_http_and_an_https_proxy_on_one_host_address_keep_both_ports_open() {
        let acl = acl(
            &Inputs {
                proxies: vec![(Ipv4Addr::new(192, 0, 2, 2), 3129), (Ipv4Addr::new(192, 0, 2, 2), 3128)],
                ..inputs()
            },
            "ghr-test",
        );
        let tcp = acl.egress.iter().find(|r| r.protocol == "tcp").expect("a TCP rule");
        assert_eq!(tcp.destination_port, "1-3127,3130-65535");
    }

    #[test]
    fn the_ports_left_closed_around_proxy_ports_cover_every_other_port() {
        assert_eq!(ports_but(vec![1]), "2-65535");
        assert_eq!(ports_but(vec![65535, 1]), "2-65534");
        assert_eq!(ports_but(vec![80, 82]), "1-79,81,83-65535");
        assert_eq!(ports_but(vec![443, 443]), "1-442,444-65535");
    }

    #[test]
    fn the_bridge_takes_the_subnet_s_first_address_with_nat_and_no_ipv6() {
        let config = network_config(&net("10.73.0.0/24"), "ghr-test");
        assert_eq!(config["ipv4.address"], "10.73.0.1/24");
        assert_eq!(config["ipv4.nat"], "true");
        assert_eq!(config["ipv6.address"], "none");
        assert_eq!(config["security.acls"], "ghr-test");
        assert_eq!(config["security.acls.default.egress.action"], "allow");
    }

    #[test]
    fn a_subnet_the_host_already_routes_or_holds_is_a_clash_but_the_own_bridge_is_not() {
        let route = |interface: &str, destination: Ipv4Addr, prefix| Route {
            interface: interface.into(),
            destination,
            prefix,
        };
        let subnet = net("10.73.0.0/24");
        let own = [
            route("ghr-test", Ipv4Addr::new(10, 73, 0, 0), 24),
            route("eth0", Ipv4Addr::UNSPECIFIED, 0),
        ];
        assert_eq!(subnet_clash(&subnet, &own, &[], "ghr-test"), None);
        let wide = [route("eth1", Ipv4Addr::new(10, 0, 0, 0), 8)];
        assert_eq!(
            subnet_clash(&subnet, &wide, &[], "ghr-test").as_deref(),
            Some("the host already routes 10.0.0.0/8 on eth1")
        );
        let address = Address {
            interface: "wg0".into(),
            address: Ipv4Addr::new(10, 73, 0, 9),
            prefix: 32,
        };
        assert!(subnet_clash(&subnet, &[], &[address], "ghr-test").is_some_and(|why| why.contains("wg0")));
    }

    #[test]
    fn github_behind_the_denylist_or_on_the_host_is_named() {
        let inputs = inputs();
        let why = unreachable("GitHub", &[Ipv4Addr::new(10, 152, 0, 2)], &inputs).expect("denied");
        assert!(
            why.contains("`denylist` entry 10.152.0.0/24 covers GitHub (10.152.0.2)"),
            "{why}"
        );
        let why = unreachable("GitHub", &[Ipv4Addr::new(192, 0, 2, 2)], &inputs).expect("host");
        assert!(why.contains("an address of this host"), "{why}");
        assert_eq!(unreachable("GitHub", &[Ipv4Addr::new(140, 82, 112, 3)], &inputs), None);
    }
}
