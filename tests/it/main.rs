//! Integration tests: one binary, grouped by topic.

mod scan_cli;
mod serve;
mod support;
