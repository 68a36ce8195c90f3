//! Counts for the console's overview page.

use super::{Store, StoreError, fetch};

/// Leaks seen since a time, for one source.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SourceCount {
    pub source: String,
    pub leaks: i64,
}

impl Store {
    /// How many `key.disabled` events the audit log holds since `since` (UTC ms): keys
    /// disabled then, whether or not they were restored later. Cost: one indexed count.
    pub async fn keys_disabled_since(&self, since: i64) -> Result<i64, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let (count,): (i64,) = fetch!(
            &mut pooled.conn(),
            fetch_one,
            (i64,),
            "SELECT COUNT(*) FROM audit_events WHERE event = 'key.disabled' AND at >= $1",
            since
        )?;
        Ok(count)
    }

    /// Leaks last seen since `since` (UTC ms), counted by source, largest first.
    pub async fn leaks_by_source(&self, since: i64) -> Result<Vec<SourceCount>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        Ok(fetch!(
            &mut pooled.conn(),
            fetch_all,
            SourceCount,
            "SELECT source, COUNT(*) AS leaks FROM leaks WHERE last_seen >= $1 \
             GROUP BY source ORDER BY COUNT(*) DESC, source",
            since
        )?)
    }
}
