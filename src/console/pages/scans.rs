//! `GET /console/scans` (scan jobs, newest first, and the form to start one),
//! `POST /console/scans` (queue a job through the API's own path:
//! [`ApiState::queue_scan`](crate::http::api::ApiState::queue_scan)), `GET
//! /console/scans/{id}` (progress, refreshed every few seconds without JavaScript
//! while the job runs, then its redacted findings).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, Redirect};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;
use serde_json::Value;

use super::{field, form, query, see_other};
use crate::access::Permission;
use crate::console::error::ConsoleError;
use crate::console::{ConsoleState, Operator, page};
use crate::http::api::jobs::{ScanRequest, job_json};
use crate::store::{ScanJob, scan_status};

/// Scans per page.
const SCAN_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ScanListQuery {
    before: Option<String>,
}

pub async fn list(
    State(console): State<ConsoleState>,
    operator: Operator,
    q: Result<Query<ScanListQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadScans)?;
    let before = field(&query(q)?.before);
    let jobs = console.store().scan_jobs(SCAN_PAGE, before.as_deref()).await?;
    let next = (jobs.len() as i64 == SCAN_PAGE).then(|| jobs.last().map(|j| j.id.clone())).flatten();
    let rows: Vec<Value> = jobs.iter().map(|j| view(j, false)).collect();
    page(&operator, "scans", "scans.html", context! { scans => Serde(rows), next => next })
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    repo: String,
    #[serde(rename = "ref", default)]
    git_ref: Option<String>,
    /// A checkbox: present (any value) means yes.
    #[serde(default)]
    revoke: Option<String>,
}

pub async fn start(
    State(console): State<ConsoleState>,
    operator: Operator,
    body: Result<Form<StartForm>, FormRejection>,
) -> Result<Redirect, ConsoleError> {
    operator.require(Permission::RunScans)?;
    let body = form(body)?;
    operator.check_csrf(&body.csrf)?;
    let repo = body.repo.trim();
    if repo.is_empty() {
        return Err(ConsoleError::BadRequest("a repository path or URL is required".into()));
    }
    let request = ScanRequest {
        repo: repo.to_owned(),
        git_ref: field(&body.git_ref),
        history: true,
        revoke: body.revoke.is_some(),
    };
    let job = console.api().queue_scan(request, &operator.name).await?;
    Ok(see_other(&format!("/console/scans/{}", job.id)))
}

pub async fn show(
    State(console): State<ConsoleState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadScans)?;
    let job = console.store().scan_job(&id).await?.ok_or_else(|| ConsoleError::NotFound("no such scan".into()))?;
    let running = job.status == scan_status::QUEUED || job.status == scan_status::RUNNING;
    page(&operator, "scans", "scan.html", context! { scan => Serde(view(&job, true)), running })
}

/// A job as the API shows it (credentials redacted from the URL, findings redacted),
/// plus its times as UTC ms for the templates.
pub fn view(job: &ScanJob, with_findings: bool) -> Value {
    let mut out = job_json(job, with_findings);
    out["created_ms"] = job.created_at.into();
    out["started_ms"] = job.started_at.into();
    out["finished_ms"] = job.finished_at.into();
    out
}
