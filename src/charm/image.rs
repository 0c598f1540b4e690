//! The runner image as a hook sees it: what it should be baked from, what LXD holds, how the
//! last bake went; a bake started in the background when [`crate::bake::plan`] says so; and
//! what new runners start from meanwhile. Never waits for a bake.

use std::collections::BTreeMap;

use super::Ctx;
use crate::bake::plan::{self, Decision, ImageStatus, Seen};
use crate::bake::recipe::{self, Download, ProxyLines, Recipe};
use crate::bake::{self, BakeNames, Files, Request};
use crate::config::CharmConfig;
use crate::lxd::LxdError;
use crate::manager::RunnerImage;
use crate::runner_binary::VerifiedTarball;

/// A test seam: `"<url> <sha256>"` of the yq build the bake installs (tests serve one from
/// fake-github: GitHub's releases are out of reach there).
pub const YQ_VAR: &str = "GITHUB_RUNNER_YQ";

/// What the runners start from, and what the status says of the image.
#[derive(Debug, Clone)]
pub(super) struct Image {
    pub runners: RunnerImage,
    pub status: Option<ImageStatus>,
}

impl Image {
    fn base() -> Image {
        Image {
            runners: RunnerImage::Base,
            status: None,
        }
    }
}

/// Looks at the image and starts a bake when one is due. With `bake-image=false`, runners
/// start from `base-image`. Without a runner binary yet, nothing can be baked.
pub(super) async fn ensure(ctx: &Ctx<'_>, config: &CharmConfig, tarball: Option<&VerifiedTarball>) -> Image {
    if !config.image.bake {
        return Image::base();
    }
    match look(ctx, config, tarball).await {
        Ok(image) => image,
        Err(e) => {
            tracing::warn!("runner image: {e}");
            Image {
                runners: RunnerImage::NotYet,
                status: Some(ImageStatus::Baking {
                    step: format!("waiting: {e}"),
                    first: true,
                }),
            }
        }
    }
}

async fn look(ctx: &Ctx<'_>, config: &CharmConfig, tarball: Option<&VerifiedTarball>) -> Result<Image, String> {
    let lxd = &ctx.deps.lxd;
    let host = &ctx.deps.host;
    let names = BakeNames::for_unit(&ctx.deps.unit);
    let lxd_err = |e: LxdError| e.to_string();
    // One list: it names each image's aliases too.
    let images = lxd.images().await.map_err(lxd_err)?;
    let current = crate::lxd::aliased(&images, &names.image);
    let Some(tarball) = tarball else {
        // The image in use stays; a bake waits for the runner binary.
        return Ok(from(&names, current.map(|i| &i.properties), None));
    };
    let recipe = recipe(config)?;
    // A local alias's target; for a remote image, the newest copy LXD cached from it (which
    // LXD itself refreshes from the remote), so that a new daily image means a new bake.
    let base_fingerprint = crate::lxd::aliased(&images, &config.base_image)
        .or_else(|| crate::lxd::cached_from(&images, crate::runner::UBUNTU_DAILY, &config.base_image))
        .map(|i| i.fingerprint.clone());
    let runner = (tarball.version(), tarball.sha256());
    let wanted = recipe::inputs(&config.base_image, base_fingerprint.as_deref(), runner, &recipe);
    let files = Files::new(host, ctx.deps.unit.as_str());
    let progress = files.progress();
    let seen = Seen {
        wanted: &wanted,
        current: current.map(|i| (i.fingerprint.as_str(), &i.properties)),
        progress: progress.as_ref(),
        running: bake::service::running(host),
        now: bake::now(),
        refresh_hours: config.image.refresh_hours,
    };
    let decision = plan::decide(&seen);
    if let Some(why) = &decision.bake {
        tracing::info!("baking the runner image {}: {why}", names.image);
        let request = request(ctx, config, &names, tarball, recipe, wanted).await?;
        start(ctx, &files, &request)?;
    } else if let ImageStatus::Baking { step, .. } = &decision.status {
        tracing::info!("runner image {}: {step}", names.image);
    }
    Ok(from(&names, current.map(|i| &i.properties), Some(decision)))
}

/// What runners start from, given the properties of the image under the alias (if any) and
/// the decision.
fn from(names: &BakeNames, current: Option<&BTreeMap<String, String>>, decision: Option<Decision>) -> Image {
    let runners = match current {
        Some(properties) => RunnerImage::Baked {
            alias: names.image.clone(),
            runner_sha256: properties
                .get(&recipe::key("runner-sha256"))
                .cloned()
                .unwrap_or_default(),
        },
        None => RunnerImage::NotYet,
    };
    Image {
        runners,
        status: decision.map(|d| d.status),
    }
}

fn recipe(config: &CharmConfig) -> Result<Recipe, String> {
    let yq = match std::env::var(YQ_VAR) {
        Ok(seam) => Download::parse(&seam).map_err(|e| format!("{YQ_VAR}: {e}"))?,
        Err(_) => recipe::yq_release(std::env::consts::ARCH)
            .ok_or_else(|| format!("yq has no build for {}", std::env::consts::ARCH))?,
    };
    Ok(Recipe {
        packages: config.image.packages.clone(),
        yq,
        proxy: ProxyLines::of(&config.proxy),
        boot_timeout_secs: config.ready_timeout().as_secs(),
    })
}

async fn request(
    ctx: &Ctx<'_>,
    config: &CharmConfig,
    names: &BakeNames,
    tarball: &VerifiedTarball,
    recipe: Recipe,
    inputs: BTreeMap<String, String>,
) -> Result<Request, String> {
    let lxd = &ctx.deps.lxd;
    let server = lxd.server().await.map_err(|e| e.to_string())?;
    let setup = ctx.deps.names().await.map_err(|e| e.to_string())?;
    let base = crate::runner::resolve_source(lxd, &config.base_image)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Request {
        unit: ctx.deps.unit.as_str().to_string(),
        lxd_socket: lxd.socket().to_path_buf(),
        root: ctx.deps.host.path("/"),
        names: names.clone(),
        kind: config.instance_kind(),
        base,
        profiles: setup.runner_profiles(config),
        devices: BTreeMap::from([("eth0".to_string(), crate::lxd_setup::runner_nic(&server, &setup))]),
        limits: BTreeMap::new(),
        tarball: tarball.path().to_path_buf(),
        recipe,
        proxy: config.proxy.clone(),
        inputs,
    })
}

/// Writes the request and starts the service.
fn start(ctx: &Ctx<'_>, files: &Files, request: &Request) -> Result<(), String> {
    files
        .write_request(request)
        .map_err(|e| format!("writing {}: {e}", files.request.display()))?;
    let dispatch = super::cos::dispatch(ctx);
    let text = bake::service::render(ctx.deps.unit.as_str(), &dispatch, &files.request).map_err(|e| e.to_string())?;
    bake::service::start(&ctx.deps.host, &text).map_err(|e| format!("starting {}: {e}", bake::SERVICE))
}

/// Once a runner made from the current image is online, the image it replaced goes: until
/// then it was kept, in case the new one could make no working runner.
pub(super) async fn retire_previous(ctx: &Ctx<'_>, online: &std::collections::BTreeSet<String>) {
    let files = Files::new(&ctx.deps.host, ctx.deps.unit.as_str());
    // Never while a bake runs: the progress file is its own then.
    let Some(mut progress) = files
        .progress()
        .filter(|p| p.previous.is_some() && p.state != bake::BakeState::Running)
    else {
        return;
    };
    if bake::service::running(&ctx.deps.host) {
        return;
    }
    let lxd = &ctx.deps.lxd;
    let names = BakeNames::for_unit(&ctx.deps.unit);
    let Ok(Some(current)) = lxd.image_alias(&names.image).await else {
        return;
    };
    let Ok(instances) = lxd.instances().await else { return };
    let proven = instances
        .iter()
        .any(|i| online.contains(&i.name) && i.config.get("volatile.base_image") == Some(&current));
    if !proven {
        return;
    }
    let previous = progress.previous.take().expect("filtered on");
    match lxd.delete_image(&previous).await {
        Ok(()) => {
            tracing::info!("a runner from the new image {current} is online: removed the previous image {previous}");
            if let Err(e) = files.write_progress(&progress) {
                tracing::warn!("writing {}: {e}", files.progress.display());
            }
        }
        Err(e) => tracing::warn!("removing the previous runner image {previous}: {e}"),
    }
}
