//! Git blobs a history scan found clean, per repository and scan key (the rule-set
//! version and the options that change results), for incremental rescans.

use super::{Arg, Store, StoreError, fetch, now_ms};

impl Store {
    /// Blob ids (hex) remembered as clean for `repo` under `scan_key`.
    /// Cost: one indexed range read, one row per remembered blob.
    pub async fn remembered_blobs(&self, repo: &str, scan_key: &str) -> Result<Vec<String>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let rows: Vec<(String,)> = fetch!(
            &mut c,
            fetch_all,
            (String,),
            "SELECT blob_id FROM git_scanned_blobs WHERE repo = $1 AND scan_key = $2",
            repo,
            scan_key
        )?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Remembers `blobs` (hex ids) as clean for `repo` under `scan_key`, and forgets what
    /// was remembered for `repo` under any other key (rules changed: those blobs must be
    /// scanned again anyway). One transaction; remembering a blob twice is harmless.
    /// Cost: one multi-row insert per ~32k blobs.
    pub async fn remember_blobs(&self, repo: &str, scan_key: &str, blobs: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        super::execute_built(
            &mut c,
            "DELETE FROM git_scanned_blobs WHERE repo = $1 AND scan_key <> $2".to_string(),
            &[Arg::Text(Some(repo)), Arg::Text(Some(scan_key))],
        )
        .await?;
        let at = now_ms();
        for chunk in blobs.chunks(super::rows_per_statement(1, 3)) {
            let sql = format!(
                "INSERT INTO git_scanned_blobs (blob_id, repo, scan_key, scanned_at) VALUES {} \
                 ON CONFLICT (repo, scan_key, blob_id) DO NOTHING",
                super::placeholders(4, chunk.len(), 1, ", $1, $2, $3")
            );
            let mut args = Vec::with_capacity(3 + chunk.len());
            args.extend([Arg::Text(Some(repo)), Arg::Text(Some(scan_key)), Arg::Int(Some(at))]);
            args.extend(chunk.iter().map(|id| Arg::Text(Some(id))));
            super::execute_built(&mut c, sql, &args).await?;
        }
        tx.commit().await
    }
}
