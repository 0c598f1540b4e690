//! Files written so that a reader (or a crash) never sees half of them.
//!
//! A write goes to a temporary file in the same directory, is flushed to disk, gets its mode,
//! and is renamed over the target. Files whose content and mode are already right are left
//! alone, so a no-change hook touches nothing.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Whether a write changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Changed,
    Unchanged,
}

/// Writes `contents` to `path` with `mode` atomically, creating parent directories.
///
/// # Errors
/// Any I/O error, with the path it happened on.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<Written> {
    write_atomic_for(path, contents, mode, None)
}

/// [`write_atomic`], the file given to the group `gid` (when some) before it takes its name,
/// so a reader of that group never meets it unreadable.
pub fn write_atomic_for(path: &Path, contents: &[u8], mode: u32, gid: Option<u32>) -> io::Result<Written> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = fs::metadata(path) {
        let group_right = gid.is_none_or(|gid| meta.gid() == gid);
        if group_right && meta.permissions().mode() & 0o7777 == mode && fs::read(path)? == contents {
            return Ok(Written::Unchanged);
        }
    }
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
    // The temporary file is created 0600, so a secret is never readable by others, even briefly.
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| with_path(e, dir))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    if let Some(gid) = gid {
        nix::unistd::fchown(tmp.as_file(), None, Some(nix::unistd::Gid::from_raw(gid)))?;
    }
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| with_path(e.error, path))?;
    Ok(Written::Changed)
}

/// Removes a file; one that is already gone is fine.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, path)),
        _ => Ok(()),
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_reports_unchanged_rewrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/file");
        assert_eq!(write_atomic(&path, b"one", 0o600).expect("write"), Written::Changed);
        assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        assert_eq!(write_atomic(&path, b"one", 0o600).expect("write"), Written::Unchanged);
        assert_eq!(write_atomic(&path, b"two", 0o600).expect("write"), Written::Changed);
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let leftovers = fs::read_dir(path.parent().expect("parent")).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn a_mode_change_alone_is_a_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        write_atomic(&path, b"x", 0o644).expect("write");
        assert_eq!(write_atomic(&path, b"x", 0o600).expect("write"), Written::Changed);
    }
}
