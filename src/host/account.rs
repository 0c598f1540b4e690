//! The unprivileged system account the metrics exporter runs as, `ghro-metrics`: declared in
//! a sysusers.d file and made by `systemd-sysusers` (idempotent, and able to work under
//! another root, which the tests use), looked up in the root's own `/etc/group`. The one file
//! the exporter reads (the metrics record) is given to its group, 0640, in the unit's
//! directory, which that group may traverse but not list (0710): the state beside it (0600,
//! the token's) stays root's alone.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::fs::write_atomic;
use super::Host;

/// The exporter's user and group.
pub const EXPORTER: &str = "ghro-metrics";
const SYSUSERS: &str = "/etc/sysusers.d/github-runner.conf";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("creating the system user {EXPORTER} with systemd-sysusers: {0}")]
    Sysusers(String),
}

/// Makes sure the exporter's account exists; its group id.
pub fn ensure_exporter(host: &Host) -> Result<u32, AccountError> {
    if let Some(gid) = group_id(host, EXPORTER) {
        return Ok(gid);
    }
    let conf = host.path(SYSUSERS);
    let text = format!("u {EXPORTER} - \"github-runner metrics exporter\" / /usr/sbin/nologin\n");
    write_atomic(&conf, text.as_bytes(), 0o644).map_err(|source| AccountError::Write {
        path: conf.clone(),
        source,
    })?;
    let root = format!("--root={}", host.path("/").display());
    let conf_arg = conf.display().to_string();
    let args: Vec<&str> = match host.path("/") == Path::new("/") {
        true => vec![&conf_arg],
        false => vec![&root, &conf_arg],
    };
    crate::process::run("systemd-sysusers", &args, None).map_err(|e| AccountError::Sysusers(e.to_string()))?;
    group_id(host, EXPORTER).ok_or_else(|| AccountError::Sysusers(format!("no group {EXPORTER} after it ran")))
}

/// The uid and gid of `user` in the root's `/etc/passwd`, if it has one.
pub fn user_ids(host: &Host, user: &str) -> Option<(u32, u32)> {
    let fields = entry(host, "/etc/passwd", user)?;
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// The id of `group` in the root's `/etc/group`, if it has one.
pub fn group_id(host: &Host, group: &str) -> Option<u32> {
    entry(host, "/etc/group", group)?.get(2)?.parse().ok()
}

/// The fields of the line of the root's `file` (`/etc/passwd`, `/etc/group`) whose first
/// field is exactly `name`.
fn entry(host: &Host, file: &str, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(host.path(file)).ok()?;
    text.lines()
        .map(|line| line.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|fields| fields[0] == name)
}

/// Gives `dir` to the group `gid` (owner unchanged), which may then traverse it and no more
/// (0710).
pub fn share_dir_with_group(dir: &Path, gid: u32) -> std::io::Result<()> {
    nix::unistd::chown(dir, None, Some(nix::unistd::Gid::from_raw(gid)))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_are_found_by_their_exact_names_in_the_root_s_files() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        assert_eq!(group_id(&host, EXPORTER), None);
        std::fs::create_dir_all(host.path("/etc")).unwrap();
        std::fs::write(
            host.path("/etc/group"),
            "root:x:0:\nghro-metrics-old:x:5:\nghro-metrics:x:998:\n",
        )
        .unwrap();
        assert_eq!(group_id(&host, EXPORTER), Some(998));
        assert_eq!(group_id(&host, "ghro"), None);
        std::fs::write(
            host.path("/etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nghro-metrics:x:997:998:x:/:/usr/sbin/nologin\n",
        )
        .unwrap();
        assert_eq!(user_ids(&host, EXPORTER), Some((997, 998)));
        assert_eq!(user_ids(&host, "ghro"), None);
    }
}
