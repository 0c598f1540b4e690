//! The runner manager's side of the unit: the LXD and host setup runners need ([`setup`]).
//!
//! This is where `lxd`, `host` and `github` meet; they never import each other.

pub mod setup;
