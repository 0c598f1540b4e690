//! The elastic pool's watcher: a service of the charm's own binary (`dispatch watch`, as the
//! metrics exporter is) that hears of demand between reconciles and asks for one when it
//! moves, so that a runner taking a job is replaced, and a queued job gets a runner, in
//! seconds rather than at `reconcile-interval`'s pace. The timer's reconcile stays the safety
//! net: the watcher only ever starts that same reconcile sooner.
//!
//! - [`spec`]: what the hooks tell it (`watch.json`, 0600) and its systemd service;
//! - [`run`]: the process: serves the webhook endpoint, keeps the book, asks for reconciles;
//!   `look`: its look at GitHub every `watch-interval`, with ETags;
//! - [`webhook`]: signed `workflow_job` deliveries, each counted once; `http`: its HTTP side,
//!   bodies bounded in size and time;
//! - [`book`]: the jobs heard of (`demand.json`), which reconciles read for an organisation's
//!   queue, and the time jobs waited for a runner;
//! - [`signal`]: when a look asks for a reconcile (pure); [`trigger`]: reconciles debounced.
//!
//! Demand sources are seams: a look ([`run`]) and deliveries ([`webhook`]) both feed the book
//! and the trigger; GitHub's runner scale-set API (which ARC and GARM use, not publicly
//! documented) would be a third of the same shape.

pub mod book;
mod http;
mod look;
pub mod run;
pub mod signal;
pub mod spec;
pub mod trigger;
pub mod webhook;

pub use run::{main, COMMAND};
pub use spec::{WatchSpec, WatcherService, SERVICE};
