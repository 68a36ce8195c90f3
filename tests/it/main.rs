//! Integration tests: one binary (one link step), grouped by topic.
//!
//! Store and CLI tests run on SQLite (a temporary file) and on PostgreSQL
//! (`REVOKD_TEST_PG`, default `postgres://postgres@127.0.0.1:5432`), each test in a
//! fresh database that it drops afterwards.

mod support;
mod testdb;

mod architecture;
mod cli_audit;
mod cli_config;
mod cli_keys;
mod cli_scans;
mod cli_teams;
mod console;
mod hooks;
mod hostile;
mod notify;
mod ops;
mod scale;
mod scan_changes;
mod scan_cli;
mod scan_git;
mod scan_git_control;
mod scan_git_incremental;
mod serve;
mod store_audit;
mod store_keys;
mod store_leaks;
mod store_wal;
