//! `GET /console/audit`: the audit log, searchable by event id, description text,
//! actor, team, key, event name and time range, newest first, paginated by event id;
//! `GET /console/audit/export.jsonl|csv` export the same search (oldest first); the
//! chain's verification status is shown on every page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{field, number, query, time_text};
use crate::access::Permission;
use crate::console::error::ConsoleError;
use crate::console::{ConsoleState, Operator, page};
use crate::store::{AuditEvent, AuditFilter, AuditQuery, ChainStatus, StoreError, now_ms};

/// Events per page.
pub const AUDIT_PAGE: i64 = 50;

/// Most events one export holds (about 50 MB of JSON Lines); narrow the search for
/// more. `revokd audit` has no such limit.
pub const EXPORT_MAX: i64 = 100_000;

/// The search form, as typed (every field optional).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuditForm {
    id: Option<String>,
    q: Option<String>,
    actor: Option<String>,
    team: Option<String>,
    key: Option<String>,
    event: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Page cursor: events with a smaller id.
    before: Option<String>,
}

impl AuditForm {
    /// The store query, or 400 for a bad number or time, 404-free: an unknown team is
    /// a 400 naming it.
    async fn resolve(&self, console: &ConsoleState) -> Result<AuditQuery, ConsoleError> {
        let now = now_ms();
        let filter = AuditFilter {
            id: number(&self.id, "event id")?,
            event: field(&self.event),
            actor: field(&self.actor),
            team: field(&self.team),
            key: number(&self.key, "key id")?,
            q: field(&self.q),
            since: time_text(&self.since, "since", now)?,
            until: time_text(&self.until, "until", now)?,
            limit: None,
        };
        console.store().audit_query(&filter, now).await.map_err(|e| match e {
            crate::store::AuditFilterError::Store(StoreError::TeamNotFound(name)) => {
                ConsoleError::BadRequest(format!("no team named {name:?}"))
            }
            other => other.into(),
        })
    }

    /// The search as a query string (without the page cursor), for export and paging
    /// links; values are percent-encoded.
    fn query_string(&self) -> String {
        let fields = [
            ("id", &self.id),
            ("q", &self.q),
            ("actor", &self.actor),
            ("team", &self.team),
            ("key", &self.key),
            ("event", &self.event),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let pairs: Vec<(&str, String)> =
            fields.iter().filter_map(|(name, value)| field(value).map(|v| (*name, v))).collect();
        serde_urlencoded_pairs(&pairs)
    }
}

/// `a=1&b=x%20y` from pairs.
fn serde_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub async fn search(
    State(console): State<ConsoleState>,
    operator: Operator,
    q: Result<Query<AuditForm>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadAudit)?;
    let form = query(q)?;
    let search = form.resolve(&console).await?;
    let before = number(&form.before, "before")?;
    let mut events = console.store().audit_page(&search, before, AUDIT_PAGE + 1).await?;
    let more = events.len() as i64 > AUDIT_PAGE;
    events.truncate(AUDIT_PAGE as usize);
    let next = more.then(|| events.last().map(|e| e.id)).flatten();
    let (checked_at, status) = console.chain_status().await?;
    let chain = match status {
        ChainStatus::Intact { events, head } => json!({ "intact": true, "events": events, "head": head }),
        ChainStatus::Broken { event_id, reason } => {
            json!({ "intact": false, "event_id": event_id, "reason": reason.to_string() })
        }
    };
    let rows: Vec<Value> = events.iter().map(view).collect();
    let searched = form.query_string();
    page(
        &operator,
        "audit",
        "audit.html",
        context! {
            events => Serde(rows),
            f => Serde(&form),
            searched => searched,
            next => next,
            paged => before.is_some(),
            chain => Serde(chain),
            checked_at => checked_at,
            teams => Serde(console.store().teams().await?.into_iter().map(|t| t.name).collect::<Vec<_>>()),
        },
    )
}

/// The events of the search, oldest first, at most [`EXPORT_MAX`].
async fn export_events(
    console: &ConsoleState,
    operator: &Operator,
    q: Result<Query<AuditForm>, QueryRejection>,
) -> Result<Vec<AuditEvent>, ConsoleError> {
    operator.require(Permission::ReadAudit)?;
    let mut search = query(q)?.resolve(console).await?;
    search.limit = Some(EXPORT_MAX);
    Ok(console.store().audit_events(&search).await?)
}

/// `GET /console/audit/export.jsonl`: one JSON object per line, as `revokd audit
/// --format json` and `GET /v1/audit` show events.
pub async fn export_jsonl(
    State(console): State<ConsoleState>,
    operator: Operator,
    q: Result<Query<AuditForm>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let events = export_events(&console, &operator, q).await?;
    let mut body = String::new();
    for e in &events {
        body.push_str(&e.to_json().to_string());
        body.push('\n');
    }
    Ok(download(body, "application/x-ndjson", "audit.jsonl"))
}

/// CSV columns of the export.
const CSV_HEADER: &str = "id,at,event,actor,team,key_id,description,details,prev_hash,hash";

/// `GET /console/audit/export.csv`: RFC 4180 CSV with a header row.
pub async fn export_csv(
    State(console): State<ConsoleState>,
    operator: Operator,
    q: Result<Query<AuditForm>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let events = export_events(&console, &operator, q).await?;
    let mut body = String::from(CSV_HEADER);
    body.push_str("\r\n");
    for e in &events {
        let cells = [
            e.id.to_string(),
            crate::store::format_ms(e.at),
            e.event.clone(),
            e.actor.clone(),
            e.team.clone().unwrap_or_default(),
            e.key_id.map(|k| k.to_string()).unwrap_or_default(),
            e.description.clone(),
            e.details.clone(),
            e.prev_hash.clone(),
            e.hash.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        body.push_str(&line.join(","));
        body.push_str("\r\n");
    }
    Ok(download(body, "text/csv; charset=utf-8", "audit.csv"))
}

/// One CSV cell: quoted when it holds a comma, quote or line break (quotes doubled);
/// a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab) gets a
/// leading `'`.
fn csv_cell(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

fn download(body: String, content_type: &'static str, file: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// An event for the templates (times as UTC ms for the `when` macro).
pub fn view(e: &AuditEvent) -> Value {
    json!({
        "id": e.id, "at": e.at, "event": e.event, "actor": e.actor, "team": e.team,
        "key_id": e.key_id, "description": e.description, "hash": e.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(percent_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}
