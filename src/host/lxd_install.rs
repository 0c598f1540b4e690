//! Installing LXD on a machine that has no daemon, as the original charm did at install: on
//! Ubuntu from the snap (`snap install lxd`, also where only 24.04's `lxd-installer` stub is
//! there, which is no snap; `snap refresh lxd` where the snap is installed but no daemon
//! answers). Everything after that (the bridge, the pool, the profiles) is the charm's own
//! work over LXD's API: no `lxd init`.
//! Elsewhere the operator installs LXD (the error says how). `snap` is found on `PATH`.

use super::Host;
use crate::process::{self, ProcessError};

const SNAP: &str = "snap";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "this machine is {os}, not Ubuntu: install and start LXD yourself (Debian: `apt-get install lxd`), \
         the charm makes its own network, pool and profiles"
    )]
    NotUbuntu { os: String },
    #[error("`{command}` failed: {cause}; run it by hand (as root) and resolve what it says")]
    Snap { command: String, cause: ProcessError },
}

/// The distribution's `ID` from `/etc/os-release` (e.g. `ubuntu`, `debian`).
pub fn os_id(host: &Host) -> String {
    let text = std::fs::read_to_string(host.path("/etc/os-release")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("ID="))
        .map(|id| id.trim_matches('"').to_string())
        .unwrap_or_else(|| "an unknown system".into())
}

/// The snap command that brings LXD here.
pub fn install_command(host: &Host) -> Result<&'static [&'static str], InstallError> {
    let os = os_id(host);
    if os != "ubuntu" {
        return Err(InstallError::NotUbuntu { os });
    }
    let installed = process::run(SNAP, &["list", "lxd"], None).is_ok();
    Ok(if installed {
        &["refresh", "lxd"]
    } else {
        &["install", "lxd"]
    })
}

/// Runs `snap <args>`; the command line is returned for the log.
pub fn run_snap(args: &[&str]) -> Result<String, InstallError> {
    let command = format!("{SNAP} {}", args.join(" "));
    match process::run(SNAP, args, None) {
        Ok(_) => Ok(command),
        // "snap refresh" with nothing newer says so and exits 0; anything else is a failure.
        Err(cause) => Err(InstallError::Snap { command, cause }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ubuntu_gets_the_snap_and_others_are_told_how() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("etc")).expect("etc");
        std::fs::write(
            root.path().join("etc/os-release"),
            "NAME=\"Debian GNU/Linux\"\nID=debian\n",
        )
        .expect("write");
        let err = install_command(&Host::new(root.path())).expect_err("not ubuntu");
        assert!(err.to_string().contains("this machine is debian, not Ubuntu"), "{err}");
        assert!(err.to_string().contains("apt-get install lxd"));
    }
}
