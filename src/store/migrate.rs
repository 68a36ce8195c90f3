//! Embedded migrations, one set per backend (`migrations/sqlite`, `migrations/postgres`),
//! applied at start and by `revokd db migrate`.
//!
//! PostgreSQL: sqlx takes an advisory lock, so replicas starting together migrate once.
//! SQLite has no such lock; two processes creating a fresh database at the same moment
//! can collide, so a failed run is retried (each migration is one transaction, and the
//! retry sees what the winner applied).

use std::time::Duration;

use sqlx::migrate::Migrator;

use super::{Db, Store, StoreError, fetch};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Attempts at migrating a SQLite database before giving up (see the module doc).
const SQLITE_ATTEMPTS: u32 = 3;

impl Store {
    /// Applies every pending migration; returns the versions it applied (empty when the
    /// schema was up to date). Cost when up to date: two small queries.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let before = self.applied_migrations().await?;
        match &self.db {
            Db::Postgres(pool) => POSTGRES.run(pool).await?,
            Db::Sqlite { writer, .. } => {
                let mut attempt = 1;
                while let Err(e) = SQLITE.run(writer).await {
                    if attempt == SQLITE_ATTEMPTS {
                        return Err(e.into());
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
            }
        }
        let after = self.applied_migrations().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    /// Versions of the migrations recorded as applied (empty for a new database).
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let exists_sql = match &c {
            super::Conn::Sqlite(_) => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            super::Conn::Postgres(_) => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let (exists,): (i64,) = fetch!(&mut c, fetch_one, (i64,), exists_sql)?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64,)> =
            fetch!(&mut c, fetch_all, (i64,), "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }
}
