//! The options read by concern: each reader reads every option of its concern (so that every
//! problem is recorded, not just the first) and gives its part of the config only when all of
//! them are good. Errors are built right where an option is read.

use url::Url;

use super::reader::Reader;
use super::{defaults, values, ByteSize, GithubPath, IdleSchedule, ImageConfig, Ipv4Net, Pool, Watch, Webhook};
use crate::proxy::Proxy;
use crate::secret::Secret;

/// Where runners register, and with what.
pub(super) struct Github {
    pub path: GithubPath,
    pub token: Secret,
    pub group: Option<String>,
    pub url: Url,
}

/// What each runner is made of.
pub(super) struct Runners {
    pub virtual_machines: u32,
    pub vm_cpu: u32,
    pub vm_memory: ByteSize,
    pub vm_disk: ByteSize,
    pub base_image: String,
    pub labels: Vec<String>,
    pub max_age: u32,
}

/// What runners may reach, and through what.
pub(super) struct Network {
    pub runner_subnet: Ipv4Net,
    pub denylist: Vec<Ipv4Net>,
    pub dockerhub_mirror: Option<Url>,
    pub use_aproxy: bool,
    pub proxy: Proxy,
}

/// The charm's own services.
pub(super) struct Service {
    pub reconcile_interval: u32,
    pub metrics_port: Option<u16>,
}

/// `test-mode`: `insecure` means containers instead of VMs, and plain-http GitHub allowed.
pub(super) fn test_mode(r: &mut Reader<'_>) -> Option<bool> {
    r.string("test-mode", "").and_then(|mode| match mode.as_str() {
        "" => Some(false),
        "insecure" => Some(true),
        _ => r.reject("test-mode", &mode, "must be empty or `insecure`"),
    })
}

/// `path`, the token (`token` or the `token-secret-id` secret, read through `secret`),
/// `group`, `github-url` (plain http only when `insecure`).
pub(super) fn github(
    r: &mut Reader<'_>,
    secret: &dyn Fn(&str, &str) -> Result<Secret, String>,
    insecure: Option<bool>,
) -> Option<Github> {
    let path = r.string("path", "").filter(|p| !p.is_empty());
    let token = r.string("token", "").filter(|t| !t.is_empty());
    let secret_id = r.string("token-secret-id", "").filter(|t| !t.trim().is_empty());
    // Token first, as the original listed them.
    if token.is_none() && secret_id.is_none() {
        r.problems.missing.push("token");
    }
    if path.is_none() {
        r.problems.missing.push("path");
    }
    let path = path.and_then(|p| r.check("path", &p, GithubPath::parse));
    // The secret's URI is never shown either: a token pasted there by mistake would be.
    let token = match (token, secret_id) {
        (Some(_), Some(_)) => r.hidden("token-secret-id", "is set and so is `token`: set only one of them"),
        (Some(t), None) => r.check_secret("token", t),
        (None, Some(id)) if !values::is_secret_uri(id.trim()) => r.hidden(
            "token-secret-id",
            "must be a Juju secret URI such as `secret:cs0b3hqj2qpc7gcbq5c0` (value not shown: it may be a token)",
        ),
        (None, Some(id)) => match secret(id.trim(), "token") {
            Ok(t) => r.check_secret("token-secret-id", t.expose().to_string()),
            Err(why) => r.reject("token-secret-id", id.trim(), &why),
        },
        (None, None) => None,
    };
    let group = r.string("group", defaults::GROUP);
    let group = match (&path, group) {
        (Some(GithubPath::Org(_)), Some(group)) if group.trim().is_empty() => r.reject(
            "group",
            &group,
            "must name the organisation's runner group, e.g. `default`",
        ),
        (Some(GithubPath::Org(_)), group) => group.map(Some),
        (_, _) => Some(None),
    };
    let url = r.string("github-url", defaults::GITHUB_URL).and_then(|u| {
        if insecure == Some(true) {
            r.check("github-url", &u, |v| values::parse_url(v, &["https", "http"]))
        } else if u.starts_with("http://") {
            r.reject(
                "github-url",
                &u,
                "must start with https:// (http:// only with test-mode=insecure)",
            )
        } else {
            r.check("github-url", &u, |v| values::parse_url(v, &["https"]))
        }
    });
    Some(Github {
        path: path?,
        token: token?,
        group: group?,
        url: url?,
    })
}

/// `virtual-machines`, `vm-cpu`, `vm-memory`, `vm-disk`, `base-image`, `labels` (which may not
/// repeat the default labels or the image's name), `runner-max-age`.
pub(super) fn runners(r: &mut Reader<'_>) -> Option<Runners> {
    let virtual_machines = r.int("virtual-machines", defaults::VIRTUAL_MACHINES, 0);
    let vm_cpu = r.int("vm-cpu", defaults::VM_CPU, 1);
    let vm_memory = r
        .string("vm-memory", defaults::VM_MEMORY)
        .and_then(|v| r.check("vm-memory", &v, ByteSize::parse));
    let vm_disk = r
        .string("vm-disk", defaults::VM_DISK)
        .and_then(|v| r.check("vm-disk", &v, ByteSize::parse));
    let base_image = r.string("base-image", defaults::BASE_IMAGE).and_then(|image| {
        if image.is_empty() || image.chars().any(char::is_whitespace) {
            r.reject("base-image", &image, "must name an LXD image, e.g. `jammy`")
        } else {
            Some(image)
        }
    });
    let labels = r.string("labels", "").and_then(|list| {
        let mut reserved = values::DEFAULT_LABELS.to_vec();
        reserved.extend(base_image.as_deref());
        r.check("labels", &list, |l| values::parse_labels(l, &reserved))
    });
    let max_age = r.int("runner-max-age", defaults::RUNNER_MAX_AGE, 1);
    Some(Runners {
        max_age: max_age?,
        virtual_machines: virtual_machines?,
        vm_cpu: vm_cpu?,
        vm_memory: vm_memory?,
        vm_disk: vm_disk?,
        base_image: base_image?,
        labels: labels?,
    })
}

/// `runner-subnet`, `denylist` (outside the runner subnet), `dockerhub-mirror`,
/// `experimental-use-aproxy` and the model's `proxy` (which every runner file must carry).
pub(super) fn network(r: &mut Reader<'_>, proxy: Proxy) -> Option<Network> {
    let runner_subnet = r
        .string("runner-subnet", defaults::RUNNER_SUBNET)
        .and_then(|v| r.check("runner-subnet", &v, Ipv4Net::parse_runner_subnet));
    let denylist = r
        .string("denylist", "")
        .and_then(|list| r.check("denylist", &list, |list| denylist(list, runner_subnet)));
    let dockerhub_mirror = r.string("dockerhub-mirror", "").and_then(|m| {
        if m.is_empty() {
            return Some(None);
        }
        r.check("dockerhub-mirror", &m, |v| values::parse_url(v, &["https"]))
            .map(Some)
    });
    let use_aproxy = r.bool("experimental-use-aproxy", false);
    let proxy = r.check_proxy(proxy, use_aproxy);
    Some(Network {
        runner_subnet: runner_subnet?,
        denylist: denylist?,
        dockerhub_mirror: dockerhub_mirror?,
        use_aproxy: use_aproxy?,
        proxy: proxy?,
    })
}

/// `bake-image`, `image-packages` (Debian package names) and `image-refresh-interval` (hours).
pub(super) fn image(r: &mut Reader<'_>) -> Option<ImageConfig> {
    let bake = r.bool("bake-image", true);
    let packages = r
        .string("image-packages", "")
        .and_then(|list| r.check("image-packages", &list, values::parse_packages));
    let refresh_hours = r.int("image-refresh-interval", defaults::IMAGE_REFRESH_INTERVAL, 0);
    Some(ImageConfig {
        bake: bake?,
        packages: packages?,
        refresh_hours: refresh_hours?,
    })
}

/// `max-virtual-machines` (0: a fixed pool; else at least `virtual-machines`),
/// `idle-schedule` (only with an elastic pool; no floor above the ceiling), `idle-wait`, and
/// the watcher's options ([`watch`]).
pub(super) fn pool(
    r: &mut Reader<'_>,
    virtual_machines: Option<u32>,
    secret: &dyn Fn(&str, &str) -> Result<Secret, String>,
) -> Option<Pool> {
    let max = r.int("max-virtual-machines", 0, 0);
    let schedule = r
        .string("idle-schedule", "")
        .and_then(|text| r.check("idle-schedule", &text, IdleSchedule::parse).map(|s| (text, s)));
    let idle_wait = r.int("idle-wait", defaults::IDLE_WAIT, 0);
    let watch = watch(r, secret);
    let (max, (text, schedule), idle_wait_minutes, watch) = (max?, schedule?, idle_wait?, watch?);
    if max == 0 {
        if !schedule.windows.is_empty() {
            return r.reject(
                "idle-schedule",
                &text,
                "needs an elastic pool: set `max-virtual-machines` above `virtual-machines`",
            );
        }
        if let Some(webhook) = &watch.webhook {
            return r.reject(
                "webhook-port",
                &webhook.port.to_string(),
                "needs an elastic pool: set `max-virtual-machines` above `virtual-machines` (or 0 to turn the endpoint off)",
            );
        }
        return Some(Pool::Fixed);
    }
    let floor = virtual_machines?;
    if max < floor {
        return r.reject(
            "max-virtual-machines",
            &max.to_string(),
            &format!("must be 0 (a fixed pool) or at least `virtual-machines` ({floor})"),
        );
    }
    if let Some(highest) = schedule.highest().filter(|h| *h > max) {
        return r.reject(
            "idle-schedule",
            &text,
            &format!("has a floor of {highest}, above `max-virtual-machines` ({max})"),
        );
    }
    Some(Pool::Elastic {
        max,
        schedule,
        idle_wait_minutes,
        watch,
    })
}

/// `watch-interval` (at least 5 s), `webhook-port` (0: no endpoint) and `webhook-secret-id`
/// (a Juju secret, needed with a port; its key `secret` read through `secret`).
fn watch(r: &mut Reader<'_>, secret: &dyn Fn(&str, &str) -> Result<Secret, String>) -> Option<Watch> {
    let interval_secs = r.int("watch-interval", defaults::WATCH_INTERVAL, 5);
    let port = r.int("webhook-port", 0, 0).and_then(|port| match u16::try_from(port) {
        Ok(port) => Some(port),
        Err(_) => r.reject(
            "webhook-port",
            &port.to_string(),
            "must be a TCP port, 1–65535 (0 turns the webhook endpoint off)",
        ),
    });
    let secret_id = r.string("webhook-secret-id", "").map(|id| id.trim().to_string());
    let (interval_secs, port, secret_id) = (interval_secs?, port?, secret_id?);
    let metrics_port = r
        .raw
        .get("metrics-port")
        .and_then(|v| v.as_i64())
        .unwrap_or(defaults::METRICS_PORT);
    if port != 0 && i64::from(port) == metrics_port {
        return r.reject(
            "webhook-port",
            &port.to_string(),
            "is `metrics-port` too: give the webhook endpoint a port of its own",
        );
    }
    let webhook = match (port, secret_id.as_str()) {
        (0, _) => None,
        (_, "") => {
            return r.hidden(
                "webhook-secret-id",
                "is needed with `webhook-port`: a Juju secret holding the webhook's secret (key `secret`)",
            )
        }
        (_, id) if !values::is_secret_uri(id) => return r.hidden(
            "webhook-secret-id",
            "must be a Juju secret URI such as `secret:cs0b3hqj2qpc7gcbq5c0` (value not shown: it may be the secret)",
        ),
        (port, id) => {
            let value = match secret(id, "secret") {
                Ok(value) => value,
                Err(why) => return r.reject("webhook-secret-id", id, &why),
            };
            if value.expose().chars().count() < 16 {
                return r.hidden(
                    "webhook-secret-id",
                    "holds a secret shorter than 16 characters: use a long random one, e.g. `openssl rand -hex 32`",
                );
            }
            Some(Webhook { port, secret: value })
        }
    };
    Some(Watch { interval_secs, webhook })
}

/// `reconcile-interval` and `metrics-port` (0 turns the exporter off).
pub(super) fn service(r: &mut Reader<'_>) -> Option<Service> {
    let reconcile_interval = r.int("reconcile-interval", defaults::RECONCILE_INTERVAL, 1);
    let metrics_port = metrics_port(r);
    Some(Service {
        reconcile_interval: reconcile_interval?,
        metrics_port: metrics_port?,
    })
}

/// `metrics-port`: `Some(None)` when 0 (the exporter off).
pub(super) fn metrics_port(r: &mut Reader<'_>) -> Option<Option<u16>> {
    r.int("metrics-port", defaults::METRICS_PORT, 0)
        .and_then(|port| match u16::try_from(port) {
            Ok(0) => Some(None),
            Ok(port) => Some(Some(port)),
            Err(_) => r.reject(
                "metrics-port",
                &port.to_string(),
                "must be a TCP port, 1–65535 (0 turns the exporter off)",
            ),
        })
}

/// Comma-separated networks, none inside `runner_subnet`; an empty list is fine, an empty
/// entry is not.
fn denylist(list: &str, runner_subnet: Option<Ipv4Net>) -> Result<Vec<Ipv4Net>, String> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    let denylist = list
        .split(',')
        .map(str::trim)
        .map(|entry| {
            if entry.is_empty() {
                return Err("has an empty entry (a stray comma?)".to_string());
            }
            Ipv4Net::parse(entry).map_err(|why| format!("entry {entry:?} {why}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A wider entry (10.0.0.0/8 around 10.73.0.0/24) is enforced: the bridge's address is the
    // host's (always rejected) and port isolation keeps runners apart. One inside the
    // runners' own network is not reachable by the ACL at all.
    match (
        denylist.iter().find(|d| runner_subnet.is_some_and(|s| s.holds(d))),
        runner_subnet,
    ) {
        (Some(denied), Some(subnet)) => Err(format!(
            "entry {denied} lies inside `runner-subnet` {subnet}, the runners' own network, which the firewall \
             cannot filter: deny a network outside it, or move `runner-subnet`"
        )),
        _ => Ok(denylist),
    }
}
