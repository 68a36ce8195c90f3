//! Integration tests: one binary, grouped by topic.

mod architecture;
mod scan_cli;
mod support;
