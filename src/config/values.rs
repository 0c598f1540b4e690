//! The value types behind the options, each parsed from what the operator typed.
//!
//! Every parser returns the typed value or a problem phrased to follow the option and the
//! value in a message: `vm-disk "10G"` + `needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. "10GiB"`.
//! No I/O here.

use std::fmt;
use std::net::Ipv4Addr;

/// Where runners register: an organisation or one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubPath {
    Org(String),
    Repo { owner: String, repo: String },
}

impl GithubPath {
    pub fn parse(value: &str) -> Result<Self, String> {
        const SHAPE: &str = "must be an organisation name (`my-org`) or a repository (`owner/repo`)";
        let mut parts = value.split('/');
        let (first, second, rest) = (parts.next(), parts.next(), parts.next());
        match (first, second, rest) {
            (Some(org), None, None) => {
                check_login(org).map_err(|why| format!("{SHAPE}: {why}"))?;
                Ok(GithubPath::Org(org.to_string()))
            }
            (Some(owner), Some(repo), None) => {
                check_login(owner).map_err(|why| format!("{SHAPE}: owner {why}"))?;
                check_repo_name(repo).map_err(|why| format!("{SHAPE}: repository {why}"))?;
                Ok(GithubPath::Repo {
                    owner: owner.to_string(),
                    repo: repo.to_string(),
                })
            }
            _ => Err(SHAPE.to_string()),
        }
    }
}

impl fmt::Display for GithubPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GithubPath::Org(org) => f.write_str(org),
            GithubPath::Repo { owner, repo } => write!(f, "{owner}/{repo}"),
        }
    }
}

/// A Juju secret URI: `secret:<id>` or `secret://<model-uuid>/<id>`, or a bare id; ids are
/// 20 characters of base32hex (`0-9a-v`). Anything else (a token pasted by mistake) is not.
pub fn is_secret_uri(value: &str) -> bool {
    let id = value
        .strip_prefix("secret://")
        .and_then(|rest| rest.rsplit_once('/').map(|(_, id)| id))
        .or_else(|| value.strip_prefix("secret:"))
        .unwrap_or(value);
    id.len() == 20 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v'))
}

/// The labels every runner gets whatever `labels` says (the architecture either way).
pub const DEFAULT_LABELS: [&str; 4] = ["self-hosted", "linux", "x64", "arm64"];
/// GitHub takes up to 100 labels a runner, the default ones included.
const MAX_LABELS: usize = 100 - 5;

/// `image-packages`: Debian package names (policy §5.6.1: lower-case letters, digits, `+`, `-`
/// and `.`, at least two characters, starting with a letter or digit), separated by commas or
/// spaces, each once. Nothing else may reach apt's command line.
pub fn parse_packages(list: &str) -> Result<Vec<String>, String> {
    let mut packages: Vec<String> = Vec::new();
    for name in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
    {
        let valid = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
        if !valid {
            return Err(format!(
                "{name:?} is not a Debian package name (lower-case letters, digits, `+`, `-` and `.`, \
                 at least two characters, starting with a letter or digit), e.g. `build-essential`"
            ));
        }
        if !packages.iter().any(|p| p == name) {
            packages.push(name.to_string());
        }
    }
    Ok(packages)
}

/// `labels`: comma-separated custom labels, each 1–100 letters, digits, `-`, `_` or `.`,
/// none twice (GitHub matches labels without regard to case) and none of `reserved` (the
/// default labels); an empty list is fine.
pub fn parse_labels(list: &str, reserved: &[&str]) -> Result<Vec<String>, String> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut labels: Vec<String> = Vec::new();
    for label in list.split(',').map(str::trim) {
        if label.is_empty() {
            return Err("has an empty label (a stray comma?)".into());
        }
        if label.len() > 100 {
            return Err(format!("label {label:?} is longer than 100 characters"));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "label {label:?} holds {bad:?}: labels may hold only letters, digits, `-`, `_` and `.`"
            ));
        }
        if let Some(default) = reserved.iter().find(|d| d.eq_ignore_ascii_case(label)) {
            return Err(format!(
                "label {label:?} is a default label every runner has already ({default})"
            ));
        }
        if labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            return Err(format!("label {label:?} is there twice"));
        }
        labels.push(label.to_string());
    }
    if labels.len() > MAX_LABELS {
        return Err(format!(
            "has {} labels; GitHub takes {MAX_LABELS} besides the default ones",
            labels.len()
        ));
    }
    Ok(labels)
}

/// GitHub logins: 1–39 letters, digits or single inner hyphens.
fn check_login(login: &str) -> Result<(), String> {
    if login.is_empty() {
        return Err("is empty".into());
    }
    if login.len() > 39 {
        return Err("is longer than 39 characters".into());
    }
    if !login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("may hold only letters, digits and hyphens".into());
    }
    if login.starts_with('-') || login.ends_with('-') || login.contains("--") {
        return Err("may not start or end with a hyphen or hold two in a row".into());
    }
    Ok(())
}

/// Repository names: 1–100 letters, digits, `.`, `_` or `-`, and not `.` or `..`.
fn check_repo_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.len() > 100 {
        return Err("name is longer than 100 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("name may hold only letters, digits, `.`, `_` and `-`".into());
    }
    if name == "." || name == ".." {
        return Err("name may not be `.` or `..`".into());
    }
    Ok(())
}

/// A binary size unit, as LXD and the original charm accept them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeUnit {
    KiB,
    MiB,
    GiB,
    TiB,
    PiB,
    EiB,
}

impl SizeUnit {
    const ALL: [SizeUnit; 6] = [
        SizeUnit::KiB,
        SizeUnit::MiB,
        SizeUnit::GiB,
        SizeUnit::TiB,
        SizeUnit::PiB,
        SizeUnit::EiB,
    ];

    fn suffix(self) -> &'static str {
        match self {
            SizeUnit::KiB => "KiB",
            SizeUnit::MiB => "MiB",
            SizeUnit::GiB => "GiB",
            SizeUnit::TiB => "TiB",
            SizeUnit::PiB => "PiB",
            SizeUnit::EiB => "EiB",
        }
    }

    /// How many KiB one of this unit is.
    fn kib(self) -> u64 {
        1024u64.pow(SizeUnit::ALL.iter().position(|u| *u == self).unwrap_or(0) as u32)
    }
}

/// A positive size with a binary unit, e.g. `10GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize {
    amount: u64,
    unit: SizeUnit,
}

impl ByteSize {
    pub fn parse(value: &str) -> Result<Self, String> {
        let unit = SizeUnit::ALL
            .into_iter()
            .find(|u| value.ends_with(u.suffix()))
            .ok_or_else(|| {
                let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
                let example = if digits.is_empty() { "10".to_string() } else { digits };
                format!("needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. \"{example}GiB\"")
            })?;
        let number = &value[..value.len() - unit.suffix().len()];
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err("must be a positive whole number followed by its unit, e.g. \"10GiB\"".into());
        }
        let amount: u64 = number.parse().map_err(|_| "is too large".to_string())?;
        if amount == 0 {
            return Err("must be more than zero".into());
        }
        let size = ByteSize { amount, unit };
        size.amount
            .checked_mul(unit.kib())
            .and_then(|kib| kib.checked_mul(1024))
            .ok_or("is too large")?;
        Ok(size)
    }

    pub fn kib(self) -> u64 {
        self.amount * self.unit.kib()
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

/// An IPv4 network with zero host bits; a bare address is a /32, as Python's `IPv4Network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| "is not an IPv4 address".to_string())?;
        let prefix = match prefix {
            None => 32,
            // Digits only and no leading zero, so `+8` and `08` are refused, not guessed at.
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= 32 && n.to_string() == p => n,
                _ => return Err("needs a prefix length from 0 to 32".into()),
            },
        };
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        if u32::from(addr) & !mask != 0 {
            let network = Ipv4Addr::from(u32::from(addr) & mask);
            return Err(format!("has host bits set (did you mean {network}/{prefix}?)"));
        }
        Ok(Ipv4Net { addr, prefix })
    }
}

impl Ipv4Net {
    /// The network `addr/prefix` lies in (host bits cleared).
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.min(32);
        let net = Ipv4Net { addr, prefix };
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & net.mask()),
            prefix,
        }
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// Whether the two networks share an address (one then holds the other).
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Whether `other` lies wholly inside this network.
    pub fn holds(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The network's first host address: the runners' gateway on their bridge.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// A network the runners' bridge can use: private (RFC 1918), /16 to /29.
    pub fn parse_runner_subnet(value: &str) -> Result<Self, String> {
        let net = Ipv4Net::parse(value)?;
        if !(16..=29).contains(&net.prefix) {
            return Err("needs a prefix length from 16 to 29, e.g. `10.73.0.0/24`".into());
        }
        let private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
            .iter()
            .map(|n| Ipv4Net::parse(n).expect("RFC 1918 networks parse"))
            .any(|private| private.contains(net.addr) && net.prefix >= private.prefix);
        if !private {
            return Err("must be a private network (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)".into());
        }
        Ok(net)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `value` with whatever stands between `://` and its last `@` replaced by `***`: a URL's
/// credentials, safe to show even when the URL does not parse (a careless password may hold
/// `/`, `?` or `#`, so the last `@` anywhere is taken to end them).
pub fn without_credentials(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        // No scheme (`user:pass@host:3128`): whatever stands before the last `@` is hidden.
        return match value.rfind('@') {
            Some(at) => format!("***{}", &value[at..]),
            None => value.to_string(),
        };
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => value.to_string(),
    }
}

/// Parses an absolute URL whose scheme is one of `schemes` and which names a host.
pub fn parse_url(value: &str, schemes: &[&str]) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|e| format!("is not a URL ({e})"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!("must start with {}://", schemes.join(":// or ")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(url)
}
