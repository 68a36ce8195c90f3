//! Webhook deliveries already handled (`X-GitHub-Delivery`), so replays are ignored.

use super::{Store, StoreError, execute, fetch, now_ms};

impl Store {
    /// True when delivery `id` was recorded. Cost: one primary-key read.
    pub async fn delivery_seen(&self, id: &str) -> Result<bool, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let row: Option<(i64,)> = fetch!(
            &mut c,
            fetch_optional,
            (i64,),
            "SELECT CAST(1 AS BIGINT) FROM webhook_deliveries WHERE delivery_id = $1",
            id
        )?;
        Ok(row.is_some())
    }

    /// Records a handled delivery; recording the same id again changes nothing.
    pub async fn record_delivery(&self, id: &str, event: &str, action: &str) -> Result<(), StoreError> {
        let mut pooled = self.db.acquire_writer().await?;
        let mut c = pooled.conn();
        execute!(
            &mut c,
            "INSERT INTO webhook_deliveries (delivery_id, event, action, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (delivery_id) DO NOTHING",
            id,
            event,
            action,
            now_ms(),
        )?;
        Ok(())
    }
}
