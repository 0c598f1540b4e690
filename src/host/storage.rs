//! The runners' RAM disk: a tmpfs at the application's path (`/storage/ghr-<tag>` under the
//! root, `crate::lxd_setup::Names`) sized for the most runners the unit may have × `vm-disk`
//! (`virtual-machines`, or `max-virtual-machines` for an elastic pool), which its LXD pool
//! lives on.
//!
//! Mounted when missing, remounted when its size differs, left alone otherwise; skipped when
//! the size is 0. A smaller size waits while the runners on it use more than it: the kernel
//! would refuse the remount, and the runners that would free the space are removed by the
//! reconcile that follows the setup (the next hook shrinks it). `mount` is found on `PATH`.

use std::path::{Path, PathBuf};

use super::Host;
use crate::process::{self, ProcessError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamDisk {
    /// Nothing to mount: the size is 0.
    Skipped,
    Mounted {
        path: PathBuf,
        kib: u64,
    },
    Resized {
        path: PathBuf,
        kib: u64,
    },
    Unchanged {
        path: PathBuf,
        kib: u64,
    },
    /// Smaller was asked for, but the runners on it use more: kept at `kib` for now.
    ShrinkLater {
        path: PathBuf,
        kib: u64,
        wanted: u64,
        used: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("creating {path}: {source}")]
    Mkdir { path: PathBuf, source: std::io::Error },
    #[error("making the runner RAM disk {path} root's alone (mode 0711): {source}")]
    Mode { path: PathBuf, source: std::io::Error },
    #[error("mounting the runner RAM disk: {0}")]
    Mount(#[from] ProcessError),
}

/// Makes `<root><disk>` a tmpfs of `kib` KiB.
pub fn ensure_ram_disk(host: &Host, disk: &str, kib: u64) -> Result<RamDisk, StorageError> {
    let path = host.path(disk);
    if kib == 0 {
        return Ok(RamDisk::Skipped);
    }
    std::fs::create_dir_all(&path).map_err(|source| StorageError::Mkdir {
        path: path.clone(),
        source,
    })?;
    // Root's alone (LXD runs as root): a local user can neither fill it nor drop a file in it
    // that LXD would refuse to make its pool on.
    let options = format!("size={kib}k,mode={RAM_DISK_MODE:o}");
    let target = path.to_string_lossy().into_owned();
    match mounted_tmpfs_kib(&path) {
        None => {
            process::run("mount", &["-t", "tmpfs", "-o", &options, "tmpfs", &target], None)?;
            Ok(RamDisk::Mounted { path, kib })
        }
        Some(current) if current == kib => {
            // One mounted by an earlier release, world-writable.
            set_private(&path)?;
            Ok(RamDisk::Unchanged { path, kib })
        }
        Some(current) if current > kib && used_kib(&path).is_some_and(|used| used > kib) => {
            set_private(&path)?;
            Ok(RamDisk::ShrinkLater {
                used: used_kib(&path).unwrap_or_default(),
                path,
                kib: current,
                wanted: kib,
            })
        }
        Some(_) => {
            process::run("mount", &["-o", &format!("remount,{options}"), &target], None)?;
            Ok(RamDisk::Resized { path, kib })
        }
    }
}

/// The RAM disk's mode: root's, others may only pass through (LXD's pool below it).
pub const RAM_DISK_MODE: u32 = 0o711;

fn set_private(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(RAM_DISK_MODE)).map_err(|source| {
        StorageError::Mode {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Unmounts the RAM disk `disk` if it is mounted (the unit is going away and nothing uses it).
pub fn remove_ram_disk(host: &Host, disk: &str) -> Result<bool, StorageError> {
    let path = host.path(disk);
    if mounted_tmpfs_kib(&path).is_none() {
        return Ok(false);
    }
    process::run("umount", &[&path.to_string_lossy()], None)?;
    Ok(true)
}

/// How much of the file system at `path` is in use, in KiB.
fn used_kib(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let used_blocks = stat.blocks().saturating_sub(stat.blocks_free());
    Some(used_blocks.saturating_mul(stat.fragment_size()) / 1024)
}

/// The size of the tmpfs mounted at `path`, from `/proc/self/mountinfo`.
fn mounted_tmpfs_kib(path: &Path) -> Option<u64> {
    let path = path.canonicalize().ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // The last mount on a path is the one in effect.
    info.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mount_point = fields.get(4)?.replace("\\040", " ");
        if Path::new(&mount_point) != path {
            return None;
        }
        let dash = fields.iter().position(|f| *f == "-")?;
        if fields.get(dash + 1) != Some(&"tmpfs") {
            return None;
        }
        let options = fields.get(dash + 3)?;
        options
            .split(',')
            .find_map(|o| o.strip_prefix("size="))
            .and_then(parse_kib)
    })
}

/// `10485760k`, `10g`, or plain bytes, as the kernel prints tmpfs sizes.
fn parse_kib(size: &str) -> Option<u64> {
    let (digits, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit()).unwrap_or(size.len()));
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "k" => n,
        "m" => n * 1024,
        "g" => n * 1024 * 1024,
        "" => n / 1024,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISK: &str = "/storage/ghr-1a2b3c4d";

    #[test]
    fn kernel_size_spellings_are_read_as_kib() {
        assert_eq!(parse_kib("10485760k"), Some(10_485_760));
        assert_eq!(parse_kib("2g"), Some(2 * 1024 * 1024));
        assert_eq!(parse_kib("4096"), Some(4));
    }

    #[test]
    fn a_zero_size_is_skipped_without_touching_the_disk() {
        let root = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            ensure_ram_disk(&Host::new(root.path()), DISK, 0).expect("skipped"),
            RamDisk::Skipped
        );
        assert!(!root.path().join("storage").exists());
    }

    #[test]
    fn a_smaller_size_waits_while_the_runners_use_more_then_applies() {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
            eprintln!("skipping: mounting a tmpfs needs root");
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let host = Host::new(root.path());
        let disk = host.path(DISK);
        assert!(matches!(
            ensure_ram_disk(&host, DISK, 8192).expect("mounted"),
            RamDisk::Mounted { .. }
        ));
        std::fs::write(disk.join("runner"), vec![1u8; 3 * 1024 * 1024]).expect("3 MiB in use");
        let later = ensure_ram_disk(&host, DISK, 1024).expect("not refused");
        assert!(
            matches!(later, RamDisk::ShrinkLater { kib: 8192, wanted: 1024, used, .. } if used >= 3072),
            "{later:?}"
        );
        std::fs::remove_file(disk.join("runner")).expect("the runner went");
        assert!(matches!(
            ensure_ram_disk(&host, DISK, 1024).expect("resized"),
            RamDisk::Resized { kib: 1024, .. }
        ));
        assert!(remove_ram_disk(&host, DISK).expect("unmounted"));
    }
}
