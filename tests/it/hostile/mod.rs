//! Hostile input: whatever arrives at a door (webhook bodies and headers, connections,
//! pattern, config and gitleaks files, repositories, API requests) gets a clean 4xx, a
//! closed connection or exit 2 with a clear message, and the daemon stays responsive.

mod api;
mod connections;
mod files;
mod headers;
mod repositories;
mod scanner_reference;
mod webhook_bodies;
