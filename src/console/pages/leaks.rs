//! `GET /console/leaks?team=&type=&source=&since=&until=`: leaks, most recently seen
//! first, each with the redacted key, where it leaked, sightings and what was done.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{field, query, time_ms};
use crate::access::Permission;
use crate::console::error::ConsoleError;
use crate::console::{ConsoleState, Operator, page};
use crate::store::{LeakFilter, LeakRecord, now_ms};

/// Most leaks one page lists (narrow the filters to see older ones).
pub const LEAK_PAGE: i64 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct LeakQuery {
    team: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    source: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn list(
    State(console): State<ConsoleState>,
    operator: Operator,
    q: Result<Query<LeakQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    operator.require(Permission::ReadLeaks)?;
    let q = query(q)?;
    let now = now_ms();
    let filter = LeakFilter {
        team: field(&q.team),
        token_type: field(&q.token_type),
        source: field(&q.source),
        key_id: None,
        since: time_ms(&q.since, "since", now)?,
        until: time_ms(&q.until, "until", now)?,
    };
    let store = console.store();
    let leaks = store.leaks(&filter, LEAK_PAGE).await?;
    let (types, sources) = store.leak_facets().await?;
    let teams: Vec<String> = store.teams().await?.into_iter().map(|t| t.name).collect();
    let rows: Vec<Value> = leaks.iter().map(view).collect();
    page(
        &operator,
        "leaks",
        "leaks.html",
        context! {
            leaks => Serde(rows),
            limit => LEAK_PAGE,
            teams => Serde(teams), types => Serde(types), sources => Serde(sources),
            f => context! {
                team => field(&q.team), kind => field(&q.token_type), source => field(&q.source),
                since => field(&q.since), until => field(&q.until),
            },
        },
    )
}

/// A leak for the templates: `link` only for http(s) URLs (never `javascript:`), and
/// `outcome`, what revokd did, from the key's status now.
pub fn view(leak: &LeakRecord) -> Value {
    let link = leak.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    let outcome = match leak.key_status.as_deref() {
        None => "not a key of ours",
        Some("disabled") => "key disabled",
        Some("deleted") => "key deleted",
        Some("active") => "key restored (active)",
        Some(_) => "key status unknown",
    };
    json!({
        "id": leak.id, "key_id": leak.key_id, "team": leak.team, "redacted": leak.redacted,
        "key_status": leak.key_status.as_deref().unwrap_or("unknown"), "outcome": outcome,
        "token_type": leak.token_type, "source": leak.source, "url": leak.url, "link": link,
        "reporter": leak.reporter, "sightings": leak.sightings,
        "first_seen": leak.first_seen, "last_seen": leak.last_seen,
    })
}
