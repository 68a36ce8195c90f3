//! revokd: a secret scanner and key-revocation daemon.
//!
//! The library holds everything; the `revokd` binary only wires command-line flags to it.
//! See ARCHITECTURE.md for the data flow and where each part lives.

pub mod access;
pub mod config;
pub mod console;
pub mod daemon;
pub mod git;
pub mod github;
pub mod http;
pub mod keygen;
pub mod notify;
pub mod patterns;
pub mod pepper;
pub mod retention;
pub mod revoke;
pub mod scan;
pub mod secret;
pub mod store;
pub mod toml_error;
