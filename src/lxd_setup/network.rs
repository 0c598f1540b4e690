//! The runners' network, made and kept by the charm over LXD's API (no `lxd init`): the
//! bridge `github-runners` on `runner-subnet` with NAT and no IPv6, its ACL (the rules are
//! [`firewall`]'s), and the `runner` profile's NIC on it with MAC/IPv4 filtering and port
//! isolation. The ACL exists before the bridge that uses it, so no runner ever has a network
//! without its firewall; a config change updates the ACL in place (no runner restarts).
//! `lxdbr0`, the `default` profile and other instances are never read or written.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::firewall::{self, Inputs};
use super::{nft, Names, SetupError};
use crate::config::CharmConfig;
use crate::host::net;
use crate::lxd::{LxdClient, LxdError, Network, Profile, Server};

/// How long a name lookup of GitHub or the proxy may take before the check is skipped.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the bridge, its ACL and the runner profile what `config` says; names what it made.
pub async fn ensure(
    lxd: &LxdClient,
    server: &Server,
    config: &CharmConfig,
    names: &Names,
) -> Result<Vec<String>, SetupError> {
    check_isolation(server)?;
    let mut made = Vec::new();
    let addresses = net::addresses()?;
    let routes = net::routes()?;
    if let Some(why) = firewall::subnet_clash(&config.runner_subnet, &routes, &addresses, &names.bridge) {
        return Err(SetupError::SubnetClash {
            subnet: config.runner_subnet.to_string(),
            why,
        });
    }
    let mut host_addresses: Vec<Ipv4Addr> = addresses.iter().map(|a| a.address).collect();
    host_addresses.push(config.runner_subnet.first_host());
    let proxies = proxy_addresses(config).await;
    let inputs = Inputs {
        host_addresses,
        denylist: config.denylist.clone(),
        proxies,
        runner_subnet: config.runner_subnet,
    };
    check_reachable(config, &inputs).await?;
    // The packet filter first: no bridge, and so no runner, ever exists without it.
    let lxd_networks: Vec<String> = lxd
        .networks()
        .await?
        .into_iter()
        .filter(|n| n.managed)
        .map(|n| n.name)
        .collect();
    let filter = nft::Filter {
        bridge: names.bridge.clone(),
        runner_subnet: config.runner_subnet,
        proxies: inputs.proxies.clone(),
        other_networks: nft::other_networks(&addresses, &lxd_networks, &names.bridge),
    };
    nft::apply(&filter, &names.table)?;
    // Both names are checked before anything is made, so a name taken leaves nothing behind.
    let found_acl = lxd.network_acl(&names.acl).await?;
    if found_acl.as_ref().is_some_and(|found| !firewall::owned(&found.config)) {
        return Err(SetupError::NotOurs {
            kind: "network ACL",
            name: names.acl.clone(),
        });
    }
    let found_network = lxd.network(&names.bridge).await?;
    if found_network
        .as_ref()
        .is_some_and(|found| !found.managed || !firewall::owned(&found.config))
    {
        return Err(SetupError::NotOurs {
            kind: "network",
            name: names.bridge.clone(),
        });
    }
    let acl = firewall::acl(&inputs, &names.acl);
    let acl_made = found_acl.is_none();
    match found_acl {
        None => {
            lxd.create_network_acl(&acl)
                .await
                .map_err(|e| refused_firewall(names, e))?;
            made.push(format!("network ACL {}", names.acl));
        }
        Some(found) if found != acl => {
            lxd.update_network_acl(&acl)
                .await
                .map_err(|e| refused_firewall(names, e))?;
            tracing::info!("LXD setup: firewall rules of {} updated in place", names.acl);
        }
        Some(_) => {}
    }
    if let Err(e) = ensure_bridge(lxd, found_network, config, names, &mut made).await {
        if acl_made {
            // A firewall for a bridge that could not be made is half a setup: take it back.
            if let Err(undo) = lxd.delete_network_acl(&names.acl).await {
                tracing::warn!("LXD setup: removing the ACL {} just made: {undo}", names.acl);
            }
        }
        return Err(e);
    }
    let profile = runner_profile(server, config.insecure, names);
    match lxd.profile(&names.runner_profile).await? {
        None => {
            lxd.create_profile(&profile).await?;
            made.push(format!("profile {}", names.runner_profile));
        }
        Some(found) if found != profile => {
            lxd.update_profile(&profile).await?;
            tracing::info!("LXD setup: profile {} updated", names.runner_profile);
        }
        Some(_) => {}
    }
    Ok(made)
}

/// Makes the runners' bridge (or brings its config back to what `config` says).
async fn ensure_bridge(
    lxd: &LxdClient,
    found: Option<Network>,
    config: &CharmConfig,
    names: &Names,
    made: &mut Vec<String>,
) -> Result<(), SetupError> {
    let wanted = firewall::network_config(&config.runner_subnet, &names.acl);
    match found {
        None => {
            let description = "github-runner charm: the runners' bridge (managed by the charm)";
            lxd.create_network(&names.bridge, "bridge", description, &wanted)
                .await
                .map_err(|e| refused_network(names, e))?;
            made.push(format!("network {} ({})", names.bridge, wanted["ipv4.address"]));
        }
        Some(found) => {
            let stale: BTreeMap<String, String> = wanted
                .into_iter()
                .filter(|(k, v)| found.config.get(k) != Some(v))
                .collect();
            if !stale.is_empty() {
                lxd.patch_network_config(&names.bridge, &stale)
                    .await
                    .map_err(|e| refused_network(names, e))?;
                tracing::info!("LXD setup: network {} updated: {stale:?}", names.bridge);
            }
        }
    }
    Ok(())
}

/// The API extension that keeps runners' ports on the bridge apart.
const PORT_ISOLATION: &str = "instance_nic_bridged_port_isolation";

/// A daemon that cannot isolate runners from each other gets none: the unit blocks, naming
/// what is missing, rather than let runners reach each other.
fn check_isolation(server: &Server) -> Result<(), SetupError> {
    match server.has_extension(PORT_ISOLATION) {
        true => Ok(()),
        false => Err(SetupError::NoPortIsolation {
            version: server.environment.server_version.clone(),
        }),
    }
}

/// Every runner's NIC: on the runners' bridge, unable to spoof MAC or IPv4 addresses, and
/// isolated from the other runners' ports (a daemon that cannot is refused first). The `runner` profile holds
/// it, and each runner gets a copy as its own device: LXD cannot change every NIC key of a
/// running instance, so a profile edit would re-plug the NIC of every runner (busy ones
/// too); with the copy, an edit reaches only the runners made after it.
pub fn runner_nic(server: &Server, names: &Names) -> BTreeMap<String, String> {
    let mut nic = BTreeMap::from(
        [
            ("type", "nic"),
            ("network", names.bridge.as_str()),
            ("name", "eth0"),
            ("security.mac_filtering", "true"),
            ("security.ipv4_filtering", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    if server.has_extension(PORT_ISOLATION) {
        nic.insert("security.port_isolation".into(), "true".into());
    }
    nic
}

/// The `runner` profile: [`runner_nic`], and with `test-mode=insecure` (containers) what
/// Docker in a container needs, nesting (and mknod/setxattr interception for its image
/// layers), as the original's test `lxd-profile.yaml` gave them; VMs never get these.
fn runner_profile(server: &Server, containers: bool, names: &Names) -> Profile {
    let nic = runner_nic(server, names);
    let config = match containers {
        true => [
            ("security.nesting", "true"),
            ("security.syscalls.intercept.mknod", "true"),
            ("security.syscalls.intercept.setxattr", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into(),
        false => BTreeMap::new(),
    };
    Profile {
        name: names.runner_profile.clone(),
        description: "Every GitHub runner of this unit: its NIC on the runners' bridge".into(),
        config,
        devices: BTreeMap::from([("eth0".to_string(), nic)]),
    }
}

fn refused_firewall(names: &Names, e: LxdError) -> SetupError {
    SetupError::Firewall {
        acl: names.acl.clone(),
        message: lxd_words(e),
    }
}

fn refused_network(names: &Names, e: LxdError) -> SetupError {
    SetupError::Network {
        bridge: names.bridge.clone(),
        message: lxd_words(e),
    }
}

fn lxd_words(e: LxdError) -> String {
    match e {
        LxdError::Api { message, .. } | LxdError::OperationFailed { err: message, .. } => message,
        other => other.to_string(),
    }
}

/// Every address and port of the model's HTTP and HTTPS proxies (runners use both, and
/// aproxy the HTTP one first); names that do not resolve give none.
async fn proxy_addresses(config: &CharmConfig) -> Vec<(Ipv4Addr, u16)> {
    let mut found = Vec::new();
    for proxy in [&config.proxy.http, &config.proxy.https].into_iter().flatten() {
        let Some((host, port)) = url::Url::parse(proxy)
            .ok()
            .and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default()?)))
        else {
            continue;
        };
        for addr in resolve(&host, port).await {
            if !found.contains(&(addr, port)) {
                found.push((addr, port));
            }
        }
    }
    found
}

/// Refuses a config under which runners could not reach GitHub (or the proxies they use).
async fn check_reachable(config: &CharmConfig, inputs: &Inputs) -> Result<(), SetupError> {
    let url = &config.github_url;
    let why = if inputs.proxies.is_empty() {
        let github = match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => resolve(host, port).await,
            _ => Vec::new(),
        };
        firewall::unreachable(&format!("GitHub ({url})"), &github, inputs)
    } else {
        // Runners go through the proxies; GitHub itself may sit anywhere.
        let proxies: Vec<Ipv4Addr> = inputs.proxies.iter().map(|(addr, _)| *addr).collect();
        firewall::unreachable("the model proxy", &proxies, inputs)
    };
    match why {
        Some(why) => Err(SetupError::Unreachable(why)),
        None => Ok(()),
    }
}

/// The IPv4 addresses of `host`; empty (and the checks that need them skipped) when the
/// name does not resolve in time: DNS trouble is not a reason to block the unit.
async fn resolve(host: &str, port: u16) -> Vec<Ipv4Addr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => vec![v4],
            IpAddr::V6(_) => Vec::new(),
        };
    }
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs
            .filter_map(|a| match a.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect(),
        Ok(Err(e)) => {
            tracing::debug!("resolving {host}: {e}; skipping the reachability check");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!("resolving {host} took over {LOOKUP_TIMEOUT:?}; skipping the reachability check");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(extensions: &[&str]) -> Server {
        Server {
            api_extensions: extensions.iter().map(|e| e.to_string()).collect(),
            ..Server::default()
        }
    }

    #[test]
    fn every_runner_nic_is_on_the_charm_s_bridge_and_cannot_spoof() {
        let names = Names::legacy();
        let profile = runner_profile(&server(&["instance_nic_bridged_port_isolation"]), false, &names);
        let nic = &profile.devices["eth0"];
        assert_eq!(nic["network"], names.bridge);
        assert_eq!(nic["security.mac_filtering"], "true");
        assert_eq!(nic["security.ipv4_filtering"], "true");
        assert_eq!(nic["security.port_isolation"], "true");
    }

    #[test]
    fn a_daemon_that_cannot_isolate_runners_is_refused_naming_its_version_and_the_fix() {
        let old = Server {
            environment: crate::lxd::ServerEnvironment {
                server_version: "4.0.9".into(),
            },
            ..server(&[])
        };
        let err = check_isolation(&old).expect_err("no port isolation");
        assert!(err.needs_operator(), "the unit blocks");
        let message = err.to_string();
        assert!(
            message.contains("4.0.9") && message.contains(PORT_ISOLATION),
            "{message}"
        );
        assert!(check_isolation(&server(&[PORT_ISOLATION])).is_ok());
    }

    #[test]
    fn only_test_mode_containers_get_nesting_for_docker_and_vms_never_do() {
        let containers = runner_profile(&server(&[]), true, &Names::legacy());
        assert_eq!(containers.config["security.nesting"], "true");
        assert_eq!(containers.config["security.syscalls.intercept.mknod"], "true");
        let vms = runner_profile(&server(&[]), false, &Names::legacy());
        assert!(vms.config.is_empty(), "{:?}", vms.config);
    }
}
