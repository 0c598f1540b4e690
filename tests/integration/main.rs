//! The integration tests, one binary (as ripgrep's are): it links once and packs the charm
//! once, the tests that need no LXD run in parallel, and those on the real daemon take
//! [`common::exclusive`] and run one at a time. A module a concern:
//! - the clients against their peers: `github_client` (fake-github over HTTP, checked against
//!   GitHub's OpenAPI description), `lxd_client` (the real daemon), `runner_binary`;
//! - the charm's pieces on the real daemon: `lxd_runner`, `lxd_bring_up`, `firewall`, `bake`,
//!   `reach_before_nat`, `legacy_objects`, `preflight`,
//!   `systemd_image`, `manager_scenario`, `manager_faults`, `broken_runners`, `reboot`;
//! - the packed charm under fake-juju: `pack`, `scenario`, `neighbours`, `observability`,
//!   `fake_juju_relations`, and the fault suite (`faults`).
//!
//! `cargo test --test integration <module>::` runs one module.

mod common;

mod bake;
mod broken_runners;
mod cos_library;
mod elastic;
mod fake_juju_relations;
mod faults;
mod firewall;
mod github_client;
mod github_jobs;
mod github_links;
mod legacy_objects;
mod lxd_bring_up;
mod lxd_client;
mod lxd_runner;
mod manager_faults;
mod manager_scenario;
mod neighbours;
mod observability;
mod pack;
mod preflight;
mod reach_before_nat;
mod reboot;
mod runner_binary;
mod scenario;
mod systemd_image;
mod two_units;
mod watcher;
