//! The bake's systemd service (`templates/bake-image.service.j2`): written where its text
//! changed, started in the background (`systemctl start --no-block`), stopped and deleted
//! with the unit.

use std::path::Path;

use minijinja::context;

use super::SERVICE;
use crate::host::fs;
use crate::host::systemd_unit::{remove_units, UnitError, UNIT_DIR};
use crate::host::Host;

const TEMPLATE: &str = include_str!("../../templates/bake-image.service.j2");

/// The unit file's text.
pub fn render(unit: &str, dispatch: &Path, request: &Path) -> Result<String, UnitError> {
    minijinja::Environment::new()
        .render_str(
            TEMPLATE,
            context! { unit => unit, dispatch => dispatch.display().to_string(), request => request.display().to_string() },
        )
        .map_err(|source| UnitError::Template {
            template: "bake-image.service.j2",
            source,
        })
}

/// Writes the unit (reloading systemd when its text changed) and starts it in the background.
pub fn start(host: &Host, text: &str) -> Result<(), UnitError> {
    let path = host.path(UNIT_DIR).join(SERVICE);
    let written = fs::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| UnitError::Write {
        unit: SERVICE.to_string(),
        source,
    })?;
    if written == fs::Written::Changed {
        host.systemd().daemon_reload()?;
    }
    host.systemd().start_in_background(SERVICE)?;
    Ok(())
}

/// Whether a bake runs now (a running oneshot service is `activating`).
pub fn running(host: &Host) -> bool {
    host.systemd().is_running(SERVICE)
}

/// Stops a running bake and deletes the unit.
pub fn remove(host: &Host) -> Vec<UnitError> {
    remove_units(host, &[SERVICE.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_runs_the_charms_binary_once_at_a_time() {
        let text = render(
            "github-runner/0",
            Path::new("/var/lib/juju/agents/unit-github-runner-0/charm/dispatch"),
            Path::new("/var/lib/github-runner/github-runner-0/bake-request.json"),
        )
        .expect("renders");
        assert!(text.contains("Type=oneshot"));
        assert!(text.contains(
            "ExecStart=\"/var/lib/juju/agents/unit-github-runner-0/charm/dispatch\" bake-image \"/var/lib/github-runner/github-runner-0/bake-request.json\""
        ));
    }
}
