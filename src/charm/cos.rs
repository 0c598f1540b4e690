//! Observability around the runners: the metrics exporter's service, the event log's rotation
//! and the `cos-agent` relation's unit data (scrape job, alert rules, dashboard), kept on the
//! hooks the Python provider publishes on (relation joined and changed, config-changed,
//! upgrade-charm, as cos_agent.py's `COSAgentProvider.__init__` observes them, lines 673-681)
//! from `metrics-port` alone, whatever else the config says: a blocked unit stays in its
//! dashboards and alerts, and its scrape job always has the exporter behind it. None of it
//! ever fails a hook: the runners matter more; a failure is logged as an error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Ctx;
use crate::config::CharmConfig;
use crate::host::systemd_unit::Restart;
use crate::metrics::cos_agent::{self, Topology};
use crate::metrics::exporter::ExporterService;
use crate::metrics::{EventLog, MetricsFile};

/// The exporter on `metrics-port` (restarted as `restart` says; removed when the option is 0
/// or invalid), the log rotation, and the relation data with the same port.
pub fn ensure(ctx: &Ctx<'_>, restart: Restart) {
    let metrics_port = match ctx.tools.config_get() {
        Ok(raw) => CharmConfig::metrics_port_alone(&raw),
        Err(e) => return tracing::error!("observability: config-get: {e}"),
    };
    let host = &ctx.deps.host;
    match metrics_port {
        Some(port) => {
            let file = MetricsFile::new(host, ctx.deps.unit.as_str());
            let service = ExporterService {
                unit: ctx.deps.unit.as_str(),
                port,
                dispatch: &dispatch(ctx),
                file: &file,
            };
            if let Err(e) = service.ensure(host, restart) {
                tracing::error!(
                    "metrics exporter on port {port}: {e}; see `systemctl status {}`",
                    crate::metrics::exporter::SERVICE
                );
            }
        }
        None => remove_exporter(ctx),
    }
    if let Err(e) = EventLog::new(host).ensure_rotation() {
        tracing::error!("event log rotation: {e}");
    }
    publish(ctx, metrics_port);
}

/// Sets the `cos-agent` unit data on every such relation (none: nothing to do), with the
/// exporter's scrape job when there is one.
fn publish(ctx: &Ctx<'_>, metrics_port: Option<u16>) {
    let ids = match ctx.tools.relation_ids(cos_agent::ENDPOINT) {
        Ok(ids) => ids,
        Err(e) => return tracing::error!("cos-agent: relation-ids: {e}"),
    };
    if ids.is_empty() {
        return;
    }
    let topology = Topology {
        model: ctx.juju.model_name.clone(),
        model_uuid: ctx.juju.model_uuid.clone(),
        application: ctx.deps.unit.app().to_string(),
    };
    let data = match cos_agent::unit_data(&topology, metrics_port) {
        Ok(data) => BTreeMap::from([(cos_agent::KEY.to_string(), data)]),
        Err(e) => return tracing::error!("cos-agent: {e}"),
    };
    for id in ids {
        match ctx.tools.relation_set(&id, &data) {
            Ok(()) => tracing::info!("cos-agent: {id}: scrape job, alert rules and dashboard set"),
            Err(e) => tracing::error!("cos-agent: {id}: relation-set: {e}"),
        }
    }
}

/// Stops the exporter and deletes its service.
pub fn remove_exporter(ctx: &Ctx<'_>) {
    for e in ExporterService::remove(&ctx.deps.host) {
        tracing::warn!("removing the metrics exporter: {e}");
    }
}

/// The charm's binary (`dispatch`), which the services run.
pub(super) fn dispatch(ctx: &Ctx<'_>) -> PathBuf {
    match &ctx.juju.charm_dir {
        Some(dir) => dir.join("dispatch"),
        None => std::env::current_exe().unwrap_or_else(|_| PathBuf::from("dispatch")),
    }
}
