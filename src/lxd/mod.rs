//! LXD's REST API over its unix socket, as one typed client.
//!
//! Owns the socket, the response envelope (`sync`/`async`/`error`), waiting for operations
//! (whose `wait` answers HTTP 200 even for a failed operation: `metadata.status_code` says),
//! and every request shape of research/lxd.md §7. Callers see typed answers ([`types`]),
//! [`Instance`]s, [`ExecOutput`]s and [`LxdError`]s; no raw JSON leaves this module.
//! Connection pooling is off: LXD 5.0 stalls its whole API while a client holds a connection
//! that has sent nothing, which pooled clients do (lxd.md §8).
//!
//! It must not know about GitHub, Juju or runners.

mod client;
mod error;
mod exec;
mod images;
mod instances;
mod networks;
mod resources;
pub mod types;

pub use client::{socket_path, LxdClient};
pub use error::LxdError;
pub use exec::{ExecOutput, EXEC_TIMEOUT, MAX_OUTPUT};
pub use images::{aliased, cached_from, Image};
pub use instances::{Instance, InstanceSource, InstanceSpec, InstanceType};
pub use resources::Profile;
pub use types::{AclRule, InstanceState, Network, NetworkAcl, Server, ServerEnvironment, StoragePool};
