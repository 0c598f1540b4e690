//! The elastic pool's watcher service ([`crate::watch`]), kept by the hooks that keep the
//! reconcile timer: written from the config (its spec, with the token and the webhook secret,
//! root's alone), restarted when that changes or the charm's binary is new, removed with a
//! fixed pool and on `stop`; its webhook port opened (`open-port`) for `juju expose`. Like the exporter, it never fails a hook: the timer's reconcile
//! is the safety net, so a failure is logged as an error.

use super::Ctx;
use crate::config::{CharmConfig, Pool};
use crate::host::systemd_unit::{Ensured, Restart};
use crate::host::timer::{EventTimer, RECONCILE_EVENT};
use crate::watch::{WatchSpec, WatcherService, SERVICE};

/// Keeps the watcher as `config` says, and the webhook port open to `juju expose`.
pub fn ensure(ctx: &Ctx<'_>, config: &CharmConfig, restart: Restart) {
    let Some(spec) = spec(ctx, config) else {
        return remove(ctx);
    };
    keep_port(ctx, Some(spec.webhook_port).filter(|p| *p != 0));
    let dispatch = super::cos::dispatch(ctx);
    let service = WatcherService {
        spec: &spec,
        dispatch: &dispatch,
    };
    match service.ensure(&ctx.deps.host, restart) {
        Ok(Ensured::Installed) => tracing::info!(
            "watcher started: GitHub looked at every {} s{}",
            spec.interval_secs,
            match spec.webhook_port {
                0 => String::new(),
                port => format!(", webhooks on port {port}"),
            }
        ),
        Ok(Ensured::Restarted) => tracing::info!("watcher restarted"),
        Ok(Ensured::Unchanged) => {}
        Err(e) => tracing::error!("watcher: {e}; see `systemctl status {SERVICE}` (the reconcile timer still runs)"),
    }
}

/// Stops the watcher and deletes its service and spec; closes the webhook port.
pub fn remove(ctx: &Ctx<'_>) {
    keep_port(ctx, None);
    for e in WatcherService::remove(&ctx.deps.host, ctx.deps.unit.as_str()) {
        tracing::warn!("removing the watcher: {e}");
    }
}

/// Opens `wanted` (the webhook port) for `juju expose` and closes any other TCP port the unit
/// opened (an earlier `webhook-port`). The charm opens no other port.
fn keep_port(ctx: &Ctx<'_>, wanted: Option<u16>) {
    let opened = match ctx.tools.opened_ports() {
        Ok(opened) => opened,
        Err(e) => return tracing::warn!("opened-ports: {e}; the webhook port is left as it is"),
    };
    for port in opened.iter().filter(|p| Some(**p) != wanted) {
        if let Err(e) = ctx.tools.set_port(*port, false) {
            tracing::warn!("close-port {port}/tcp: {e}");
        }
    }
    if let Some(port) = wanted.filter(|p| !opened.contains(p)) {
        match ctx.tools.set_port(port, true) {
            Ok(()) => tracing::info!("webhook port {port}/tcp opened: `juju expose` opens it to the outside"),
            Err(e) => tracing::warn!("open-port {port}/tcp: {e}"),
        }
    }
}

/// The watcher's spec for an elastic pool; `None` for a fixed one, or when the runners'
/// labels cannot be known here.
fn spec(ctx: &Ctx<'_>, config: &CharmConfig) -> Option<WatchSpec> {
    let Pool::Elastic {
        max,
        schedule,
        idle_wait_minutes,
        watch,
    } = &config.pool
    else {
        return None;
    };
    let unit = &ctx.deps.unit;
    let labels = match crate::manager::runner_labels(config, unit.app()) {
        Ok(labels) => labels,
        Err(e) => {
            tracing::error!("watcher: {e}");
            return None;
        }
    };
    Some(WatchSpec {
        unit: unit.as_str().to_string(),
        github_url: config.github_url.to_string(),
        path: config.path.to_string(),
        group: config.group.clone(),
        token: config.token.expose().to_string(),
        proxy: config.proxy.clone(),
        runner_prefix: unit.runner_prefix(),
        labels,
        interval_secs: watch.interval_secs,
        webhook_port: watch.webhook.as_ref().map_or(0, |w| w.port),
        webhook_secret: watch
            .webhook
            .as_ref()
            .map(|w| w.secret.expose().to_string())
            .unwrap_or_default(),
        floor: config.virtual_machines,
        idle_schedule: schedule.canonical(),
        idle_wait_secs: u64::from(*idle_wait_minutes) * 60,
        max: *max,
        reconcile_service: EventTimer::service_name(RECONCILE_EVENT),
    })
}
