//! The host's own network, as the runners' firewall and bridge must see it: every IPv4
//! address of every interface (`getifaddrs`) and every IPv4 route (`/proc/net/route`).
//! Reads only. What is done with them (rules, clash checks) is the manager's.

use std::net::Ipv4Addr;

/// One IPv4 route: a destination network on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub interface: String,
    pub destination: Ipv4Addr,
    pub prefix: u8,
}

/// One IPv4 address of one host interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("listing the host's network addresses: {0}")]
    Addresses(nix::Error),
    #[error("reading the host's routes from {path}: {source}")]
    Routes { path: String, source: std::io::Error },
}

/// Every IPv4 address of every interface, loopback included.
pub fn addresses() -> Result<Vec<Address>, NetError> {
    let mut out = Vec::new();
    for ifaddr in nix::ifaddrs::getifaddrs().map_err(NetError::Addresses)? {
        let Some(address) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        let prefix = ifaddr
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map_or(32, |m| u32::from(m.ip()).count_ones() as u8);
        out.push(Address {
            interface: ifaddr.interface_name.clone(),
            address: address.ip(),
            prefix,
        });
    }
    Ok(out)
}

const ROUTES: &str = "/proc/net/route";

/// Every IPv4 route of the main table.
pub fn routes() -> Result<Vec<Route>, NetError> {
    let text = std::fs::read_to_string(ROUTES).map_err(|source| NetError::Routes {
        path: ROUTES.into(),
        source,
    })?;
    Ok(parse_routes(&text))
}

/// `/proc/net/route`: a header line, then `Iface Destination Gateway Flags RefCnt Use Metric
/// Mask …`, addresses as the hex of the kernel's in-memory (network-order) u32, printed in native order.
fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let hex = |i: usize| fields.get(i).and_then(|f| u32::from_str_radix(f, 16).ok());
            let (destination, mask) = (hex(1)?, hex(7)?);
            Some(Route {
                interface: fields.first()?.to_string(),
                destination: Ipv4Addr::from(destination.to_ne_bytes()),
                prefix: mask.count_ones() as u8,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_routes_are_read_in_host_byte_order() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    lxdbr0\t0000960A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = parse_routes(text);
        assert_eq!(
            routes,
            [
                Route {
                    interface: "eth0".into(),
                    destination: Ipv4Addr::UNSPECIFIED,
                    prefix: 0
                },
                Route {
                    interface: "lxdbr0".into(),
                    destination: Ipv4Addr::new(10, 150, 0, 0),
                    prefix: 24
                },
            ]
        );
    }

    #[test]
    fn this_host_has_a_loopback_address() {
        let addresses = addresses().expect("getifaddrs");
        assert!(addresses
            .iter()
            .any(|a| a.address == Ipv4Addr::LOCALHOST && a.prefix == 8));
    }
}
