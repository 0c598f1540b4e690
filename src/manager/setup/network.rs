//! The runners' network, made and kept by the charm over LXD's API (no `lxd init`): the
//! bridge `github-runners` on `runner-subnet` with NAT and no IPv6, its ACL (the rules are
//! [`firewall`]'s), and the `runner` profile's NIC on it with MAC/IPv4 filtering and port
//! isolation. The ACL exists before the bridge that uses it, so no runner ever has a network
//! without its firewall; a config change updates the ACL in place (no runner restarts).
//! `lxdbr0`, the `default` profile and other instances are never read or written.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::{SetupError, RUNNER_PROFILE};
use crate::config::CharmConfig;
use crate::host::net;
use crate::lxd::{LxdClient, LxdError, Profile, Server};
use crate::manager::firewall::{self, Inputs, ACL, NETWORK};

/// How long a name lookup of GitHub or the proxy may take before the check is skipped.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the bridge, its ACL and the runner profile what `config` says; names what it made.
pub async fn ensure(lxd: &LxdClient, server: &Server, config: &CharmConfig) -> Result<Vec<String>, SetupError> {
    let mut made = Vec::new();
    let addresses = net::addresses()?;
    let routes = net::routes()?;
    if let Some(why) = firewall::subnet_clash(&config.runner_subnet, &routes, &addresses) {
        return Err(SetupError::SubnetClash {
            subnet: config.runner_subnet.to_string(),
            why,
        });
    }
    let mut host_addresses: Vec<Ipv4Addr> = addresses.iter().map(|a| a.address).collect();
    host_addresses.push(config.runner_subnet.first_host());
    let proxy = proxy_address(config).await;
    let inputs = Inputs {
        host_addresses,
        denylist: config.denylist.clone(),
        proxy_on_host: proxy.as_ref().map(|(addrs, port)| (addrs[0], *port)),
    };
    check_reachable(config, &inputs, proxy.as_ref().map(|(a, _)| a.as_slice())).await?;
    let acl = firewall::acl(&inputs);
    match lxd.network_acl(ACL).await? {
        None => {
            lxd.create_network_acl(&acl).await.map_err(refused_firewall)?;
            made.push(format!("network ACL {ACL}"));
        }
        Some(found) if !firewall::owned(&found.config) => {
            return Err(SetupError::NotOurs {
                kind: "network ACL",
                name: ACL,
            })
        }
        Some(found) if found != acl => {
            lxd.update_network_acl(&acl).await.map_err(refused_firewall)?;
            tracing::info!("LXD setup: firewall rules of {ACL} updated in place");
        }
        Some(_) => {}
    }
    let wanted = firewall::network_config(&config.runner_subnet);
    match lxd.network(NETWORK).await? {
        None => {
            let description = "github-runner charm: the runners' bridge (managed by the charm)";
            lxd.create_network(NETWORK, "bridge", description, &wanted)
                .await
                .map_err(refused_network)?;
            made.push(format!("network {NETWORK} ({})", wanted["ipv4.address"]));
        }
        Some(found) if !found.managed || !firewall::owned(&found.config) => {
            return Err(SetupError::NotOurs {
                kind: "network",
                name: NETWORK,
            })
        }
        Some(found) => {
            let stale: BTreeMap<String, String> = wanted
                .into_iter()
                .filter(|(k, v)| found.config.get(k) != Some(v))
                .collect();
            if !stale.is_empty() {
                lxd.patch_network_config(NETWORK, &stale)
                    .await
                    .map_err(refused_network)?;
                tracing::info!("LXD setup: network {NETWORK} updated: {stale:?}");
            }
        }
    }
    let profile = runner_profile(server, config.insecure);
    match lxd.profile(RUNNER_PROFILE).await? {
        None => {
            lxd.create_profile(&profile).await?;
            made.push(format!("profile {RUNNER_PROFILE}"));
        }
        Some(found) if found != profile => {
            lxd.update_profile(&profile).await?;
            tracing::info!("LXD setup: profile {RUNNER_PROFILE} updated");
        }
        Some(_) => {}
    }
    Ok(made)
}

/// Every runner's NIC: on the runners' bridge, unable to spoof MAC or IPv4 addresses, and
/// isolated from the other runners' ports where LXD can do that. With `test-mode=insecure`
/// runners are containers, and Docker in a container needs nesting (and mknod/setxattr
/// interception for its image layers), as the original's test `lxd-profile.yaml` gave them;
/// VMs never get these.
fn runner_profile(server: &Server, containers: bool) -> Profile {
    let mut nic = BTreeMap::from(
        [
            ("type", "nic"),
            ("network", NETWORK),
            ("name", "eth0"),
            ("security.mac_filtering", "true"),
            ("security.ipv4_filtering", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    if server.has_extension("network_bridge_port_isolation") {
        nic.insert("security.port_isolation".into(), "true".into());
    }
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
        name: RUNNER_PROFILE.into(),
        description: "Every GitHub runner of this unit: its NIC on the runners' bridge".into(),
        config,
        devices: BTreeMap::from([("eth0".to_string(), nic)]),
    }
}

fn refused_firewall(e: LxdError) -> SetupError {
    SetupError::Firewall { message: lxd_words(e) }
}

fn refused_network(e: LxdError) -> SetupError {
    SetupError::Network { message: lxd_words(e) }
}

fn lxd_words(e: LxdError) -> String {
    match e {
        LxdError::Api { message, .. } | LxdError::OperationFailed { err: message, .. } => message,
        other => other.to_string(),
    }
}

/// The model proxy's addresses and port, when one is set.
async fn proxy_address(config: &CharmConfig) -> Option<(Vec<Ipv4Addr>, u16)> {
    let proxy = config.proxy.https.as_ref().or(config.proxy.http.as_ref())?;
    let url = url::Url::parse(proxy).ok()?;
    let port = url.port_or_known_default()?;
    let addrs = resolve(url.host_str()?, port).await;
    (!addrs.is_empty()).then_some((addrs, port))
}

/// Refuses a config under which runners could not reach GitHub (or the proxy they use).
async fn check_reachable(config: &CharmConfig, inputs: &Inputs, proxy: Option<&[Ipv4Addr]>) -> Result<(), SetupError> {
    let url = &config.github_url;
    let github = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => resolve(host, port).await,
        _ => Vec::new(),
    };
    let why = match proxy {
        // Runners go through the proxy; GitHub itself may sit anywhere.
        Some(proxy) => firewall::unreachable("the model proxy", proxy, inputs),
        None => firewall::unreachable(&format!("GitHub ({url})"), &github, inputs),
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
