//! The bake itself, as the service runs it (`dispatch bake-image <request>`): leftovers of an
//! earlier bake removed, the build instance made on the runners' network, each step of the
//! recipe run in it, the instance published under the application's alias, older images
//! retired, the build instance deleted whatever happened, and a reconcile asked for.
//! Its [`Progress`] is rewritten at every step for the hooks' status.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::recipe::{self, SCRIPT, STEPS, TARBALL};
use super::{owner_key, plan, BakeState, Files, Progress, Request};
use crate::lxd::{InstanceSpec, LxdClient, LxdError};

/// `dispatch bake-image <request>`.
pub const COMMAND: &str = "bake-image";

/// How long one step may take (the package step downloads and unpacks hundreds of packages).
const STEP_TIMEOUT: Duration = Duration::from_secs(45 * 60);
/// How many lines of a failed step's output the error keeps.
const TAIL_LINES: usize = 8;

pub fn main(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: dispatch {COMMAND} <request file>");
        return ExitCode::from(2);
    };
    let path = Path::new(path);
    let files = Files {
        progress: path.with_file_name("bake.json"),
        request: path.to_path_buf(),
    };
    let Some(request) = files.request() else {
        eprintln!("error: {}: no readable bake request", path.display());
        return ExitCode::FAILURE;
    };
    let Some(runtime) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(bake(&request, &files)) {
        Ok(fingerprint) => {
            eprintln!("baked {} as {fingerprint}", request.names.image);
            ask_for_reconcile(&request);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: baking {}: {e}", request.names.image);
            ExitCode::FAILURE
        }
    }
}

/// Runs one bake and records how it went; returns the new image's fingerprint.
pub async fn bake(request: &Request, files: &Files) -> Result<String, String> {
    let lxd = LxdClient::new(&request.lxd_socket).map_err(|e| e.to_string())?;
    let digest = plan::digest(&request.inputs);
    let last = files.progress();
    let failures = last
        .as_ref()
        .filter(|p| p.state == BakeState::Failed && p.inputs == digest)
        .map_or(0, |p| p.failures);
    let mut progress = Progress {
        state: BakeState::Running,
        step: "removing what an earlier bake left".into(),
        inputs: digest,
        started: super::now(),
        finished: None,
        error: None,
        failures,
        previous: last.and_then(|p| p.previous),
    };
    record(files, &progress);
    let result = steps(&lxd, request, files, &mut progress).await;
    // Whatever happened, the build instance goes.
    if let Err(e) = remove_build(&lxd, &request.names.build).await {
        eprintln!("removing the build instance {}: {e}", request.names.build);
    }
    progress.finished = Some(super::now());
    match &result {
        Ok(_) => {
            progress.state = BakeState::Done;
            progress.step = "done".into();
            progress.failures = 0;
        }
        Err(e) => {
            progress.state = BakeState::Failed;
            progress.error = Some(e.clone());
            progress.failures += 1;
        }
    }
    record(files, &progress);
    result
}

fn record(files: &Files, progress: &Progress) {
    eprintln!("bake: {}", progress.step);
    if let Err(e) = files.write_progress(progress) {
        eprintln!("writing {}: {e}", files.progress.display());
    }
}

async fn steps(lxd: &LxdClient, request: &Request, files: &Files, progress: &mut Progress) -> Result<String, String> {
    let names = &request.names;
    let lxd_err = |what: &str| {
        let what = what.to_string();
        move |e: LxdError| format!("{what}: {e}")
    };
    remove_build(lxd, &names.build)
        .await
        .map_err(lxd_err("removing the old build instance"))?;
    retire(lxd, request, None, progress.previous.as_deref())
        .await
        .map_err(lxd_err("removing half-published images"))?;

    progress.step = "starting the build instance".into();
    record(files, progress);
    ensure_pool(lxd, request)
        .await
        .map_err(lxd_err("making the build pool"))?;
    let mut devices = request.devices.clone();
    devices.insert(
        "root".into(),
        BTreeMap::from([
            ("type".to_string(), "disk".to_string()),
            ("path".to_string(), "/".to_string()),
            ("pool".to_string(), names.build.clone()),
        ]),
    );
    let spec = InstanceSpec {
        name: names.build.clone(),
        kind: request.kind,
        source: request.base.clone(),
        profiles: request.profiles.clone(),
        devices,
        config: {
            let mut config = request.limits.clone();
            config.insert(recipe::key("bake"), "true".into());
            config
        },
        ephemeral: false,
    };
    lxd.create_instance(&spec)
        .await
        .map_err(lxd_err("creating the build instance"))?;
    lxd.start_instance(&names.build, Duration::from_secs(120))
        .await
        .map_err(lxd_err("starting the build instance"))?;
    let ready = Duration::from_secs(request.recipe.boot_timeout_secs);
    crate::runner::wait_ready(lxd, &names.build, ready)
        .await
        .map_err(|e| e.to_string())?;

    progress.step = "copying the runner in".into();
    record(files, progress);
    let script = request
        .recipe
        .script()
        .map_err(|e| format!("rendering the bake script: {e}"))?;
    lxd.push_file(&names.build, SCRIPT, script.into_bytes(), 0o700)
        .await
        .map_err(lxd_err("pushing the bake script"))?;
    let file = tokio::fs::File::open(&request.tarball)
        .await
        .map_err(|e| format!("reading the runner tarball {}: {e}", request.tarball.display()))?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    lxd.push_file(&names.build, TARBALL, body, 0o600)
        .await
        .map_err(lxd_err("pushing the runner tarball"))?;

    for (step, label) in STEPS {
        progress.step = (*label).to_string();
        record(files, progress);
        run_step(lxd, request, step, label).await?;
    }

    progress.step = "stopping the build instance".into();
    record(files, progress);
    let base = lxd
        .instance(&names.build)
        .await
        .map_err(lxd_err("reading the build instance"))?
        .and_then(|i| i.config.get("volatile.base_image").cloned());
    lxd.stop_instance(&names.build, Duration::from_secs(120))
        .await
        .map_err(lxd_err("stopping the build instance"))?;
    progress.step = "publishing the image".into();
    record(files, progress);
    let mut properties = request.inputs.clone();
    properties.insert(owner_key(), names.image.clone());
    properties.insert(plan::BAKED_AT.into(), super::now().to_string());
    properties.insert("description".into(), format!("github-runner image of {}", request.unit));
    if let Some(base) = base {
        properties.insert(recipe::key("base-fingerprint"), base);
    }
    let fingerprint = lxd
        .publish(&names.build, &properties)
        .await
        .map_err(lxd_err("publishing the image"))?;
    let replaced = lxd
        .image_alias(&names.image)
        .await
        .map_err(lxd_err("reading the alias"))?;
    lxd.point_alias(&names.image, &fingerprint, &format!("runner image of {}", request.unit))
        .await
        .map_err(lxd_err("pointing the alias at the new image"))?;
    // The image it replaces serves until a runner from the new one is online; older go now.
    progress.previous = replaced.filter(|r| *r != fingerprint);
    retire(lxd, request, Some(&fingerprint), progress.previous.as_deref())
        .await
        .map_err(lxd_err("removing older images"))?;
    Ok(fingerprint)
}

/// One step of the bake script; its output goes to a log in the instance, and only the last
/// lines come back (a package step prints far more than an error needs).
async fn run_step(lxd: &LxdClient, request: &Request, step: &str, label: &str) -> Result<(), String> {
    let body = format!(
        "sh {SCRIPT} {step} > /root/bake-{step}.log 2>&1; rc=$?; tail -n {TAIL_LINES} /root/bake-{step}.log; \
         [ {step} != clean ] || rm -f /root/bake-*.log; exit $rc"
    );
    let command = ["sh", "-c", body.as_str()];
    let env: BTreeMap<String, String> = request
        .proxy
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    // An exec LXD lost is asked again by the client itself; each step may run twice.
    let out = lxd
        .exec_within(&request.names.build, &command, &env, STEP_TIMEOUT)
        .await
        .map_err(|e| format!("{label}: {e}"))?;
    if out.success() {
        return Ok(());
    }
    let tail: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    Err(format!("{label} failed (exit {}): {}", out.code, tail.join(" | ")))
}

/// The build pool, a directory on the host's disk.
async fn ensure_pool(lxd: &LxdClient, request: &Request) -> Result<(), LxdError> {
    if lxd.storage_pool(&request.names.build).await?.is_some() {
        return Ok(());
    }
    let dir = request.root.join(request.names.build_dir.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).map_err(|e| LxdError::OperationFailed {
        description: format!("making {}", dir.display()),
        err: e.to_string(),
    })?;
    // LXD wants an empty directory it may own.
    let config = BTreeMap::from([("source".to_string(), dir.to_string_lossy().into_owned())]);
    lxd.create_storage_pool(&request.names.build, "dir", &config).await
}

/// Deletes the build instance, stopped first; gone already is fine.
pub async fn remove_build(lxd: &LxdClient, name: &str) -> Result<(), LxdError> {
    // Longer than a runner's: a killed bake may leave LXD publishing for minutes.
    lxd.remove_instance(name, Duration::from_secs(300)).await
}

/// Deletes this application's images other than `current` (the alias's) and `keep` (the one
/// it replaced): half-published ones and those two generations old. Never another's.
pub async fn retire(
    lxd: &LxdClient,
    request: &Request,
    current: Option<&str>,
    keep: Option<&str>,
) -> Result<(), LxdError> {
    let images = lxd.images().await?;
    let current =
        current.or_else(|| crate::lxd::aliased(&images, &request.names.image).map(|i| i.fingerprint.as_str()));
    for image in &images {
        let spared = [current, keep].contains(&Some(image.fingerprint.as_str()));
        if request.names.owns(image) && !spared {
            eprintln!("removing image {}", image.fingerprint);
            lxd.delete_image(&image.fingerprint).await?;
        }
    }
    Ok(())
}

/// The timer's service, started in the background: the runners come from the new image now,
/// not at the next tick.
fn ask_for_reconcile(request: &Request) {
    let service = crate::host::timer::EventTimer::service_name(crate::host::timer::RECONCILE_EVENT);
    use crate::host::systemctl::{Systemctl, Systemd};
    if let Err(e) = Systemctl.start_in_background(&service) {
        eprintln!("asking for a reconcile ({service}) for {}: {e}", request.unit);
    }
}

/// Removes what baking made, for a unit going away: its service (a running bake is stopped
/// first), the build instance, every image of the application (its alias goes with it), the
/// build pool and its directory. Returns what went; what failed is logged and kept.
pub async fn teardown(lxd: &LxdClient, host: &crate::host::Host, names: &super::BakeNames) -> Vec<String> {
    let mut removed = Vec::new();
    for e in super::service::remove(host) {
        tracing::warn!("removing {}: {e}", super::SERVICE);
    }
    match remove_build(lxd, &names.build).await {
        Ok(()) => {}
        Err(e) => tracing::warn!("keeping the build instance {}: {e}", names.build),
    }
    match lxd.images().await {
        Ok(images) => {
            for image in images.iter().filter(|i| names.owns(i)) {
                match lxd.delete_image(&image.fingerprint).await {
                    Ok(()) => removed.push(format!("image {}", image.fingerprint)),
                    Err(e) => tracing::warn!("keeping image {}: {e}", image.fingerprint),
                }
            }
        }
        Err(e) => tracing::warn!("listing images: {e}"),
    }
    let dir = host.path(&names.build_dir);
    let ours =
        matches!(lxd.storage_pool(&names.build).await, Ok(Some(p)) if p.source() == Some(&*dir.to_string_lossy()));
    if ours {
        match lxd.delete_storage_pool(&names.build).await {
            Ok(()) => {
                removed.push(format!("storage pool {}", names.build));
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!("removing {}: {e}", dir.display());
                }
            }
            Err(e) => tracing::warn!("keeping storage pool {}: {e}", names.build),
        }
    }
    removed
}
