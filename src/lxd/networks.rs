//! Networks and network ACLs: the runners' own bridge and its firewall.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::client::{segment, LxdClient};
use super::error::LxdError;
use super::types::{Network, NetworkAcl};

const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

impl LxdClient {
    /// Every network LXD knows: its own (managed) and the host's interfaces.
    pub async fn networks(&self) -> Result<Vec<Network>, LxdError> {
        self.get("/1.0/networks?recursion=1").await
    }

    pub async fn network(&self, name: &str) -> Result<Option<Network>, LxdError> {
        self.get_optional(&format!("/1.0/networks/{}", segment(name))).await
    }

    /// Creates a managed network of `kind` (e.g. `bridge`) with `config`.
    pub async fn create_network(
        &self,
        name: &str,
        kind: &str,
        description: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), LxdError> {
        let body = json!({"name": name, "type": kind, "description": description, "config": config});
        self.send(Method::POST, "/1.0/networks", Some(&body), CHANGE_TIMEOUT)
            .await
    }

    /// Sets the given config keys of a network, leaving the others (`PATCH`).
    pub async fn patch_network_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<(), LxdError> {
        let body = json!({"config": config});
        self.send(
            Method::PATCH,
            &format!("/1.0/networks/{}", segment(name)),
            Some(&body),
            CHANGE_TIMEOUT,
        )
        .await
    }

    pub async fn delete_network(&self, name: &str) -> Result<(), LxdError> {
        self.send::<()>(
            Method::DELETE,
            &format!("/1.0/networks/{}", segment(name)),
            None,
            CHANGE_TIMEOUT,
        )
        .await
    }

    pub async fn network_acl(&self, name: &str) -> Result<Option<NetworkAcl>, LxdError> {
        self.get_optional(&format!("/1.0/network-acls/{}", segment(name))).await
    }

    /// Creates an ACL with its rules in one request: it never exists half made.
    pub async fn create_network_acl(&self, acl: &NetworkAcl) -> Result<(), LxdError> {
        self.send(Method::POST, "/1.0/network-acls", Some(acl), CHANGE_TIMEOUT)
            .await
    }

    /// Replaces an ACL's description, rules and config in one request; LXD reprograms the
    /// firewall of every network using it at once.
    pub async fn update_network_acl(&self, acl: &NetworkAcl) -> Result<(), LxdError> {
        let body =
            json!({"description": acl.description, "egress": acl.egress, "ingress": acl.ingress, "config": acl.config});
        self.send(
            Method::PUT,
            &format!("/1.0/network-acls/{}", segment(&acl.name)),
            Some(&body),
            CHANGE_TIMEOUT,
        )
        .await
    }

    pub async fn delete_network_acl(&self, name: &str) -> Result<(), LxdError> {
        self.send::<()>(
            Method::DELETE,
            &format!("/1.0/network-acls/{}", segment(name)),
            None,
            CHANGE_TIMEOUT,
        )
        .await
    }
}
