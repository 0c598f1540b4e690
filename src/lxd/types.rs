//! LXD's answers as typed structs: what `GET` returns for the server, storage pools,
//! networks, instance states, image aliases and operations (research/lxd.md §7).
//!
//! Only the fields the charm reads are here; serde ignores the rest, and every field LXD may
//! omit (or send as `null`) has a default, so a newer or older daemon still decodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// `null` → the type's default: LXD sends `null` for empty maps and lists in places.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `GET /1.0`: the daemon's API extensions and environment.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Server {
    #[serde(default, deserialize_with = "nullable")]
    pub api_extensions: Vec<String>,
    #[serde(default)]
    pub environment: ServerEnvironment,
}

impl Server {
    /// Whether the daemon has an API extension (feature detection across LXD versions).
    pub fn has_extension(&self, extension: &str) -> bool {
        self.api_extensions.iter().any(|e| e == extension)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerEnvironment {
    #[serde(default)]
    pub server_version: String,
}

/// `GET /1.0/storage-pools/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoragePool {
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default, deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

impl StoragePool {
    /// Where a `dir` pool keeps its volumes.
    pub fn source(&self) -> Option<&str> {
        self.config.get("source").map(String::as_str)
    }
}

/// `GET /1.0/networks/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Network {
    pub name: String,
    /// `bridge`, `macvlan`, `physical`, `ovn`, … (`loopback` for unmanaged host interfaces).
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub managed: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// A network ACL, as `GET /1.0/network-acls/{name}` shows it and `POST`/`PUT` take it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAcl {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub egress: Vec<AclRule>,
    #[serde(default, deserialize_with = "nullable")]
    pub ingress: Vec<AclRule>,
    #[serde(default, deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// One ACL rule. LXD orders rules by action itself (drop, reject, allow), not by position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRule {
    /// `allow`, `reject` or `drop`.
    pub action: String,
    /// A CIDR, an address, or a comma-separated list of them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// `tcp`, `udp`, `icmp4`, `icmp6`; empty for every protocol.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Ports or ranges, comma-separated (tcp and udp only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination_port: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `enabled`, `disabled` or `logged`.
    #[serde(default)]
    pub state: String,
}

/// `GET /1.0/instances/{name}/state`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstanceState {
    #[serde(default)]
    pub status: String,
    /// Interfaces by name (`eth0` in a container, `enp5s0` in a VM); empty while stopped.
    #[serde(default, deserialize_with = "nullable")]
    pub network: BTreeMap<String, InterfaceState>,
}

impl InstanceState {
    /// Whether any interface but loopback has a global IPv4 address.
    pub fn has_global_ipv4(&self) -> bool {
        self.global_ipv4().is_some()
    }

    /// The first global IPv4 address of an interface other than loopback.
    pub fn global_ipv4(&self) -> Option<std::net::Ipv4Addr> {
        self.network
            .iter()
            .filter(|(name, nic)| *name != "lo" && nic.kind != "loopback")
            .flat_map(|(_, nic)| &nic.addresses)
            .filter(|a| a.family == "inet" && a.scope == "global")
            .find_map(|a| a.address.parse().ok())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InterfaceState {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<InterfaceAddress>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InterfaceAddress {
    /// `inet` or `inet6`.
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub address: String,
    /// `global`, `link`, `local`.
    #[serde(default)]
    pub scope: String,
}

/// `GET /1.0/images/aliases/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageAlias {
    #[serde(default)]
    pub name: String,
    /// The image fingerprint.
    #[serde(default)]
    pub target: String,
}

/// A background operation, as `GET /1.0/operations/{id}` and its `wait` show it.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Operation {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// 100 created, 103 running, 105 pending, 200 success, 400 failure, 401 cancelled.
    #[serde(default)]
    pub status_code: u16,
    #[serde(default)]
    pub err: String,
    /// The URLs of what it works on, by kind (`instances`, …).
    #[serde(default, deserialize_with = "nullable")]
    pub resources: BTreeMap<String, Vec<String>>,
}

impl Operation {
    pub fn is_pending(&self) -> bool {
        matches!(self.status_code, 100 | 103 | 105)
    }

    pub fn works_on(&self, kind: &str, url: &str) -> bool {
        self.resources
            .get(kind)
            .is_some_and(|urls| urls.iter().any(|u| u == url))
    }
}

/// `GET /1.0/operations?recursion=1`: operations by state.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Operations {
    #[serde(default, deserialize_with = "nullable")]
    pub running: Vec<Operation>,
}

/// What a finished `exec` operation's metadata says: the exit code.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ExecResult {
    #[serde(rename = "return", default = "no_exit_code")]
    pub code: i64,
}

fn no_exit_code() -> i64 {
    -1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_a_global_ipv4_on_any_interface_but_loopback() {
        let state: InstanceState = serde_json::from_str(
            r#"{"status":"Running","network":{
                "lo":{"type":"loopback","addresses":[{"family":"inet","address":"127.0.0.1","scope":"local"}]},
                "enp5s0":{"type":"broadcast","addresses":[{"family":"inet6","address":"fe80::1","scope":"link"}]}}}"#,
        )
        .expect("decodes");
        assert!(!state.has_global_ipv4());
        let state: InstanceState = serde_json::from_str(
            r#"{"status":"Running","network":{"enp5s0":{"type":"broadcast","addresses":[
                {"family":"inet","address":"10.20.0.5","scope":"global"}]}}}"#,
        )
        .expect("decodes");
        assert!(state.has_global_ipv4());
    }

    #[test]
    fn a_stopped_instance_s_null_network_is_no_interfaces() {
        let state: InstanceState = serde_json::from_str(r#"{"status":"Stopped","network":null}"#).expect("decodes");
        assert!(state.network.is_empty() && !state.has_global_ipv4());
    }
}
