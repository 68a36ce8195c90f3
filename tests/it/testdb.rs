//! Test databases on both backends (a fresh one per test), and a runner for the real
//! `revokd` binary configured to use one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use revokd::pepper::Pepper;
use revokd::store::{Db, Store};
use sqlx::Connection;

/// The two store backends every store test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Server for the PostgreSQL tests (no database name: tests create their own).
fn pg_server() -> String {
    std::env::var("REVOKD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh, empty database that is removed when dropped.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                TestDb { url: format!("sqlite://{}", dir.path().join("revokd.db").display()), dir, pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("revokd_test_{:016x}", getrandom::u64().expect("random"));
                let admin = format!("{}/postgres", pg_server());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is needed for the store tests (set REVOKD_TEST_PG): {e}")
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                TestDb { url: format!("{}/{name}", pg_server()), dir, pg_name: Some(name) }
            }
        }
    }

    /// [`TestDb::new`] from synchronous code.
    pub fn blocking(backend: Backend) -> TestDb {
        runtime().block_on(TestDb::new(backend))
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.url).await.expect("open store")
    }

    /// The SQLite database file (None on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.pg_name.is_none().then(|| self.dir.path().join("revokd.db"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop may run inside a test's runtime: use a thread with its own.
        let admin = format!("{}/postgres", pg_server());
        let _ = std::thread::spawn(move || {
            runtime().block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            })
        })
        .join();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Runs raw SQL on the store's database (tests only: tampering, back-dating).
pub async fn raw_sql(store: &Store, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match store.db() {
        Db::Sqlite { writer, .. } => sqlx::raw_sql(sql).execute(writer).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("raw SQL failed: {e}"));
}

/// Like [`raw_sql`] but returns the error message instead of panicking.
pub async fn try_raw_sql(store: &Store, sql: &str) -> Result<(), String> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match store.db() {
        Db::Sqlite { writer, .. } => sqlx::raw_sql(sql).execute(writer).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
    }
    .map_err(|e| e.to_string())
}

/// Drops the append-only triggers, as an attacker with database access could.
pub async fn drop_audit_triggers(store: &Store) {
    match store.db() {
        Db::Sqlite { .. } => {
            raw_sql(store, "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete").await
        }
        Db::Postgres(_) => {
            raw_sql(
                store,
                "DROP TRIGGER audit_events_no_update ON audit_events; DROP TRIGGER audit_events_no_truncate ON audit_events",
            )
            .await
        }
    }
}

/// A fixed pepper for library-level tests.
pub fn pepper() -> Pepper {
    Pepper::from_bytes(b"integration-test-pepper-32-bytes".to_vec())
}

/// A valid xai_api_key token (random).
pub fn xai_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 80];
    getrandom::fill(&mut bytes).expect("random");
    let body: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("xai-{body}")
}

/// Generates `#[tokio::test]`s named `sqlite::NAME` and `postgres::NAME` calling
/// `NAME(Backend)` from the enclosing module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testdb::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testdb::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Like [`both_backends`] for synchronous tests (CLI tests that run the binary).
#[macro_export]
macro_rules! both_backends_sync {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::testdb::Backend::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::testdb::Backend::Postgres)
                }
            )*
        }
    };
}

/// The result of one `revokd` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Asserts exit `code` and that stderr mentions `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(self.stderr.contains(needle), "stderr should mention {needle:?}:\n{}", self.stderr);
    }
}

/// The `revokd` binary configured for one test database, in its own directory, with an
/// explicit config file so that no system config leaks in.
pub struct Revokd {
    pub db: TestDb,
    pub config: PathBuf,
}

impl Revokd {
    pub fn new(backend: Backend) -> Revokd {
        let db = TestDb::blocking(backend);
        let config = db.dir.path().join("revokd.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = {:?}\n[keys]\npepper_file = {:?}\n",
                db.url,
                db.dir.path().join("revokd.pepper").display().to_string()
            ),
        )
        .expect("write config");
        Revokd { db, config }
    }

    pub fn dir(&self) -> &Path {
        self.db.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_revokd"));
        // The config file comes through REVOKD_CONFIG so a test can still pass --config.
        cmd.args(args)
            .current_dir(self.dir())
            .env("USER", "tester")
            .env("REVOKD_CONFIG", &self.config)
            .env_remove("REVOKD_DATABASE_URL")
            .env_remove("REVOKD_KEYS_PEPPER_FILE")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run revokd"))
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn revokd");
        child.stdin.take().expect("piped stdin").write_all(input.as_bytes()).expect("write stdin");
        Run::from(child.wait_with_output().expect("wait for revokd"))
    }
}
