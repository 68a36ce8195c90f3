//! Audit filters as people type them (the `revokd audit` flags and the
//! `GET /v1/audit` query string), resolved into an [`AuditQuery`].

use serde::Deserialize;

use super::{AuditQuery, Store, StoreError, parse_time};

/// Filters in text form; `None` matches everything. Times are RFC 3339 or an age
/// such as `24h` (see [`parse_time`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub id: Option<i64>,
    pub event: Option<String>,
    pub actor: Option<String>,
    /// A team name.
    pub team: Option<String>,
    pub key: Option<i64>,
    /// Case-insensitive substring of the description.
    pub q: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<i64>,
}

/// Why a filter cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AuditFilterError {
    #[error("{field}: {message}")]
    BadTime { field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Resolves `filter` (times relative to `now_ms`, team name to id) into a query.
    /// Cost: one team lookup when a team is named.
    pub async fn audit_query(&self, filter: &AuditFilter, now_ms: i64) -> Result<AuditQuery, AuditFilterError> {
        let time = |text: &Option<String>, field: &'static str| {
            text.as_deref()
                .map(|t| parse_time(t, now_ms).map_err(|message| AuditFilterError::BadTime { field, message }))
                .transpose()
        };
        let team_id = match &filter.team {
            Some(name) => Some(self.team_id(name).await?),
            None => None,
        };
        Ok(AuditQuery {
            id: filter.id,
            event: filter.event.clone(),
            actor: filter.actor.clone(),
            team_id,
            key_id: filter.key,
            grep: filter.q.clone(),
            since: time(&filter.since, "since")?,
            until: time(&filter.until, "until")?,
            limit: filter.limit,
        })
    }
}
