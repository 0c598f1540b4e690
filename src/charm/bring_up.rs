//! LXD brought to a fresh machine: when no daemon answers at `install` or `upgrade-charm`,
//! the snap is installed (Ubuntu; refreshed where it is installed) while the unit shows
//! `maintenance`, then the charm waits for the daemon. When it cannot, the unit is `blocked`
//! with the command to run. `start` and `config-changed` [`Retry`](When::Retry) only where
//! there is no LXD at all (no socket, no snap): an install that failed is tried again, and a
//! daemon that is only slow or restarting is waited for, never refreshed.

use std::time::Duration;

use super::Ctx;
use crate::host::lxd_install;
use crate::juju::{Status, ToolError};
use crate::lxd::{LxdClient, LxdError};
use crate::manager::Deps;

/// How long a freshly installed snap may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// What bringing LXD up came to.
pub(super) enum BringUp<'a> {
    /// A daemon answered already.
    Answers,
    /// Installed here: the context with a client of the new daemon.
    Installed(Box<Ctx<'a>>),
    /// It could not be done: the status says what the operator must do.
    Blocked(Status),
}

impl<'a> BringUp<'a> {
    /// The context to go on with, when it is a new one.
    pub(super) fn into_ctx(self) -> Option<Ctx<'a>> {
        match self {
            BringUp::Installed(ctx) => Some(*ctx),
            BringUp::Answers | BringUp::Blocked(_) => None,
        }
    }
}

/// Which hook asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// `install`, `upgrade-charm`: install or refresh the snap when no daemon answers.
    Install,
    /// `start`, `config-changed`: install only where there is no LXD at all.
    Retry,
}

/// Makes sure an LXD daemon answers, installing it where the charm can.
pub(super) async fn bring_up<'a>(ctx: &Ctx<'a>, when: When) -> Result<BringUp<'a>, ToolError> {
    let socket = ctx.deps.lxd.socket().display().to_string();
    if when == When::Retry && ctx.deps.lxd.socket().exists() {
        // A daemon that is slow or restarting: the LXD setup says so, waiting.
        return Ok(BringUp::Answers);
    }
    match ctx.deps.lxd.server().await {
        Err(LxdError::Unreachable { .. }) => {}
        // A daemon that answers, even with an error, is there.
        Ok(_) | Err(_) => return Ok(BringUp::Answers),
    }
    let args = match lxd_install::install_command(&ctx.deps.host) {
        // An installed snap whose daemon does not answer is not refreshed outside install
        // and upgrade-charm: the LXD setup says it waits.
        Ok(["refresh", ..]) if when == When::Retry => return Ok(BringUp::Answers),
        Ok(args) => args,
        Err(e) => {
            return Ok(BringUp::Blocked(Status::Blocked(format!(
                "LXD does not answer at {socket}: {e}"
            ))))
        }
    };
    ctx.status(&Status::Maintenance(format!("installing LXD: snap {}", args.join(" "))))?;
    let command = match lxd_install::run_snap(args) {
        Ok(command) => command,
        Err(e) => {
            tracing::error!("LXD bring-up: {e}");
            return Ok(BringUp::Blocked(Status::Blocked(format!(
                "LXD does not answer at {socket}: {e}"
            ))));
        }
    };
    tracing::info!("LXD bring-up: `{command}` done; waiting for the daemon");
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        // The socket is looked for again: the snap's appears only now.
        if let Ok(lxd) = LxdClient::from_env() {
            if lxd.server().await.is_ok() {
                tracing::info!("LXD bring-up: the daemon answers at {}", lxd.socket().display());
                let deps = Deps {
                    lxd,
                    ..ctx.deps.clone()
                };
                return Ok(BringUp::Installed(Box::new(Ctx {
                    tools: ctx.tools,
                    deps,
                    state: ctx.state.clone(),
                    proxy: ctx.proxy.clone(),
                    juju: ctx.juju.clone(),
                    refresh_secret: ctx.refresh_secret,
                })));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(BringUp::Blocked(Status::Blocked(format!(
                "`{command}` succeeded but LXD did not answer within {} s: check `snap services lxd` \
                 and `snap logs lxd`",
                READY_TIMEOUT.as_secs()
            ))));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
