//! What every new runner of the unit gets ([`RunnerSettings`]), from the config, GitHub (the
//! runner group's id) and LXD (the image, the server's features).

use std::collections::BTreeMap;

use super::{ManagerError, RunnerImage, RunnerManager};
use crate::config::ByteSize;
use crate::lxd::{InstanceSource, InstanceType};
use crate::lxd_setup as setup;
use crate::proxy::Proxy;
use crate::runner::{self, Registration, RunnerSettings};
use crate::runner_binary;

impl RunnerManager {
    /// The labels every runner of the unit carries: the defaults (self-hosted, linux, the
    /// architecture, the application, `base-image`), then the custom ones.
    pub(super) fn runner_labels(&self) -> Result<Vec<String>, ManagerError> {
        runner_labels(&self.config, self.deps.unit.app())
    }

    /// What every new runner gets; asks GitHub for the group id and LXD for the image.
    pub(super) async fn settings(&self) -> Result<RunnerSettings, ManagerError> {
        let config = &self.config;
        // aproxy as the original placed it: `host:port` of the model's HTTP (else HTTPS) proxy.
        let aproxy = config
            .use_aproxy
            .then(|| config.proxy.http.as_ref().or(config.proxy.https.as_ref()))
            .flatten()
            .and_then(|p| url::Url::parse(p).ok())
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
        // With aproxy the proxy is transparent: no variables (as upstream settled on later, so
        // that tools do not go through it twice).
        let proxy = match aproxy {
            Some(_) => Proxy::default(),
            None => config.proxy.clone(),
        };
        let kind = config.instance_kind();
        let server = self.deps.lxd.server().await?;
        let names = self.deps.names().await?;
        let mut devices = BTreeMap::from([("eth0".to_string(), setup::runner_nic(&server, &names))]);
        if kind == InstanceType::VirtualMachine && server.has_extension("disk_io_cache") {
            devices.insert("root".to_string(), vm_root_disk(&config.vm_disk, &names.pool));
        }
        let (source, runner_in_image) = match &self.image {
            RunnerImage::Baked { alias, runner_sha256 } => {
                // An image baked with an older runner still serves (the new one is pushed in)
                // until the next bake.
                let current = self.cached_tarball().is_some_and(|t| t.sha256() == runner_sha256);
                (InstanceSource::Alias(alias.clone()), current)
            }
            _ => (runner::resolve_source(&self.deps.lxd, &config.base_image).await?, false),
        };
        Ok(RunnerSettings {
            kind,
            source,
            runner_in_image,
            // Not `default`: runners get only what the charm owns (its NIC, its pool).
            profiles: names.runner_profiles(config),
            devices,
            url: self.github.scope().registration_url(&config.github_url),
            labels: self.runner_labels()?,
            group: config.group.clone(),
            group_id: self.github.runner_group_id().await?,
            registration: Registration::Jit,
            proxy,
            aproxy,
            dockerhub_mirror: config
                .dockerhub_mirror
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string()),
            ready_timeout: config.ready_timeout(),
        })
    }
}

/// The labels every runner of application `app` carries under `config`: the defaults
/// (self-hosted, linux, the architecture, the application, `base-image`), then the custom ones.
pub fn runner_labels(config: &crate::config::CharmConfig, app: &str) -> Result<Vec<String>, ManagerError> {
    let defaults = [
        "self-hosted",
        "linux",
        runner_binary::host_arch()?,
        app,
        config.base_image.as_str(),
    ];
    Ok(labels(defaults, &config.labels))
}

/// A VM's root disk on the RAM disk's pool with host caching off (`io.cache=unsafe`): a disk
/// image on tmpfs is usable only so (the original's fix), and its data is thrown away with
/// the instance anyway. Containers keep the resource profile's root disk.
fn vm_root_disk(size: &ByteSize, pool: &str) -> BTreeMap<String, String> {
    [
        ("type", "disk".to_string()),
        ("path", "/".to_string()),
        ("pool", pool.to_string()),
        ("size", size.to_string()),
        ("io.cache", "unsafe".to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into()
}

/// The default labels, then the custom ones that are not among them (GitHub compares labels
/// without regard to case; the config refused the other clashes already).
fn labels<'a>(defaults: [&'a str; 5], custom: &'a [String]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for label in defaults.into_iter().chain(custom.iter().map(String::as_str)) {
        if !all.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            all.push(label.to_string());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_s_root_disk_is_on_the_ram_disk_pool_with_host_caching_off() {
        let disk = vm_root_disk(&ByteSize::parse("10GiB").expect("size"), "ghr-1a2b3c4d");
        assert_eq!(disk["pool"], "ghr-1a2b3c4d");
        assert_eq!(disk["io.cache"], "unsafe");
        assert_eq!(disk["path"], "/");
        assert_eq!(disk["size"], ByteSize::parse("10GiB").expect("size").to_string());
    }

    #[test]
    fn custom_labels_follow_the_defaults_and_a_default_is_never_repeated() {
        let custom = ["GPU".to_string(), "Linux".to_string()];
        let all = labels(["self-hosted", "linux", "x64", "app", "jammy"], &custom);
        assert_eq!(all, ["self-hosted", "linux", "x64", "app", "jammy", "GPU"]);
    }
}
