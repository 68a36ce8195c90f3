//! Store benchmark: key lookup by hash and the revoke transaction (`report_leak`) on
//! SQLite and PostgreSQL.
//!
//! ```text
//! cargo run --release --example store_bench -- [--backend sqlite|postgres|both] [--n 10000]
//! ```
//!
//! Sets up one team with N keys, then times N lookups (`find_key_by_hash` of a random
//! stored key, HMAC included) and N revocations (`report_leak` of N distinct active
//! keys: lookup, disable, leak row, two audit events, one outbox row, one commit), each
//! call timed on its own, one at a time. Prints median and p99 per backend.
//! SQLite uses a file in `$TMPDIR` (synchronous = FULL, so each commit is an fsync:
//! the filesystem under `$TMPDIR` matters); PostgreSQL uses a fresh database on
//! `REVOKD_BENCH_PG` (default `postgres://postgres@127.0.0.1:5432`), dropped afterwards.

use std::time::{Duration, Instant};

use revokd::pepper::Pepper;
use revokd::secret::{Secret, redact};
use revokd::store::{KeyOrigin, LeakOutcome, LeakReport, NewKey, Store};
use sqlx::Connection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut backend = "both".to_string();
    let mut n = 10_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = args.next().ok_or("--backend needs a value")?,
            "--n" => n = args.next().ok_or("--n needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        if backend == "sqlite" || backend == "both" {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            bench("sqlite", &url, n).await?;
        }
        if backend == "postgres" || backend == "both" {
            let server =
                std::env::var("REVOKD_BENCH_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!("revokd_bench_{:08x}", getrandom::u32()?);
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
            let result = bench("postgres", &format!("{server}/{name}"), n).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).execute(&mut admin).await?;
            result?;
        }
        Ok(())
    })
}

async fn bench(name: &str, url: &str, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(url).await?;
    let pepper = Pepper::from_bytes(b"benchmark-pepper-of-thirty-two-b".to_vec());
    store.create_team("bench", &["owner@example.com".into()], &[], "bench").await?;
    let tokens: Vec<String> = (0..n).map(|i| format!("xai-{i:0>80}")).collect();
    let keys: Vec<NewKey> = tokens
        .iter()
        .map(|t| NewKey { key_hash: pepper.key_hash(t), redacted: redact(t, &["xai-".to_string()]) })
        .collect();
    let setup = Instant::now();
    for chunk in keys.chunks(1000) {
        store.add_keys("bench", "xai_api_key", chunk, KeyOrigin::Imported, "bench").await?;
    }
    eprintln!("{name}: stored {n} keys in {:.1?}", setup.elapsed());

    let mut lookups = Vec::with_capacity(n);
    for i in 0..n {
        let token = &tokens[(i * 7919) % n];
        let start = Instant::now();
        let found = store.find_key_by_hash(&pepper.key_hash(token)).await?;
        lookups.push(start.elapsed());
        assert!(found.is_some(), "stored key not found");
    }

    let mut revokes = Vec::with_capacity(n);
    for token in &tokens {
        let report = LeakReport::new(
            &Secret::new(token.clone()),
            &pepper,
            "xai_api_key",
            "benchmark",
            Some("https://example.com/leak".into()),
            "bench",
        );
        let start = Instant::now();
        let outcome = store.report_leak(&report).await?;
        revokes.push(start.elapsed());
        assert!(matches!(outcome, LeakOutcome::DisabledNow(_)), "{outcome:?}");
    }
    println!(
        "{name:<8} key lookup: median {:>8.1?} p99 {:>8.1?} | revoke transaction: median {:>8.1?} p99 {:>8.1?} (n = {n})",
        percentile(&mut lookups, 50),
        percentile(&mut lookups, 99),
        percentile(&mut revokes, 50),
        percentile(&mut revokes, 99),
    );
    store.close().await;
    Ok(())
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() - 1) * p / 100]
}
