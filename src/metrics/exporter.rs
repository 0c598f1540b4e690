//! The metrics exporter: `dispatch serve-metrics --port N --file PATH`, a long-running process
//! the charm runs as the systemd service `ghro.metrics-exporter.service` (written, restarted on
//! upgrade and removed on `stop` like the reconcile timer). It answers `GET /metrics` on
//! `127.0.0.1:N` (the `cos-agent` subordinate scrapes it there) from the metrics file; it never
//! calls GitHub or LXD.

use std::path::{Path, PathBuf};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use minijinja::{context, Environment};

use super::exposition::{self, Process, CONTENT_TYPE};
use super::MetricsFile;
use crate::host::systemd_unit::{ensure_units, remove_units, Ensured, Restart, UnitError};
use crate::host::Host;

const TEMPLATE: &str = include_str!("../../templates/metrics-exporter.service.j2");
/// The exporter's systemd service.
pub const SERVICE: &str = "ghro.metrics-exporter.service";
/// Connections served at once; one more is closed at once (a scraper comes every 15 s or so).
pub const MAX_CLIENTS: usize = 64;
/// The `dispatch` argument that runs the exporter instead of a hook.
pub const COMMAND: &str = "serve-metrics";

/// The exporter's service, as the charm writes it.
#[derive(Debug, Clone)]
pub struct ExporterService<'a> {
    pub unit: &'a str,
    pub port: u16,
    /// The charm's `dispatch` binary.
    pub dispatch: &'a Path,
    pub file: &'a MetricsFile,
}

impl ExporterService<'_> {
    pub fn render(&self) -> Result<String, UnitError> {
        let ctx = context! {
            unit => self.unit,
            port => self.port,
            dispatch => self.dispatch.display().to_string(),
            file => self.file.path().display().to_string(),
            user => crate::host::account::EXPORTER,
        };
        Environment::new()
            .render_str(TEMPLATE, ctx)
            .map(|text| text + "\n")
            .map_err(|source| UnitError::Template {
                template: "metrics-exporter.service.j2",
                source,
            })
    }

    /// Writes the service if it changed and makes sure it runs, restarting it as `restart`
    /// says.
    pub fn ensure(&self, host: &Host, restart: Restart) -> Result<Ensured, UnitError> {
        crate::host::account::ensure_exporter(host)?;
        let ensured = ensure_units(host, &[(SERVICE.to_string(), self.render()?)], SERVICE)?;
        if restart == Restart::Always && ensured != Ensured::Installed {
            host.systemd().unit("restart", SERVICE)?;
        }
        Ok(ensured)
    }

    /// Stops the exporter and deletes its service (none installed is fine).
    pub fn remove(host: &Host) -> Vec<UnitError> {
        remove_units(host, &[SERVICE.to_string()])
    }
}

/// The exporter's command line, after [`COMMAND`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub port: u16,
    pub file: PathBuf,
    /// Who it serves as once its port is bound (none: who started it).
    pub user: Option<String>,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let usage = || format!("usage: dispatch {COMMAND} --port N --file PATH [--user NAME]");
        let (mut port, mut file, mut user) = (None, None, None);
        let mut words = args.iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "--port" => port = words.next().and_then(|p| p.parse::<u16>().ok()),
                "--file" => file = words.next().map(PathBuf::from),
                "--user" => user = Some(words.next().cloned().ok_or_else(usage)?),
                other => return Err(format!("{COMMAND}: unknown argument {other:?}; {}", usage())),
            }
        }
        match (port, file) {
            (Some(port), Some(file)) if port > 0 => Ok(Args { port, file, user }),
            _ => Err(usage()),
        }
    }
}

/// Becomes `name` of the host's `/etc/passwd` (its uid, its group and no other), for good:
/// root cannot be taken back.
fn become_user(host: &Host, name: &str) -> Result<(), String> {
    use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
    let (uid, gid) = crate::host::account::user_ids(host, name)
        .ok_or_else(|| format!("no user {name} on this machine (the charm makes it with systemd-sysusers)"))?;
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    setgroups(&[gid]).map_err(|e| format!("dropping supplementary groups: {e}"))?;
    setgid(gid).map_err(|e| format!("becoming group {gid}: {e}"))?;
    setuid(uid).map_err(|e| format!("becoming user {name}: {e}"))?;
    if uid.is_root() || setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!("{name} can still become root: refusing to serve"));
    }
    Ok(())
}

/// `dispatch serve-metrics …`: bound to localhost, serving until systemd stops it; its own
/// exit code (2 for a bad command line).
pub fn main(args: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    let args = match Args::parse(args) {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("error: {usage}");
            return ExitCode::from(2);
        }
    };
    // Bound first (a port under 1024 needs root), then the user's alone, before any thread.
    let bound = std::net::TcpListener::bind(("127.0.0.1", args.port))
        .map_err(|e| format!("listening on 127.0.0.1:{}: {e} (is `metrics-port` taken?)", args.port))
        .and_then(|l| l.set_nonblocking(true).map(|_| l).map_err(|e| e.to_string()))
        .and_then(|l| {
            args.user
                .as_deref()
                .map_or(Ok(()), |u| become_user(&Host::from_env(), u))
                .map(|_| l)
        });
    let std_listener = match bound {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(runtime) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
        eprintln!(
            "serving {} on http://127.0.0.1:{}/metrics as uid {}",
            args.file.display(),
            args.port,
            nix::unistd::Uid::effective()
        );
        serve(listener, MetricsFile::at(&args.file))
            .await
            .map_err(|e| format!("serving metrics: {e}"))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves `file` on `listener` until the process is stopped.
pub async fn serve(listener: tokio::net::TcpListener, file: MetricsFile) -> std::io::Result<()> {
    let started = super::unix_now();
    let overflow = crate::http_serve::Overflow::Close;
    crate::http_serve::serve(listener, MAX_CLIENTS, overflow, "metrics exporter", move |request| {
        let response = respond(&request, &file, started);
        async move { response }
    })
    .await;
    Ok(())
}

fn respond<B>(request: &Request<B>, file: &MetricsFile, started: f64) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/metrics") => {
            let text = exposition::render(file.load(), Process::current(started));
            (StatusCode::OK, CONTENT_TYPE, text)
        }
        ("GET", _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: the metrics are at /metrics\n".into(),
        ),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".into()),
    };
    crate::http_serve::response(status, content_type, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporter_takes_a_port_a_file_and_a_user_and_refuses_anything_else() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            Args::parse(&words("--port 9468 --file /var/lib/x.json")),
            Ok(Args {
                port: 9468,
                file: "/var/lib/x.json".into(),
                user: None,
            })
        );
        assert_eq!(
            Args::parse(&words("--port 9468 --file /x --user ghro-metrics")).map(|a| a.user),
            Ok(Some("ghro-metrics".into()))
        );
        assert!(Args::parse(&words("--port 9468 --file /x --user")).is_err());
        assert!(Args::parse(&words("--port 0 --file /x")).is_err());
        assert!(Args::parse(&words("--port 9468")).is_err());
        assert!(Args::parse(&words("--port 9468 --file /x --verbose")).is_err());
    }

    #[test]
    fn the_service_runs_the_charm_binary_with_the_port_and_file_as_the_exporter_user() {
        let file = MetricsFile::at("/var/lib/github-runner/github-runner-0/metrics.json");
        let text = ExporterService {
            unit: "github-runner/0",
            port: 9468,
            dispatch: Path::new("/var/lib/juju/agents/unit-github-runner-0/charm/dispatch"),
            file: &file,
        }
        .render()
        .unwrap();
        assert!(text.contains(
            "ExecStart=\"/var/lib/juju/agents/unit-github-runner-0/charm/dispatch\" serve-metrics --port 9468 --file \"/var/lib/github-runner/github-runner-0/metrics.json\" --user ghro-metrics"
        ), "{text}");
        assert!(text.contains("Restart=always"));
    }

    #[tokio::test]
    async fn a_scrape_gets_the_recorded_figures_and_other_paths_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = MetricsFile::at(dir.path().join("metrics.json"));
        file.update(|r| r.target = 4);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, file));
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("github_runner_runners_target 4"), "{text}");
        let other = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap();
        assert_eq!(other.status(), 404);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_thousand_connections_held_open_do_not_stop_the_exporter() {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        // Both ends of every connection are in this process: let it hold them.
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = MetricsFile::at(dir.path().join("metrics.json"));
        file.update(|r| r.target = 2);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(serve(listener, file));
        let mut held = Vec::new();
        for _ in 0..2000 {
            // Some are closed by the exporter at once (over MAX_CLIENTS); all stay open here.
            match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                Ok(stream) => held.push(stream),
                Err(e) => panic!("connection {}: {e}", held.len()),
            }
        }
        assert!(
            !server.is_finished(),
            "the exporter still runs with 2,000 connections open"
        );
        drop(held);
        let mut scraped = None;
        for _ in 0..50 {
            if let Ok(answer) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
                scraped = Some(answer.text().await.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let text = scraped.expect("a scrape once the connections are gone");
        assert!(text.contains("github_runner_runners_target 2"), "{text}");
    }
}
