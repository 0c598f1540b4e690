//! The action handlers: check-runners, reconcile-runners, flush-runners, update-dependencies.
//!
//! Each one needs GitHub and LXD, which this build does not talk to yet, so each fails with a
//! message that says so rather than reporting runners it never looked at.

use anyhow::anyhow;

use super::Charm;
use crate::event::Action;
use crate::juju::{self, status::Status};

pub fn run(charm: &Charm, action: Action) -> anyhow::Result<()> {
    if let Err(problems) = charm.config()? {
        juju::status::set(&Status::Blocked(problems.to_string()))?;
        return Err(anyhow!("{problems}"));
    }
    Err(anyhow!(
        "{} needs the runner manager (GitHub and LXD), which is not in this build of the charm yet",
        action.name()
    ))
}
