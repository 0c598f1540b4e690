//! `fake-github --listen ADDR [--org NAME | --repo OWNER/NAME] [--token T]… [--rate-limit N]
//! [--heartbeat-timeout SECS] [--runner-version V]`: serves the emulator until SIGTERM/SIGINT,
//! printing its base URL first.

use std::time::Duration;

use anyhow::{bail, Context as _};
use fake_github::{Config, Emulator, ScopeConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    let mut listen = "127.0.0.1:0".to_string();
    let mut tokens = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?,
            "--org" => config.scope = ScopeConfig::Org(value()?),
            "--repo" => {
                let v = value()?;
                let (owner, repo) = v.split_once('/').context("--repo takes OWNER/NAME")?;
                config.scope = ScopeConfig::Repo {
                    owner: owner.into(),
                    repo: repo.into(),
                };
            }
            "--token" => tokens.push(value()?),
            "--rate-limit" => config.rate_limit = value()?.parse().context("--rate-limit takes a number")?,
            "--heartbeat-timeout" => {
                config.heartbeat_timeout = Duration::from_secs(value()?.parse().context("seconds")?)
            }
            "--runner-version" => config.runner_version = value()?,
            "-h" | "--help" => {
                println!("usage: fake-github --listen ADDR [--org NAME | --repo OWNER/NAME] [--token T]… [--rate-limit N] [--heartbeat-timeout SECS] [--runner-version V]");
                return Ok(());
            }
            other => bail!("unknown option {other:?} (see --help)"),
        }
    }
    if !tokens.is_empty() {
        config.tokens = tokens;
    }
    let emulator = Emulator::start(config, &listen).await?;
    println!("{}", emulator.base_url);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
