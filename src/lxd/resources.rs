//! Profiles, storage pools and image aliases: what the unit setup needs besides networks.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{segment, LxdClient};
use super::error::LxdError;
use super::types::{ImageAlias, StoragePool};

const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
const POOL_TIMEOUT: Duration = Duration::from_secs(120);

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

impl LxdClient {
    pub async fn profile(&self, name: &str) -> Result<Option<Profile>, LxdError> {
        self.get_optional(&format!("/1.0/profiles/{}", segment(name))).await
    }

    pub async fn create_profile(&self, profile: &Profile) -> Result<(), LxdError> {
        self.send(Method::POST, "/1.0/profiles", Some(profile), CHANGE_TIMEOUT)
            .await
    }

    /// Replaces a profile's description, config and devices.
    pub async fn update_profile(&self, profile: &Profile) -> Result<(), LxdError> {
        let body = json!({"description": profile.description, "config": profile.config, "devices": profile.devices});
        self.send(
            Method::PUT,
            &format!("/1.0/profiles/{}", segment(&profile.name)),
            Some(&body),
            CHANGE_TIMEOUT,
        )
        .await
    }

    /// The names of every profile.
    pub async fn profile_names(&self) -> Result<Vec<String>, LxdError> {
        self.names("/1.0/profiles").await
    }

    /// The names of every object of a collection (`/1.0/profiles`, `/1.0/network-acls`, …),
    /// from the URLs LXD lists without recursion.
    pub async fn names(&self, collection: &str) -> Result<Vec<String>, LxdError> {
        let paths: Vec<String> = self.get(collection).await?;
        Ok(paths
            .iter()
            .filter_map(|p| p.rsplit('/').next())
            .map(|n| {
                url::form_urlencoded::parse(format!("n={n}").as_bytes())
                    .map(|(_, v)| v.into_owned())
                    .collect()
            })
            .collect())
    }

    pub async fn delete_profile(&self, name: &str) -> Result<(), LxdError> {
        self.send::<()>(
            Method::DELETE,
            &format!("/1.0/profiles/{}", segment(name)),
            None,
            CHANGE_TIMEOUT,
        )
        .await
    }

    pub async fn storage_pool(&self, name: &str) -> Result<Option<StoragePool>, LxdError> {
        self.get_optional(&format!("/1.0/storage-pools/{}", segment(name)))
            .await
    }

    pub async fn create_storage_pool(
        &self,
        name: &str,
        driver: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), LxdError> {
        let body = json!({"name": name, "driver": driver, "config": config});
        self.send(Method::POST, "/1.0/storage-pools", Some(&body), POOL_TIMEOUT)
            .await
    }

    pub async fn delete_storage_pool(&self, name: &str) -> Result<(), LxdError> {
        self.send::<()>(
            Method::DELETE,
            &format!("/1.0/storage-pools/{}", segment(name)),
            None,
            POOL_TIMEOUT,
        )
        .await
    }

    /// The image fingerprint an alias points at, if the alias exists.
    pub async fn image_alias(&self, name: &str) -> Result<Option<String>, LxdError> {
        let alias: Option<ImageAlias> = self
            .get_optional(&format!("/1.0/images/aliases/{}", segment(name)))
            .await?;
        Ok(alias.map(|a| a.target))
    }
}
