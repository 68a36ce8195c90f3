//! `revokd scans list` and `revokd scans show ID`: the API's scan jobs, for operators.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Result, bail};
use serde_json::Value;

use super::{block_on, open_store};
use crate::cli::{ListFormat, ScansCommand};
use revokd::config::Config;
use revokd::http::api::jobs::{MAX_PAGE, job_json};

pub fn scans(config_path: Option<&Path>, command: ScansCommand) -> Result<u8> {
    let config = Config::load(config_path)?;
    block_on(async {
        let store = open_store(&config).await?;
        let shown = match command {
            ScansCommand::List { limit, before, format } => {
                if !(1..=MAX_PAGE).contains(&limit) {
                    bail!("--limit must be 1 to {MAX_PAGE}");
                }
                let jobs = store.scan_jobs(limit, before.as_deref()).await?;
                let list: Vec<Value> = jobs.iter().map(|j| job_json(j, false)).collect();
                print_list(&list, format)
            }
            ScansCommand::Show { id, format } => match store.scan_job(&id).await? {
                Some(job) => print_job(&job_json(&job, true), format),
                None => bail!("no scan job with id {id:?}"),
            },
        };
        store.close().await;
        shown.map(|()| 0)
    })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn print_list(list: &[Value], format: ListFormat) -> Result<()> {
    let mut out = io::stdout().lock();
    match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, list)?;
            writeln!(out)?;
        }
        ListFormat::Human => {
            for j in list {
                writeln!(
                    out,
                    "{}  {:<9}  {}  {:>4} finding(s)  {:<12}  {}",
                    text(&j["id"]),
                    text(&j["status"]),
                    text(&j["created_at"]),
                    j["findings_count"],
                    text(&j["requested_by"]),
                    text(&j["repo"])
                )?;
            }
        }
    }
    Ok(out.flush()?)
}

fn print_job(job: &Value, format: ListFormat) -> Result<()> {
    let mut out = io::stdout().lock();
    match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, job)?;
            writeln!(out)?;
        }
        ListFormat::Human => {
            writeln!(out, "id:           {}", text(&job["id"]))?;
            writeln!(out, "status:       {}", text(&job["status"]))?;
            writeln!(out, "repo:         {}", text(&job["repo"]))?;
            writeln!(out, "ref:          {}", job["ref"].as_str().unwrap_or("(every ref)"))?;
            writeln!(out, "requested by: {}", text(&job["requested_by"]))?;
            writeln!(out, "created:      {}", text(&job["created_at"]))?;
            writeln!(out, "finished:     {}", text(&job["finished_at"]))?;
            if let Some(error) = job["error"].as_str() {
                writeln!(out, "error:        {error}")?;
            }
            if !job["stats"].is_null() {
                writeln!(out, "stats:        {}", job["stats"])?;
            }
            for f in job["findings"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{}:{}:{} {} {}  {}",
                    text(&f["path"]),
                    f["line"],
                    f["column"],
                    text(&f["rule"]),
                    text(&f["redacted"]),
                    text(&f["commit"])
                )?;
            }
        }
    }
    Ok(out.flush()?)
}
