//! Leak records for people: filtered lists with the key each leak hit (the console's
//! leaks page and a key's history).

use super::{Store, StoreError, fetch};

/// Filters for [`Store::leaks`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LeakFilter {
    /// Team name (leaks of unknown tokens have no team and never match).
    pub team: Option<String>,
    /// Rule id, e.g. `xai_api_key`.
    pub token_type: Option<String>,
    /// Door: `github_partner`, `github_webhook`, `scan`, `api`, …
    pub source: Option<String>,
    pub key_id: Option<i64>,
    /// Last seen at or after (UTC ms).
    pub since: Option<i64>,
    /// First seen at or before (UTC ms).
    pub until: Option<i64>,
}

/// A leak with the key it hit (if the token was one of ours).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeakRecord {
    pub id: i64,
    pub key_id: Option<i64>,
    pub team: Option<String>,
    /// The key's redacted form; never the token.
    pub redacted: Option<String>,
    /// The key's status now (`None`: not a key of ours).
    pub key_status: Option<String>,
    pub token_type: String,
    pub source: String,
    pub url: Option<String>,
    pub reporter: String,
    pub sightings: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

const SEARCH_LEAKS: &str = concat!(
    "SELECT l.id, l.key_id, t.name AS team, k.redacted, k.status AS key_status, l.token_type, l.source, ",
    "l.url, l.reporter, l.sightings, l.first_seen, l.last_seen ",
    "FROM leaks l LEFT JOIN api_keys k ON k.id = l.key_id LEFT JOIN teams t ON t.id = k.team_id ",
    "WHERE ($1 IS NULL OR t.name = $1) ",
    "AND ($2 IS NULL OR l.token_type = $2) ",
    "AND ($3 IS NULL OR l.source = $3) ",
    "AND ($4 IS NULL OR l.key_id = $4) ",
    "AND ($5 IS NULL OR l.last_seen >= $5) ",
    "AND ($6 IS NULL OR l.first_seen <= $6) ",
    "ORDER BY l.last_seen DESC, l.id DESC LIMIT $7"
);

impl Store {
    /// At most `limit` leaks matching `filter`, most recently seen first.
    /// Cost: one query; the time bounds use the `last_seen` index.
    pub async fn leaks(&self, filter: &LeakFilter, limit: i64) -> Result<Vec<LeakRecord>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        Ok(fetch!(
            &mut pooled.conn(),
            fetch_all,
            LeakRecord,
            SEARCH_LEAKS,
            filter.team.as_deref(),
            filter.token_type.as_deref(),
            filter.source.as_deref(),
            filter.key_id,
            filter.since,
            filter.until,
            limit,
        )?)
    }

    /// The distinct token types and sources of stored leaks, sorted (filter choices).
    pub async fn leak_facets(&self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let types: Vec<(String,)> =
            fetch!(&mut c, fetch_all, (String,), "SELECT DISTINCT token_type FROM leaks ORDER BY token_type")?;
        let sources: Vec<(String,)> =
            fetch!(&mut c, fetch_all, (String,), "SELECT DISTINCT source FROM leaks ORDER BY source")?;
        Ok((types.into_iter().map(|(t,)| t).collect(), sources.into_iter().map(|(s,)| s).collect()))
    }
}
