//! Before a runner gets its secret: `prepare.sh` (`templates/prepare.sh.j2`) waits for the
//! image's boot, puts the runner in place (the pushed tarball unpacked, or the one a baked
//! image holds) and runs what the real runner would fail on first, as the runner's user: its
//! libraries and `Runner.Listener --version`. A runner that cannot start is never registered:
//! the creation fails with the reason ([`reason`], pure), not with a silent power-off.

use std::collections::BTreeMap;
use std::time::Duration;

use minijinja::context;

use super::{RunnerError, SETUP_DIR};
use crate::lxd::{LxdClient, LxdError};

const PREPARE_TEMPLATE: &str = include_str!("../../templates/prepare.sh.j2");

/// The prepare script, whose boot waits are bounded by `boot_timeout`.
pub fn render(boot_timeout: Duration) -> Result<String, minijinja::Error> {
    super::bootstrap::environment().render_str(
        PREPARE_TEMPLATE,
        context! { setup_dir => SETUP_DIR, boot_timeout => boot_timeout.as_secs() },
    )
}

/// Runs the prepare script already pushed to `<setup>/prepare.sh`; returns the listener's
/// version, or why the runner cannot start.
pub async fn run(lxd: &LxdClient, name: &str, wait: Duration) -> Result<String, RunnerError> {
    let command = ["sh", &format!("{SETUP_DIR}/prepare.sh")];
    // An exec LXD lost is asked again by the client itself: the script is idempotent.
    let out = lxd
        .exec_within(name, &command, &BTreeMap::new(), wait)
        .await
        .map_err(|source: LxdError| RunnerError::Lxd {
            name: name.to_string(),
            step: "preparing the runner",
            source,
        })?;
    for line in out.stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!("runner {name}: {line}");
    }
    if out.success() {
        return Ok(out.stdout.trim().to_string());
    }
    Err(RunnerError::Preflight {
        name: name.to_string(),
        reason: reason(out.code, &out.stderr),
    })
}

/// What the operator reads when the runner cannot start in the image.
pub fn reason(code: i32, stderr: &str) -> String {
    const FIX: &str = "bake the runner image (the default) or install it in `base-image`";
    let stderr = stderr.trim();
    match code {
        65 => format!("the runner is not in the image ({stderr})"),
        66 => {
            let names = stderr
                .lines()
                .find_map(|l| l.strip_prefix("missing-libraries:"))
                .unwrap_or(stderr)
                .trim();
            format!("the image lacks libraries the runner needs ({names}): {FIX}")
        }
        67 => {
            let listener_code = stderr
                .lines()
                .find_map(|l| l.strip_prefix("listener-exit:"))
                .and_then(|c| c.trim().parse::<i32>().ok());
            let output: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("listener-exit:")).collect();
            let output = output.join(" ").trim().to_string();
            if listener_code == Some(134) || output.contains("ICU") {
                format!(
                    "the image lacks libicu, which the runner (.NET) needs: {FIX} (libicu70 on \
                     Ubuntu 22.04, libicu74 on 24.04, libicu72 on Debian 12)"
                )
            } else {
                let code = listener_code.map_or_else(|| "?".into(), |c| c.to_string());
                format!("`Runner.Listener --version` failed (exit {code}): {output}")
            }
        }
        _ => format!("preparing the runner failed (exit {code}): {stderr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_without_icu_says_the_image_lacks_libicu() {
        let stderr = "listener-exit: 134\nProcess terminated. Couldn't find a valid ICU package installed";
        let said = reason(67, stderr);
        assert!(said.starts_with("the image lacks libicu"), "{said}");
        assert!(said.contains("libicu70 on Ubuntu 22.04"), "{said}");
    }

    #[test]
    fn missing_libraries_are_named_and_other_failures_quote_the_listener() {
        assert!(reason(66, "missing-libraries: liblttng-ust.so.0 libkrb5.so.3\n")
            .contains("(liblttng-ust.so.0 libkrb5.so.3)"));
        let other = reason(67, "listener-exit: 1\nSegmentation fault\n");
        assert_eq!(other, "`Runner.Listener --version` failed (exit 1): Segmentation fault");
        assert!(reason(65, "there is no runner in /home/ubuntu/github-runner").contains("not in the image"));
    }

    #[test]
    fn the_boot_is_awaited_bounded_before_anything_else() {
        let script = render(Duration::from_secs(90)).expect("renders");
        let boot = script
            .find("timeout 90 systemctl is-system-running --wait")
            .expect("systemd");
        assert!(script.contains("timeout 90 cloud-init status --wait"));
        assert!(boot < script.find("id ubuntu").expect("user"));
    }

    /// The script itself, in a fake root: a runner that aborts as .NET does without ICU.
    #[test]
    fn the_script_reports_the_listeners_exit_and_its_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let runner = root.join("github-runner");
        std::fs::create_dir_all(runner.join("bin")).expect("mkdir");
        std::fs::write(
            runner.join("bin/Runner.Listener"),
            "#!/bin/sh\necho \"Couldn't find a valid ICU package\" >&2\nexit 134\n",
        )
        .expect("write");
        let chmod = std::process::Command::new("chmod")
            .args(["+x"])
            .arg(runner.join("bin/Runner.Listener"))
            .status()
            .expect("chmod");
        assert!(chmod.success());
        // Only the part after the user's choice runs here: the runner's directory is given.
        let script = render(Duration::from_secs(1)).expect("renders");
        let tail = &script[script.find("# The runner itself").expect("section")..];
        let body = format!(
            "set -eu\nsetup={setup}\nuser=root\ngroup=0\ndir={dir}\n{tail}",
            setup = root.display(),
            dir = runner.display()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &body])
            .output()
            .expect("sh runs");
        assert_eq!(out.status.code(), Some(67));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(reason(67, &stderr).starts_with("the image lacks libicu"), "{stderr}");
    }
}
