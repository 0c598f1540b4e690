//! Creating one runner: instance, readiness, registration, the runner pushed in and started.
//! A creation that fails at any step removes what it made (instance, registration).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::{remove_instance, render_bootstrap, Created, Registration, RunnerEnv, RunnerError, SETUP_DIR};
use crate::github::GithubError;
use crate::lxd::{InstanceSpec, LxdClient};
use crate::secret::Secret;

/// What a failed creation had made, for the cleanup.
#[derive(Default)]
struct Made {
    instance: bool,
    github_id: Option<u64>,
}

/// Creates, registers and starts one runner. On failure nothing it made is left behind.
pub async fn create(env: &RunnerEnv<'_>, name: &str) -> Result<Created, RunnerError> {
    let mut made = Made::default();
    let result = create_steps(env, name, &mut made).await;
    if result.is_err() {
        if made.instance {
            if let Err(e) = remove_instance(env.lxd, name, None).await {
                tracing::warn!("runner {name}: removing the half-made instance: {e}");
            }
        }
        if let Some(id) = made.github_id {
            if let Err(e) = env.github.delete_runner(id).await {
                tracing::warn!("runner {name}: removing the half-made registration {id}: {e}");
            }
        }
    }
    result
}

async fn create_steps(env: &RunnerEnv<'_>, name: &str, made: &mut Made) -> Result<Created, RunnerError> {
    let settings = env.settings;
    let lxd_err = |step| {
        move |source| RunnerError::Lxd {
            name: name.to_string(),
            step,
            source,
        }
    };
    let spec = InstanceSpec {
        name: name.to_string(),
        kind: settings.kind,
        source: settings.source.clone(),
        profiles: settings.profiles.clone(),
        devices: settings.devices.clone(),
        config: BTreeMap::from([("user.github-runner".to_string(), "true".to_string())]),
        ephemeral: true,
    };
    made.instance = true;
    env.lxd
        .create_instance(&spec)
        .await
        .map_err(lxd_err("creating the instance"))?;
    env.lxd
        .start_instance(name, Duration::from_secs(60))
        .await
        .map_err(lxd_err("starting the instance"))?;
    let ip = wait_ready(env.lxd, name, settings.ready_timeout).await?;

    let (token, registration, github_id) = register(env, name).await?;
    made.github_id = github_id;
    let script = render_bootstrap(settings, name, registration, ip)?;
    // Streamed from the cache: several runners are made at once, and the real tarball is
    // large, so it is never held in memory.
    let file = tokio::fs::File::open(env.tarball.path())
        .await
        .map_err(|e| RunnerError::Bootstrap {
            name: name.to_string(),
            code: -1,
            stderr: format!("reading the runner tarball {}: {e}", env.tarball.path().display()),
        })?;
    let tarball = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    env.lxd
        .push_file(name, &format!("{SETUP_DIR}/runner.tar.gz"), tarball, 0o600, 0, 0)
        .await
        .map_err(lxd_err("pushing the runner tarball"))?;
    env.lxd
        .push_file(
            name,
            &format!("{SETUP_DIR}/token"),
            token.expose().as_bytes().to_vec(),
            0o600,
            0,
            0,
        )
        .await
        .map_err(lxd_err("pushing the token"))?;
    env.lxd
        .push_file(
            name,
            &format!("{SETUP_DIR}/bootstrap.sh"),
            script.into_bytes(),
            0o700,
            0,
            0,
        )
        .await
        .map_err(lxd_err("pushing the bootstrap script"))?;
    // LXD turns an exit code of 126 or 127 into an error of its own ("Command not found")
    // and drops the output: such a failure becomes exit 1, so that its stderr is kept.
    let run = format!("sh {SETUP_DIR}/bootstrap.sh; rc=$?; [ $rc -lt 126 ] || rc=1; exit $rc");
    let out = env
        .lxd
        .exec_once(name, &["sh", "-c", &run], &BTreeMap::new())
        .await
        .map_err(lxd_err("running the bootstrap script"))?;
    if !out.success() {
        return Err(RunnerError::Bootstrap {
            name: name.to_string(),
            code: out.code,
            stderr: out.stderr.trim().to_string(),
        });
    }
    for line in out.stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!("runner {name}: {line}");
    }
    Ok(Created {
        name: name.to_string(),
        github_id,
    })
}

/// Gets the single-use token: a JIT config, or a registration token where JIT is missing.
async fn register(env: &RunnerEnv<'_>, name: &str) -> Result<(Secret, Registration, Option<u64>), RunnerError> {
    let gh_err = |step| {
        move |source| RunnerError::Github {
            name: name.to_string(),
            step,
            source,
        }
    };
    if env.settings.registration == Registration::Jit {
        match env
            .github
            .generate_jit_config(name, &env.settings.labels, env.settings.group_id)
            .await
        {
            Ok(jit) => return Ok((jit.encoded_jit_config, Registration::Jit, Some(jit.runner.id))),
            // An older GitHub Enterprise Server has no JIT endpoint; a token still works there.
            Err(GithubError::NoAccess { status: 404, .. }) => {
                tracing::info!("runner {name}: GitHub has no JIT configuration here; using a registration token");
            }
            Err(e) => return Err(gh_err("generating the JIT configuration")(e)),
        }
    }
    let token = env
        .github
        .registration_token()
        .await
        .map_err(gh_err("getting a registration token"))?;
    Ok((token.token, Registration::Token, None))
}

/// Polls until the instance runs commands and has a global IPv4 address; returns it.
async fn wait_ready(lxd: &LxdClient, name: &str, timeout: Duration) -> Result<Ipv4Addr, RunnerError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    let not_ready = |what| RunnerError::NotReady {
        name: name.to_string(),
        waited: timeout,
        what,
    };
    loop {
        // The first command that runs makes the charm's own directory: no image layout is
        // assumed (a minimal image has no /opt, which LXD's file API answers with a 404).
        let mkdir = ["mkdir", "-p", "-m", "0700", SETUP_DIR];
        if matches!(lxd.exec(name, &mkdir, &BTreeMap::new()).await, Ok(out) if out.success()) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready("it does not run commands"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    loop {
        let state = lxd.instance_state(name).await.map_err(|source| RunnerError::Lxd {
            name: name.to_string(),
            step: "reading the instance state",
            source,
        })?;
        // A runner without an address cannot reach GitHub: no NIC is not "ready". Any
        // interface will do (a VM's is `enp5s0`, not `eth0`).
        if let Some(ip) = state.and_then(|s| s.global_ipv4()) {
            return Ok(ip);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready("it got no IPv4 address"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
