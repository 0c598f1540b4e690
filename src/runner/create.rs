//! Creating one runner: instance, readiness, the runner pushed in and seen to start
//! ([`preflight`]), then registration, its secret and the start.
//! A creation that fails at any step removes what it made (instance, registration).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::{
    preflight, remove_instance, render_bootstrap, unix_now, Created, Registration, RunnerEnv, RunnerError, SETUP_DIR,
};
use crate::github::GithubError;
use crate::lxd::{ExecOutput, InstanceSpec, LxdClient, LxdError};
use crate::secret::Secret;

/// What a failed creation had made, for the cleanup.
#[derive(Default)]
struct Made {
    instance: bool,
    github_id: Option<u64>,
}

/// Creates, registers and starts one runner. On failure nothing it made is left behind.
pub async fn create(env: &RunnerEnv<'_>, name: &str) -> Result<Created, RunnerError> {
    let started = std::time::Instant::now();
    let mut made = Made::default();
    let result = create_steps(env, name, &mut made).await;
    if result.is_err() {
        if made.instance {
            if let Err(e) = remove_instance(env.lxd, name).await {
                tracing::warn!("runner {name}: removing the half-made instance: {e}");
            }
        }
        if let Some(id) = made.github_id {
            if let Err(e) = env.github.delete_runner(id).await {
                tracing::warn!("runner {name}: removing the half-made registration {id}: {e}");
            }
        }
    }
    result.map(|created| Created {
        seconds: started.elapsed().as_secs_f64(),
        ..created
    })
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
        config: BTreeMap::from([
            ("user.github-runner".to_string(), "true".to_string()),
            (super::CREATED_KEY.to_string(), unix_now().to_string()),
        ]),
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

    // The runner in place and seen to start before any secret exists for it: a baked image
    // holds it; otherwise it is streamed from the cache (several runners are made at once,
    // and the real tarball is large, so it is never held in memory).
    let mut pushed: u64 = 0;
    if settings.runner_in_image {
        tracing::info!("runner {name}: the runner is in the image; only its configuration is pushed");
    } else {
        pushed += std::fs::metadata(env.tarball.path()).map_or(0, |m| m.len());
        let file = tokio::fs::File::open(env.tarball.path())
            .await
            .map_err(|e| RunnerError::Bootstrap {
                name: name.to_string(),
                code: -1,
                stderr: format!("reading the runner tarball {}: {e}", env.tarball.path().display()),
            })?;
        let tarball = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        env.lxd
            .push_file(name, &format!("{SETUP_DIR}/runner.tar.gz"), tarball, 0o600)
            .await
            .map_err(lxd_err("pushing the runner tarball"))?;
    }
    let prepare = preflight::render(settings.ready_timeout).map_err(|source| RunnerError::Template {
        name: name.to_string(),
        source,
    })?;
    pushed += prepare.len() as u64;
    env.lxd
        .push_file(name, &format!("{SETUP_DIR}/prepare.sh"), prepare.into_bytes(), 0o700)
        .await
        .map_err(lxd_err("pushing the prepare script"))?;
    // Its own waits: the boot (systemd, then cloud-init), each up to the ready timeout.
    let wait = settings.ready_timeout * 2 + Duration::from_secs(120);
    let version = preflight::run(env.lxd, name, wait).await?;
    tracing::debug!("runner {name}: the runner {version} starts in this image");

    let (token, registration, github_id) = register(env, name).await?;
    made.github_id = github_id;
    let script = render_bootstrap(settings, name, registration, ip)?;
    pushed += (token.expose().len() + script.len()) as u64;
    env.lxd
        .push_file(
            name,
            &format!("{SETUP_DIR}/token"),
            token.expose().as_bytes().to_vec(),
            0o600,
        )
        .await
        .map_err(lxd_err("pushing the token"))?;
    env.lxd
        .push_file(name, &format!("{SETUP_DIR}/bootstrap.sh"), script.into_bytes(), 0o700)
        .await
        .map_err(lxd_err("pushing the bootstrap script"))?;
    tracing::info!("runner {name}: {pushed} bytes pushed into the instance");
    let out = run_bootstrap(env.lxd, name, wait)
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
        seconds: 0.0,
    })
}

/// The bootstrap's wrapper: it claims a marker before it starts (mkdir is atomic) and leaves its
/// exit code and stderr in files, so that a run LXD lost track of can be settled by looking.
/// `$1` is the setup directory. A second start exits [`ALREADY_STARTED`] and runs nothing.
/// LXD turns an exit code of 126 or 127 into an error of its own ("Command not found") and
/// drops the output: such a failure (and 125, which is the wrapper's) becomes exit 1, so that
/// its stderr is kept.
const BOOTSTRAP: &str = r#"d=$1
mkdir "$d/bootstrap.started" 2>/dev/null || exit 125
sh "$d/bootstrap.sh" 2>"$d/bootstrap.err"; rc=$?
[ $rc -lt 125 ] || rc=1
echo $rc >"$d/bootstrap.rc.new" && mv "$d/bootstrap.rc.new" "$d/bootstrap.rc"
cat "$d/bootstrap.err" >&2
exit $rc"#;

/// The wrapper's exit when a run had started already.
const ALREADY_STARTED: i32 = 125;

/// What a run LXD lost left behind: its exit code and stderr once it ended (exit 0, stdout the
/// code); exit 3 while it still runs; exit 4 when it never started.
const BOOTSTRAP_OUTCOME: &str = r#"d=$1
if [ -f "$d/bootstrap.rc" ]; then cat "$d/bootstrap.rc"; cat "$d/bootstrap.err" >&2
elif [ -d "$d/bootstrap.started" ]; then exit 3
else exit 4; fi"#;

/// How often an exec LXD lost is started again (when it never ran).
const BOOTSTRAP_STARTS: u32 = 4;

/// Runs the bootstrap exactly once. LXD 5.0 now and then reports an exec as failed ("Failed to
/// retrieve PID") whether or not the command started, most often while the image's init is
/// still booting: the marker says which, so a run that never started is started again and one
/// that did is waited for (up to `wait`, longer than the bootstrap's own waits), its outcome
/// read from the files it leaves.
async fn run_bootstrap(lxd: &LxdClient, name: &str, wait: Duration) -> Result<ExecOutput, LxdError> {
    let none = BTreeMap::new();
    let script = |body| ["sh", "-c", body, "sh", SETUP_DIR];
    let deadline = tokio::time::Instant::now() + wait;
    let mut lost = None;
    for _ in 0..BOOTSTRAP_STARTS {
        match lxd.exec_once(name, &script(BOOTSTRAP), &none).await {
            Err(e) if e.is_lost_exec() => {
                tracing::debug!("runner {name}: bootstrap: {e}; looking at what it left");
                lost = Some(e);
            }
            // A start LXD lost ran after all, late: it is the one waited for.
            Ok(out) if out.code == ALREADY_STARTED => {}
            other => return other,
        }
        loop {
            let seen = lxd.exec(name, &script(BOOTSTRAP_OUTCOME), &none).await?;
            match seen.code {
                0 => {
                    return Ok(ExecOutput {
                        code: seen.stdout.trim().parse().unwrap_or(1),
                        stdout: String::new(),
                        stderr: seen.stderr,
                    })
                }
                3 if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(1)).await,
                3 => {
                    return Err(LxdError::Timeout {
                        description: "bootstrap script".to_string(),
                        seconds: wait.as_secs(),
                    })
                }
                _ => break,
            }
        }
    }
    Err(lost.unwrap_or_else(|| LxdError::OperationFailed {
        description: "bootstrap script".to_string(),
        err: "what it left could not be read".to_string(),
    }))
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
            Err(GithubError::JitUnsupported { .. }) => {
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
pub async fn wait_ready(lxd: &LxdClient, name: &str, timeout: Duration) -> Result<Ipv4Addr, RunnerError> {
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

#[cfg(test)]
mod tests {
    use super::{BOOTSTRAP, BOOTSTRAP_OUTCOME};
    use std::process::{Command, Output};

    fn sh(body: &str, dir: &std::path::Path) -> Output {
        Command::new("sh")
            .args(["-c", body, "sh"])
            .arg(dir)
            .output()
            .expect("sh runs")
    }

    #[test]
    fn a_bootstrap_runs_once_and_its_outcome_can_be_read_after_lxd_loses_the_exec() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            sh(BOOTSTRAP_OUTCOME, dir.path()).status.code(),
            Some(4),
            "not started yet"
        );
        std::fs::write(
            dir.path().join("bootstrap.sh"),
            "echo ran >>\"$(dirname \"$0\")/runs\"; echo 'no ubuntu user' >&2; exit 7",
        )
        .unwrap();

        let first = sh(BOOTSTRAP, dir.path());
        assert_eq!(first.status.code(), Some(7));
        assert_eq!(String::from_utf8_lossy(&first.stderr).trim(), "no ubuntu user");
        let again = sh(BOOTSTRAP, dir.path());
        assert_eq!(
            again.status.code(),
            Some(super::ALREADY_STARTED),
            "a second start runs nothing"
        );
        assert_eq!(std::fs::read_to_string(dir.path().join("runs")).unwrap(), "ran\n");

        let outcome = sh(BOOTSTRAP_OUTCOME, dir.path());
        assert_eq!(outcome.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&outcome.stdout).trim(), "7");
        assert_eq!(String::from_utf8_lossy(&outcome.stderr).trim(), "no ubuntu user");
    }

    #[test]
    fn a_bootstrap_still_running_is_told_apart_from_one_never_started() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bootstrap.started")).unwrap();
        assert_eq!(sh(BOOTSTRAP_OUTCOME, dir.path()).status.code(), Some(3));
    }
}
