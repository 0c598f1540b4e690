//! Images: listed with their properties, published from an instance, pointed at by an alias,
//! deleted. The charm's runner image is the only one it makes ([`crate::bake`]).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{segment, LxdClient};
use super::error::LxdError;

/// Long: a VM's disk is gigabytes, and LXD tars it.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1800);
const IMAGE_TIMEOUT: Duration = Duration::from_secs(120);

/// An image as `GET /1.0/images?recursion=1` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub fingerprint: String,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub aliases: Vec<AliasName>,
    /// Where a cached remote image came from (LXD refreshes it from there on its own).
    #[serde(default)]
    pub update_source: Option<UpdateSource>,
    /// When LXD got it (RFC 3339).
    #[serde(default)]
    pub uploaded_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UpdateSource {
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub server: String,
}

/// The image `alias` (a local alias) points at, from a list of [`LxdClient::images`].
pub fn aliased<'a>(images: &'a [Image], alias: &str) -> Option<&'a Image> {
    images.iter().find(|i| i.aliases.iter().any(|a| a.name == alias))
}

/// The newest image LXD cached from `server`'s `alias`: what the remote's alias points at, as
/// of LXD's last refresh of it (LXD checks cached images every 6 hours by default).
pub fn cached_from<'a>(images: &'a [Image], server: &str, alias: &str) -> Option<&'a Image> {
    images
        .iter()
        .filter(|i| {
            i.update_source
                .as_ref()
                .is_some_and(|s| s.alias == alias && s.server.trim_end_matches('/') == server.trim_end_matches('/'))
        })
        .max_by(|a, b| a.uploaded_at.cmp(&b.uploaded_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_image_cached_from_a_remote_alias_is_its_current_one() {
        let image = |fp: &str, alias: &str, at: &str| Image {
            fingerprint: fp.into(),
            properties: Default::default(),
            aliases: Vec::new(),
            update_source: Some(UpdateSource {
                alias: alias.into(),
                server: "https://cloud-images.ubuntu.com/daily".into(),
            }),
            uploaded_at: at.into(),
        };
        let images = [
            image("old", "jammy", "2026-12-01T06:00:00Z"),
            image("new", "jammy", "2026-12-05T06:00:00Z"),
            image("noble", "noble", "2026-12-06T06:00:00Z"),
        ];
        let found = cached_from(&images, "https://cloud-images.ubuntu.com/daily/", "jammy");
        assert_eq!(found.map(|i| i.fingerprint.as_str()), Some("new"));
        assert!(cached_from(&images, "https://example.com", "jammy").is_none());
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AliasName {
    pub name: String,
}

impl LxdClient {
    /// Every image of the server, with its properties and aliases.
    pub async fn images(&self) -> Result<Vec<Image>, LxdError> {
        self.get("/1.0/images?recursion=1").await
    }

    /// Publishes a stopped instance as a new image with `properties`, uncompressed (a bake's
    /// image is used on this machine only: compressing it would only cost time); returns its
    /// fingerprint.
    pub async fn publish(&self, instance: &str, properties: &BTreeMap<String, String>) -> Result<String, LxdError> {
        let body = json!({
            "source": {"type": "instance", "name": instance},
            "properties": properties,
            "compression_algorithm": "none",
        });
        let metadata = self
            .call(Method::POST, "/1.0/images", Some(&body), PUBLISH_TIMEOUT)
            .await?;
        metadata["fingerprint"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| LxdError::Decode {
                path: "/1.0/images".into(),
                detail: format!("the publish operation named no fingerprint: {metadata}"),
            })
    }

    /// Points `alias` at `fingerprint`, making the alias if it does not exist.
    pub async fn point_alias(&self, alias: &str, fingerprint: &str, description: &str) -> Result<(), LxdError> {
        let body = json!({"target": fingerprint, "description": description});
        if self.image_alias(alias).await?.is_some() {
            let path = format!("/1.0/images/aliases/{}", segment(alias));
            return self.send(Method::PUT, &path, Some(&body), IMAGE_TIMEOUT).await;
        }
        let body = json!({"name": alias, "target": fingerprint, "description": description});
        self.send(Method::POST, "/1.0/images/aliases", Some(&body), IMAGE_TIMEOUT)
            .await
    }

    /// Deletes an image (its aliases go with it); one that is gone already is not an error.
    pub async fn delete_image(&self, fingerprint: &str) -> Result<(), LxdError> {
        let path = format!("/1.0/images/{}", segment(fingerprint));
        match self.send::<()>(Method::DELETE, &path, None, IMAGE_TIMEOUT).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Sets one property of an image, keeping the others.
    pub async fn set_image_property(&self, fingerprint: &str, key: &str, value: &str) -> Result<(), LxdError> {
        let path = format!("/1.0/images/{}", segment(fingerprint));
        let body = json!({"properties": {key: value}});
        self.send(Method::PATCH, &path, Some(&body), IMAGE_TIMEOUT).await
    }
}
