//! Profiles, storage pools, networks and image aliases: what the unit setup needs.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::LxdClient;
use super::error::LxdError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
}

fn optional<T>(result: Result<T, LxdError>) -> Result<Option<T>, LxdError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

impl LxdClient {
    pub async fn profile(&self, name: &str) -> Result<Option<Profile>, LxdError> {
        optional(self.get(&format!("/1.0/profiles/{name}")).await)
    }

    pub async fn create_profile(&self, profile: &Profile) -> Result<(), LxdError> {
        let body = serde_json::to_value(profile).expect("a profile always serialises");
        self.call(Method::POST, "/1.0/profiles", Some(&body), Duration::from_secs(60))
            .await
            .map(drop)
    }

    /// Replaces a profile's description, config and devices.
    pub async fn update_profile(&self, profile: &Profile) -> Result<(), LxdError> {
        let body = json!({"description": profile.description, "config": profile.config, "devices": profile.devices});
        self.call(
            Method::PUT,
            &format!("/1.0/profiles/{}", profile.name),
            Some(&body),
            Duration::from_secs(60),
        )
        .await
        .map(drop)
    }

    /// The names of every profile.
    pub async fn get_profile_names(&self) -> Vec<String> {
        let paths: Vec<String> = self.get("/1.0/profiles").await.unwrap_or_default();
        paths
            .iter()
            .filter_map(|p| p.rsplit('/').next().map(String::from))
            .collect()
    }

    pub async fn delete_profile(&self, name: &str) -> Result<(), LxdError> {
        self.call(
            Method::DELETE,
            &format!("/1.0/profiles/{name}"),
            None,
            Duration::from_secs(60),
        )
        .await
        .map(drop)
    }

    pub async fn storage_pool(&self, name: &str) -> Result<Option<Value>, LxdError> {
        optional(self.get(&format!("/1.0/storage-pools/{name}")).await)
    }

    pub async fn create_storage_pool(
        &self,
        name: &str,
        driver: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), LxdError> {
        let body = json!({"name": name, "driver": driver, "config": config});
        self.call(
            Method::POST,
            "/1.0/storage-pools",
            Some(&body),
            Duration::from_secs(120),
        )
        .await
        .map(drop)
    }

    pub async fn delete_storage_pool(&self, name: &str) -> Result<(), LxdError> {
        self.call(
            Method::DELETE,
            &format!("/1.0/storage-pools/{name}"),
            None,
            Duration::from_secs(120),
        )
        .await
        .map(drop)
    }

    pub async fn network(&self, name: &str) -> Result<Option<Value>, LxdError> {
        optional(self.get(&format!("/1.0/networks/{name}")).await)
    }

    /// The image fingerprint an alias points at, if the alias exists.
    pub async fn image_alias(&self, name: &str) -> Result<Option<String>, LxdError> {
        let alias: Option<Value> = optional(self.get(&format!("/1.0/images/aliases/{name}")).await)?;
        Ok(alias.and_then(|a| a["target"].as_str().map(String::from)))
    }

    /// Whether the server has an API extension (feature detection across LXD versions).
    pub async fn has_extension(&self, extension: &str) -> Result<bool, LxdError> {
        let server = self.server().await?;
        Ok(server["api_extensions"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == extension)))
    }
}
