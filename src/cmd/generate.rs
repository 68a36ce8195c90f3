//! `revokd completions SHELL` and `revokd man`: generated from the clap definitions, so
//! they never drift from the real flags. The Debian package ships their output.

use std::io::{self, Write};

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "revokd", &mut out);
    out.flush()?;
    Ok(0)
}

/// Writes the man page `revokd(1)` (roff) to standard output.
pub fn man() -> Result<u8> {
    let mut out = io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(0)
}
