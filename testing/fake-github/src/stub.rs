//! The stub runner tarball: `config.sh`, `run.sh` and `bin/Runner.Listener` (files beside
//! this crate, POSIX sh for busybox) laid out as the real one is, packed as `actions-runner-linux-<arch>-<version>.tar.gz`, with its SHA-256.

use std::io::Write;

use sha2::{Digest, Sha256};

const CONFIG_SH: &str = include_str!("../stub/config.sh");
const RUN_SH: &str = include_str!("../stub/run.sh");
const LISTENER: &str = include_str!("../stub/listener.sh");

/// One published runner build.
#[derive(Debug, Clone)]
pub struct Tarball {
    pub version: String,
    pub filename: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// GitHub's name for this machine's architecture.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x64",
    }
}

impl Tarball {
    pub fn build(version: &str) -> Tarball {
        let mut tar = tar::Builder::new(Vec::new());
        let files = [
            ("config.sh", CONFIG_SH),
            ("run.sh", RUN_SH),
            ("bin/Runner.Listener", LISTENER),
            ("VERSION", &format!("{version}\n")),
        ];
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(if name == "VERSION" { 0o644 } else { 0o755 });
            header.set_mtime(0);
            header.set_cksum();
            tar.append_data(&mut header, name, text.as_bytes())
                .expect("writing to memory cannot fail");
        }
        let tar = tar.into_inner().expect("writing to memory cannot fail");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).expect("writing to memory cannot fail");
        let bytes = gz.finish().expect("writing to memory cannot fail");
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        Tarball {
            version: version.to_string(),
            filename: format!("actions-runner-linux-{}-{version}.tar.gz", arch()),
            bytes,
            sha256,
        }
    }
}
