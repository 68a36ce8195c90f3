//! An in-memory key store for HTTP-layer tests (the SQL store has its own tests).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use revokd::http::{DaemonStore, StoreResult};
use revokd::revoke::{LeakRecord, LeakStore, StoreFailure, StoreFuture, StoreOutcome};

#[derive(Default)]
pub struct MemoryStore {
    pub inner: Mutex<Inner>,
}

#[derive(Default)]
pub struct Inner {
    /// key_hash → (key id, status)
    pub keys: HashMap<String, (i64, &'static str)>,
    pub leaks: Vec<LeakRecord>,
    pub outbox: usize,
    pub deliveries: HashSet<String>,
    pub down: bool,
}

impl MemoryStore {
    pub fn add_key(&self, key_hash: String, status: &'static str) -> i64 {
        let mut inner = self.inner.lock().unwrap();
        let id = inner.keys.len() as i64 + 1;
        inner.keys.insert(key_hash, (id, status));
        id
    }
}

fn down() -> StoreFailure {
    StoreFailure::Unavailable(Box::new(std::io::Error::other("database is down")))
}

impl LeakStore for MemoryStore {
    fn report_leaks<'a>(&'a self, leaks: &'a [LeakRecord]) -> StoreFuture<'a> {
        Box::pin(async move {
            let mut inner = self.inner.lock().unwrap();
            if inner.down {
                return Err(down());
            }
            let mut outcomes = Vec::new();
            for leak in leaks {
                inner.leaks.push(leak.clone());
                let outcome = match inner.keys.get_mut(&leak.key_hash) {
                    None => StoreOutcome::UnknownKey,
                    Some((id, status)) => match *status {
                        "active" => {
                            *status = "disabled";
                            StoreOutcome::DisabledNow { key_id: *id }
                        }
                        "disabled" => StoreOutcome::AlreadyDisabled { key_id: *id },
                        _ => StoreOutcome::Deleted { key_id: *id },
                    },
                };
                if matches!(outcome, StoreOutcome::DisabledNow { .. }) {
                    inner.outbox += 1;
                }
                outcomes.push(outcome);
            }
            Ok(outcomes)
        })
    }
}

impl DaemonStore for MemoryStore {
    fn ping(&self) -> StoreResult<'_, ()> {
        Box::pin(async move { if self.inner.lock().unwrap().down { Err(down()) } else { Ok(()) } })
    }

    fn delivery_seen<'a>(&'a self, id: &'a str) -> StoreResult<'a, bool> {
        Box::pin(async move { Ok(self.inner.lock().unwrap().deliveries.contains(id)) })
    }

    fn record_delivery<'a>(&'a self, id: &'a str, _event: &'a str, _action: &'a str) -> StoreResult<'a, ()> {
        Box::pin(async move {
            self.inner.lock().unwrap().deliveries.insert(id.to_owned());
            Ok(())
        })
    }
}
