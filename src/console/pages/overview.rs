//! `GET /console/`: keys disabled in the last 24 h and 7 days, leaks by source, the
//! outbox backlog and dead letters, the last scans (each part only for roles that may
//! read it).

use axum::extract::State;
use axum::response::Html;
use minijinja::context;
use minijinja::value::Serde;
use serde_json::Value;

use crate::access::Permission;
use crate::console::error::ConsoleError;
use crate::console::{ConsoleState, Operator, page};
use crate::store::{OutboxBacklog, now_ms};

const DAY_MS: i64 = 86_400_000;

/// How many scans the overview lists.
const LAST_SCANS: i64 = 5;

pub async fn show(State(console): State<ConsoleState>, operator: Operator) -> Result<Html<String>, ConsoleError> {
    let store = console.store();
    let now = now_ms();
    let (mut disabled_24h, mut disabled_7d, mut by_source, mut backlog) = (0, 0, Vec::new(), OutboxBacklog::default());
    if operator.role.allows(Permission::ReadLeaks) {
        disabled_24h = store.keys_disabled_since(now - DAY_MS).await?;
        disabled_7d = store.keys_disabled_since(now - 7 * DAY_MS).await?;
        by_source = store.leaks_by_source(now - 7 * DAY_MS).await?;
        backlog = store.outbox_backlog().await?;
    }
    let scans: Vec<Value> = if operator.role.allows(Permission::ReadScans) {
        store.scan_jobs(LAST_SCANS, None).await?.iter().map(|j| super::scans::view(j, false)).collect()
    } else {
        Vec::new()
    };
    let by_source: Vec<Value> =
        by_source.iter().map(|s| serde_json::json!({ "source": s.source, "leaks": s.leaks })).collect();
    page(
        &operator,
        "overview",
        "overview.html",
        context! {
            disabled_24h, disabled_7d,
            by_source => Serde(by_source),
            backlog => context! { pending => backlog.pending, dead => backlog.dead },
            scans => Serde(scans),
        },
    )
}
