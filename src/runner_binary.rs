//! The runner tarball: which build is current, and a cache of the one verified copy.
//!
//! Parity with the original's `get_latest_runner_bin_url`, `update_runner_bin` and
//! `check_runner_bin`, fixed: the architecture comes from the host; the download streams to
//! a temporary file beside the cache while it is hashed (never whole in memory); a missing
//! `sha256_checksum` is refused; a mismatch deletes the download and keeps the old binary; the
//! file must be a gzip tar holding `config.sh` and `bin/Runner.Listener`; it is renamed into place, and only
//! then is `current.json` switched and the old version removed. A [`VerifiedTarball`] only
//! comes out of that check.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::github::{GithubClient, GithubError, RunnerApplication};
use crate::host::{fs as host_fs, Host};

/// How long one runner download may take in all (the real one is ~200 MB).
const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The largest runner download accepted.
const MAX_DOWNLOAD: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("this machine's architecture {0:?} has no GitHub runner build")]
    UnsupportedArch(String),
    #[error("GitHub offers no runner build for linux/{arch} (it offers: {offered})")]
    NoBuild { arch: String, offered: String },
    #[error("GitHub gave no sha256_checksum for {filename}: refusing a runner binary that cannot be verified")]
    NoChecksum { filename: String },
    #[error("runner download {filename:?} is not a plain tarball name")]
    BadFilename { filename: String },
    #[error("downloading {url}: {detail}")]
    Download { url: String, detail: String },
    #[error("{filename}: SHA-256 is {actual}, GitHub says {expected}; download discarded, the previous binary kept")]
    Mismatch {
        filename: String,
        expected: String,
        actual: String,
    },
    #[error("{filename} is not a runner tarball: {detail}")]
    NotARunner { filename: String, detail: String },
    #[error("runner binary cache {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Github(#[from] GithubError),
}

/// The architecture name GitHub uses for this host.
pub fn host_arch() -> Result<&'static str, BinaryError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("x64"),
        "aarch64" => Ok("arm64"),
        other => Err(BinaryError::UnsupportedArch(other.to_string())),
    }
}

/// The Linux build for `arch` among GitHub's offer.
pub fn pick<'a>(apps: &'a [RunnerApplication], arch: &str) -> Result<&'a RunnerApplication, BinaryError> {
    apps.iter()
        .find(|a| a.os == "linux" && a.architecture == arch)
        .ok_or_else(|| BinaryError::NoBuild {
            arch: arch.to_string(),
            offered: apps
                .iter()
                .map(|a| format!("{}/{}", a.os, a.architecture))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The build GitHub currently offers this host.
pub async fn latest(client: &GithubClient) -> Result<RunnerApplication, BinaryError> {
    let apps = client.runner_downloads().await?;
    Ok(pick(&apps, host_arch()?)?.clone())
}

/// A runner tarball on disk whose SHA-256 matched GitHub's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedTarball {
    filename: String,
    sha256: String,
    download_url: String,
    #[serde(skip)]
    path: PathBuf,
}

impl VerifiedTarball {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn filename(&self) -> &str {
        &self.filename
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// `2.323.0` from `actions-runner-linux-x64-2.323.0.tar.gz`.
    pub fn version(&self) -> &str {
        self.filename
            .trim_end_matches(".tar.gz")
            .rsplit('-')
            .next()
            .unwrap_or("")
    }

    /// Whether this is the build `app` describes.
    pub fn is(&self, app: &RunnerApplication) -> bool {
        app.filename == self.filename
            && app
                .sha256_checksum
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(&self.sha256))
    }
}

/// `<root>/var/cache/github-runner/runner-binary/`: the current tarball and `current.json`.
#[derive(Debug, Clone)]
pub struct RunnerBinaryCache {
    dir: PathBuf,
}

const CURRENT: &str = "current.json";

impl RunnerBinaryCache {
    pub fn new(host: &Host) -> Self {
        RunnerBinaryCache {
            dir: host.path("/var/cache/github-runner/runner-binary"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached tarball, if there is one whose file is still there.
    pub fn current(&self) -> Option<VerifiedTarball> {
        let text = fs::read(self.dir.join(CURRENT)).ok()?;
        let mut tarball: VerifiedTarball = serde_json::from_slice(&text).ok()?;
        tarball.path = self.dir.join(&tarball.filename);
        tarball.path.is_file().then_some(tarball)
    }

    /// Makes `app` the cached build, downloading it unless it already is.
    pub async fn update(
        &self,
        http: &reqwest::Client,
        app: &RunnerApplication,
    ) -> Result<VerifiedTarball, BinaryError> {
        let filename = &app.filename;
        if filename.is_empty() || filename.contains('/') || filename.starts_with('.') || !filename.ends_with(".tar.gz")
        {
            return Err(BinaryError::BadFilename {
                filename: filename.clone(),
            });
        }
        let expected = app.sha256_checksum.clone().ok_or_else(|| BinaryError::NoChecksum {
            filename: filename.clone(),
        })?;
        if let Some(current) = self.current().filter(|c| c.is(app)) {
            return Ok(current);
        }
        let io = |source| BinaryError::Io {
            path: self.dir.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        self.remove_partial_downloads();
        // Dropped (and so deleted) on every early return below.
        let mut tmp = tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(&self.dir)
            .map_err(io)?;
        let actual = self.download(http, app, tmp.as_file_mut()).await?;
        if !actual.eq_ignore_ascii_case(&expected) {
            return Err(BinaryError::Mismatch {
                filename: filename.clone(),
                expected,
                actual,
            });
        }
        let tmp_path = tmp.path().to_path_buf();
        let name = filename.clone();
        tokio::task::spawn_blocking(move || check_runner_tarball(&tmp_path, &name))
            .await
            .map_err(|e| BinaryError::NotARunner {
                filename: filename.clone(),
                detail: e.to_string(),
            })??;
        let path = self.dir.join(filename);
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        let tarball = VerifiedTarball {
            filename: filename.clone(),
            sha256: actual.to_lowercase(),
            download_url: app.download_url.clone(),
            path,
        };
        let record = serde_json::to_vec_pretty(&tarball).expect("strings always serialise");
        host_fs::write_atomic(&self.dir.join(CURRENT), &record, 0o644).map_err(io)?;
        self.remove_others(filename);
        Ok(tarball)
    }

    /// Deletes what downloads killed half way left (`.download-*`): a hook holds Juju's machine
    /// lock, so no other download runs now.
    fn remove_partial_downloads(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".download-") {
                if let Err(e) = fs::remove_file(entry.path()) {
                    tracing::warn!("removing a partial runner download: {e}");
                }
            }
        }
    }

    /// Streams the download into `file`, returning its SHA-256 in hex. Bounded in time and
    /// size, so a stalled or endless download cannot hold the hook (and the machine lock).
    async fn download(
        &self,
        http: &reqwest::Client,
        app: &RunnerApplication,
        file: &mut fs::File,
    ) -> Result<String, BinaryError> {
        let url = &app.download_url;
        let fail = |detail: String| BinaryError::Download {
            url: url.clone(),
            detail,
        };
        let mut request = http.get(url);
        // Only a download token goes to the download host, never the PAT.
        if let Some(token) = &app.temp_download_token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let mut hasher = Sha256::new();
        let mut stream = response.bytes_stream();
        let deadline = tokio::time::Instant::now() + DOWNLOAD_TIMEOUT;
        let mut size: u64 = 0;
        loop {
            let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(chunk)) => chunk.map_err(|e| fail(e.to_string()))?,
                Ok(None) => break,
                Err(_) => return Err(fail(format!("not done within {} s", DOWNLOAD_TIMEOUT.as_secs()))),
            };
            size += chunk.len() as u64;
            if size > MAX_DOWNLOAD {
                return Err(fail(format!(
                    "over {} MiB: no runner build is that large",
                    MAX_DOWNLOAD >> 20
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(|source| BinaryError::Io {
                path: self.dir.clone(),
                source,
            })?;
        }
        file.sync_all().map_err(|source| BinaryError::Io {
            path: self.dir.clone(),
            source,
        })?;
        Ok(hex(&hasher.finalize()))
    }

    /// Removes every other tarball, once the new one is in place. Failures are only logged:
    /// a leftover file costs disk, not correctness.
    fn remove_others(&self, keep: &str) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != keep && name != CURRENT && name.ends_with(".tar.gz") {
                if let Err(e) = fs::remove_file(entry.path()) {
                    tracing::warn!("removing old runner binary {name}: {e}");
                }
            }
        }
    }
}

/// A gzip tar with `config.sh` and `bin/Runner.Listener` (what the charm starts) at its top.
fn check_runner_tarball(path: &Path, filename: &str) -> Result<(), BinaryError> {
    let bad = |detail: String| BinaryError::NotARunner {
        filename: filename.to_string(),
        detail,
    };
    let file = fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let (mut config, mut listener) = (false, false);
    for entry in archive.entries().map_err(|e| bad(format!("not a gzip tar ({e})")))? {
        let entry = entry.map_err(|e| bad(format!("not a gzip tar ({e})")))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?;
        let name = path.to_string_lossy();
        match name.trim_start_matches("./") {
            "config.sh" => config = true,
            "bin/Runner.Listener" => listener = true,
            _ => {}
        }
    }
    match (config, listener) {
        (true, true) => Ok(()),
        _ => Err(bad("it has no config.sh and bin/Runner.Listener".into())),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(os: &str, arch: &str) -> RunnerApplication {
        RunnerApplication {
            os: os.into(),
            architecture: arch.into(),
            download_url: format!("https://x/{os}-{arch}"),
            filename: format!("actions-runner-{os}-{arch}-2.300.0.tar.gz"),
            temp_download_token: None,
            sha256_checksum: Some("ab".into()),
        }
    }

    #[test]
    fn pick_finds_the_linux_build_of_the_arch() {
        let apps = [app("osx", "x64"), app("linux", "arm64"), app("linux", "x64")];
        assert_eq!(pick(&apps, "x64").expect("found").download_url, "https://x/linux-x64");
        let err = pick(&apps[..1], "x64").expect_err("none").to_string();
        assert!(err.contains("offers: osx/x64"), "{err}");
    }

    #[test]
    fn version_comes_from_the_filename() {
        let t = VerifiedTarball {
            filename: "actions-runner-linux-x64-2.323.0.tar.gz".into(),
            sha256: String::new(),
            download_url: String::new(),
            path: PathBuf::new(),
        };
        assert_eq!(t.version(), "2.323.0");
    }
}
