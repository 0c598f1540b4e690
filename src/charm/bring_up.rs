//! LXD brought to a fresh machine: when no daemon answers at `install` or `upgrade-charm`,
//! the snap is installed (Ubuntu; refreshed where it is installed) while the unit shows
//! `maintenance`, then the charm waits for the daemon. When it cannot, the unit is `blocked`
//! with the command to run. `start` and `config-changed` [`Retry`](When::Retry) only where
//! there is no LXD at all (no socket, no snap): an install that failed is tried again, and a
//! daemon that is only slow or restarting is waited for, never refreshed.

use std::time::Duration;

use super::{status, Ctx};
use crate::host::lxd_install;
use crate::juju::{Status, ToolError};
use crate::lxd::{LxdClient, LxdError};

/// How long a freshly installed snap may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Which hook asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// `install`, `upgrade-charm`: install or refresh the snap when no daemon answers.
    Install,
    /// `start`, `config-changed`: install only where there is no LXD at all.
    Retry,
}

/// Makes sure an LXD daemon answers, installing it where the charm can; a daemon installed
/// here becomes `ctx`'s. `Some(status)`: it could not be done, and the status says what the
/// operator must do.
pub(super) async fn bring_up(ctx: &mut Ctx<'_>, when: When) -> Result<Option<Status>, ToolError> {
    let socket = ctx.deps.lxd.socket().display().to_string();
    if when == When::Retry && ctx.deps.lxd.socket().exists() {
        // A daemon that is slow or restarting: the LXD setup says so, waiting.
        return Ok(None);
    }
    match ctx.deps.lxd.server().await {
        Err(LxdError::Unreachable { .. }) => {}
        // A daemon that answers, even with an error, is there.
        Ok(_) | Err(_) => return Ok(None),
    }
    let args = match lxd_install::install_command(&ctx.deps.host) {
        // An installed snap whose daemon does not answer is not refreshed outside install
        // and upgrade-charm: the LXD setup says it waits.
        Ok(["refresh", ..]) if when == When::Retry => return Ok(None),
        Ok(args) => args,
        Err(e) => return Ok(Some(status::no_lxd(&socket, &e))),
    };
    ctx.status(&status::installing_lxd(args))?;
    let command = match lxd_install::run_snap(args) {
        Ok(command) => command,
        Err(e) => {
            tracing::error!("LXD bring-up: {e}");
            return Ok(Some(status::no_lxd(&socket, &e)));
        }
    };
    tracing::info!("LXD bring-up: `{command}` done; waiting for the daemon");
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        // The socket is looked for again: the snap's appears only now.
        if let Ok(lxd) = LxdClient::from_env() {
            if lxd.server().await.is_ok() {
                tracing::info!("LXD bring-up: the daemon answers at {}", lxd.socket().display());
                ctx.deps.lxd = lxd;
                return Ok(None);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Some(status::lxd_silent(&command, READY_TIMEOUT)));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
