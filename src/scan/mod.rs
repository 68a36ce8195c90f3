//! The scanner: a pure library (no async, database, HTTP or mail).
//!
//! [`Scanner`] finds secrets in bytes; [`reader`] feeds it bounded chunks of one input;
//! [`walk`] spreads files over threads; [`report`] renders findings.

pub mod allow;
pub mod baseline;
pub mod engine;
pub mod finding;
pub mod prefilter;
pub mod reader;
pub mod report;
pub mod walk;

pub use engine::{ExampleFailure, RawMatch, Scanner};
pub use finding::{Finding, Provenance};
pub use walk::{HistoryStats, ScanError, ScanOutput, ScanStats, WalkOptions, scan_paths, scan_stdin};
