//! What goes into the runner image, as data: the toolset, yq's pinned build, the bake script
//! (`templates/bake.sh.j2`) and its steps, and the properties an image records of what it was
//! baked from. Pure: rendering and hashing only.

use std::collections::BTreeMap;

use minijinja::context;
use sha2::{Digest, Sha256};

use crate::proxy::Proxy;

const TEMPLATE: &str = include_str!("../../templates/bake.sh.j2");

/// The original charm's packages (`docker.io npm python3-pip shellcheck jq wget`), yarn from
/// the archive (`yarnpkg`, where the original ran `npm install --global yarn`), what
/// upstream's images add (`git curl unzip gh`) and what the bake itself uses. The runner's
/// own libraries are chosen per release by the script.
pub const TOOLSET: &[&str] = &[
    "docker.io",
    "npm",
    "yarnpkg",
    "python3-pip",
    "shellcheck",
    "jq",
    "wget",
    "git",
    "curl",
    "unzip",
    "gh",
    "ca-certificates",
    "iptables",
];

/// mikefarah's yq v4 (the original pinned v4.34.1 from the same releases).
pub const YQ_VERSION: &str = "v4.53.6";

/// yq's release asset for this machine, with its SHA-256 (as published with the release).
pub fn yq_release(arch: &str) -> Option<Download> {
    let (asset, sha256) = match arch {
        "x86_64" | "amd64" | "x64" => (
            "yq_linux_amd64",
            "c5f056448f973ae7d39b5401949648a78f2dc1947d6a8eb65be60d5c504b9385",
        ),
        "aarch64" | "arm64" => (
            "yq_linux_arm64",
            "88a1016bc1d657375a35864e4f44b6f333df8ff97b559f51bba0adcb2169df09",
        ),
        _ => return None,
    };
    Some(Download {
        url: format!("https://github.com/mikefarah/yq/releases/download/{YQ_VERSION}/{asset}"),
        sha256: sha256.to_string(),
    })
}

/// A file fetched by URL and checked against its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Download {
    pub url: String,
    pub sha256: String,
}

impl Download {
    /// `"<url> <sha256>"` (the test seam's form), checked: an http(s) URL and 64 hex digits.
    pub fn parse(text: &str) -> Result<Download, String> {
        let (url, sha256) = text
            .split_once(' ')
            .ok_or_else(|| format!("{text:?} is not `<url> <sha256>`"))?;
        let url = url::Url::parse(url.trim()).map_err(|e| format!("{url:?}: {e}"))?;
        let sha256 = sha256.trim().to_ascii_lowercase();
        if !matches!(url.scheme(), "http" | "https")
            || sha256.len() != 64
            || !sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!("{text:?} is not an http(s) URL and a SHA-256"));
        }
        Ok(Download {
            url: url.to_string(),
            sha256,
        })
    }
}

/// One step of the bake: its name in the script, and what the status says meanwhile.
pub const STEPS: &[(&str, &str)] = &[
    ("boot", "waiting for the build instance to boot"),
    ("apt", "updating the package lists"),
    ("packages", "installing packages"),
    ("yq", "installing yq"),
    ("configure", "configuring groups, Docker and /usr/local/bin"),
    ("runner", "installing the runner"),
    ("clean", "cleaning up"),
];

/// Where the bake puts the runner tarball in the build instance.
pub const TARBALL: &str = "/root/github-runner.tar.gz";
/// Where the bake script goes.
pub const SCRIPT: &str = "/root/bake.sh";

/// What a bake is made of, besides the base image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    /// `image-packages`, valid Debian names.
    pub packages: Vec<String>,
    pub yq: Download,
    pub proxy: ProxyLines,
    pub boot_timeout_secs: u64,
}

/// The model's proxy as apt reads it, or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxyLines(pub Option<String>);

impl ProxyLines {
    pub fn of(proxy: &Proxy) -> ProxyLines {
        let quote = |v: &str| v.replace(['"', '\n', '\r'], "");
        let mut lines = String::new();
        if let Some(http) = &proxy.http {
            lines.push_str(&format!("Acquire::http::Proxy \"{}\";\n", quote(http)));
        }
        if let Some(https) = &proxy.https {
            lines.push_str(&format!("Acquire::https::Proxy \"{}\";\n", quote(https)));
        }
        ProxyLines((!lines.is_empty()).then_some(lines))
    }
}

impl Recipe {
    /// The bake script.
    pub fn script(&self) -> Result<String, minijinja::Error> {
        let env = crate::runner::shell_templates();
        let eof = format!("GITHUB_RUNNER_BAKE_EOF_{}", &hex(TEMPLATE.as_bytes())[..12]);
        env.render_str(
            TEMPLATE,
            context! {
                boot_timeout => self.boot_timeout_secs,
                apt_proxy => self.proxy.0.clone(),
                eof => eof,
                toolset => TOOLSET.join(" "),
                packages => self.packages.join(" "),
                yq_url => self.yq.url.clone(),
                yq_sha256 => self.yq.sha256.clone(),
                tarball => TARBALL,
            },
        )
    }

    /// What this recipe's image is made of, apart from the base image and the runner: the
    /// script's template (and the partial it includes), the toolset and the yq pin (the proxy and the extra packages are
    /// inputs of their own).
    pub fn hash() -> String {
        let mut text = String::from(TEMPLATE);
        text.push_str(crate::runner::RUNNER_USER_TEMPLATE);
        text.push_str(&TOOLSET.join(" "));
        text.push_str(YQ_VERSION);
        hex(text.as_bytes())[..16].to_string()
    }
}

/// The image properties that say what it was baked from; a bake is due when the wanted ones
/// differ from the image's.
pub fn inputs(
    base_image: &str,
    base_fingerprint: Option<&str>,
    (runner_version, runner_sha256): (&str, &str),
    recipe: &Recipe,
) -> BTreeMap<String, String> {
    let mut inputs = BTreeMap::from([
        (key("base-image"), base_image.to_string()),
        (key("runner-version"), runner_version.to_string()),
        (key("runner-sha256"), runner_sha256.to_string()),
        (key("packages"), recipe.packages.join(" ")),
        (key("recipe"), Recipe::hash()),
        (key("yq"), recipe.yq.sha256.clone()),
    ]);
    if let Some(fingerprint) = base_fingerprint {
        inputs.insert(key("base-fingerprint"), fingerprint.to_string());
    }
    inputs
}

/// An image property of the charm's: `user.github-runner.<name>`.
pub fn key(name: &str) -> String {
    format!("user.github-runner.{name}")
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe {
            packages: vec!["build-essential".into(), "zstd".into()],
            yq: yq_release("x86_64").expect("amd64"),
            proxy: ProxyLines::of(&Proxy {
                http: Some("http://proxy.internal:3128".into()),
                https: None,
                no_proxy: None,
            }),
            boot_timeout_secs: 90,
        }
    }

    #[test]
    fn the_script_installs_the_originals_toolset_the_runners_libraries_and_the_operators_packages() {
        let script = recipe().script().expect("renders");
        for tool in [
            "docker.io",
            "npm",
            "python3-pip",
            "shellcheck",
            "jq",
            "wget",
            "yarnpkg",
            "gh",
            "git",
            "unzip",
        ] {
            assert!(script.contains(&format!(" {tool}")), "{tool}");
        }
        for lib in ["libicu72 libicu70", "liblttng-ust1", "libssl3", "libkrb5-3", "zlib1g"] {
            assert!(script.contains(lib), "{lib}");
        }
        assert!(script.contains("apt install -y build-essential zstd"));
        assert!(script.contains("Acquire::http::Proxy \"http://proxy.internal:3128\";"));
        assert!(script.contains("c5f056448f973ae7d39b5401949648a78f2dc1947d6a8eb65be60d5c504b9385"));
        assert!(script.contains("usermod -aG docker,microk8s ubuntu"));
        assert!(script.contains("chmod 0777 /usr/local/bin"));
        assert!(script.contains("iptables -I DOCKER-USER -j ACCEPT"));
        assert!(script.contains("purge -y unattended-upgrades"));
    }

    #[test]
    fn every_step_is_a_case_of_the_script_and_the_script_parses() {
        let script = recipe().script().expect("renders");
        for (step, _) in STEPS {
            assert!(script.contains(&format!("\n{step})\n")), "{step}");
        }
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn what_an_image_is_baked_from_changes_with_each_input() {
        let base = inputs("jammy", None, ("2.1", "aa"), &recipe());
        let mut other = recipe();
        other.packages.push("zip".into());
        assert_ne!(base, inputs("jammy", None, ("2.1", "aa"), &other));
        assert_ne!(base, inputs("noble", None, ("2.1", "aa"), &recipe()));
        assert_ne!(base, inputs("jammy", None, ("2.1", "bb"), &recipe()));
        assert_ne!(base, inputs("jammy", Some("f00d"), ("2.1", "aa"), &recipe()));
        assert_eq!(base[&key("recipe")], Recipe::hash());
    }

    #[test]
    fn a_download_seam_is_an_http_url_and_a_sha256() {
        let sha = "c5f056448f973ae7d39b5401949648a78f2dc1947d6a8eb65be60d5c504b9385";
        assert!(Download::parse(&format!("http://10.0.0.1/yq {sha}")).is_ok());
        assert!(Download::parse(&format!("file:///yq {sha}")).is_err());
        assert!(Download::parse("http://10.0.0.1/yq abc").is_err());
    }
}
