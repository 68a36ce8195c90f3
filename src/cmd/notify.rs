//! `revokd notify …`.

use std::path::Path;

use anyhow::Result;

use super::{block_on, open_store};
use crate::cli::NotifyCommand;
use revokd::config::Config;
use revokd::notify::{Notifier, NotifyOptions};

/// `revokd notify run-once`: one pass of the worker; prints what it did.
pub fn notify(config_path: Option<&Path>, command: NotifyCommand) -> Result<u8> {
    let NotifyCommand::RunOnce = command;
    let config = Config::load(config_path)?;
    let options = NotifyOptions::from_config(&config)?;
    let summary = block_on(async {
        let store = open_store(&config).await?;
        let result = Notifier::new(store.clone(), options)?.run_once().await;
        store.close().await;
        Ok(result?)
    })?;
    println!(
        "queued {}, sent {}, failed {} (will retry), given up {}",
        summary.queued, summary.sent, summary.failed, summary.dead
    );
    Ok(if summary.failed + summary.dead == 0 { 0 } else { 1 })
}
