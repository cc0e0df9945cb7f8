//! Grouped, durable transactions: concurrent callers' operations are applied together in one
//! sled transaction, made durable with one flush, and each caller gets its own result.
//!
//! sled runs one transaction at a time process-wide (and none while a flush holds its
//! lock), so per-request transactions serialise behind each other and block the async
//! worker threads that run them. Here a single writer task takes every queued operation,
//! runs them in one transaction on a blocking thread, then waits for one flush: the async
//! workers never block on the store, and the fixed cost of a transaction and a flush is
//! shared by everything that arrived meanwhile.

use super::{Store, StoreError, Tx, TxResult};
use chrono::{DateTime, Utc};
use std::any::Any;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Output = Box<dyn Any + Send>;
type Op = Box<dyn Fn(&Tx<'_>) -> TxResult<Output> + Send + Sync>;

/// At most this many operations share a transaction, so one batch cannot grow without
/// bound under a flood.
pub const MAX_BATCH: usize = 512;

struct Pending {
    now: DateTime<Utc>,
    op: Op,
    done: oneshot::Sender<Result<Output, StoreError>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    running: bool,
}

/// The queue for one store. Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct Batcher {
    queue: Arc<Mutex<Queue>>,
    batches: Arc<std::sync::atomic::AtomicU64>,
}

impl Batcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Transactions run so far (for tests).
    pub fn batch_count(&self) -> u64 {
        self.batches.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs each operation in one shared transaction; if that fails, each on its own, so one
/// bad operation cannot fail the others.
fn apply(store: &Store, batch: &[Pending]) -> Vec<Result<Output, StoreError>> {
    let Some(first) = batch.first() else {
        return Vec::new();
    };
    let together = store.transact(first.now, |tx| {
        batch
            .iter()
            .map(|p| (p.op)(&Tx { now: p.now, ..*tx }))
            .collect::<TxResult<Vec<Output>>>()
    });
    match together {
        Ok(outputs) => outputs.into_iter().map(Ok).collect(),
        Err(_) => batch
            .iter()
            .map(|p| store.transact(p.now, |tx| (p.op)(tx)))
            .collect(),
    }
}

impl Store {
    /// Runs `f` as one atomic transaction (like [`Store::transact`]) and returns once its
    /// writes are on disk. Concurrent callers share the transaction and the flush. `f` may
    /// run more than once, so it must not have side effects outside the transaction.
    pub async fn transact_durable<T, F>(&self, now: DateTime<Utc>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> TxResult<T> + Send + Sync + 'static,
    {
        let (done, result) = oneshot::channel();
        let op: Op = Box::new(move |tx| f(tx).map(|v| Box::new(v) as Output));
        let start = {
            let mut q = self.batcher.lock();
            q.pending.push(Pending { now, op, done });
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            tokio::spawn(self.clone().write_batches());
        }
        let output = result
            .await
            .map_err(|_| StoreError::Flush("the store's writer stopped".into()))??;
        output
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StoreError::Codec("grouped transaction returned the wrong type".into()))
    }

    /// The writer: one batch at a time while anything is queued.
    async fn write_batches(self) {
        loop {
            let batch: Vec<Pending> = {
                let mut q = self.batcher.lock();
                if q.pending.is_empty() {
                    q.running = false;
                    return;
                }
                let n = q.pending.len().min(MAX_BATCH);
                q.pending.drain(..n).collect()
            };
            let store = self.clone();
            // The flush runs on the same blocking thread right after the transaction: sled
            // lets neither run during the other, so handing the flush to another thread only
            // added a wake-up between them, and the next batch waits for both.
            let applied = tokio::task::spawn_blocking(move || {
                let results = apply(&store, &batch);
                let flushed = if results.iter().any(|r| r.is_ok()) {
                    // A panicking flush must still answer these callers (with an error),
                    // not lose the batch with the task.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.flush_now()))
                        .unwrap_or_else(|_| Err("the store's flush panicked".to_string()))
                } else {
                    Ok(())
                };
                (batch, results, flushed)
            })
            .await;
            let Ok((batch, results, flushed)) = applied else {
                // The blocking task panicked: its callers see the writer stop.
                continue;
            };
            self.batcher
                .batches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for (p, r) in batch.into_iter().zip(results) {
                let r = match (&flushed, r) {
                    (Err(e), Ok(_)) => Err(StoreError::Flush(e.clone())),
                    (_, r) => r,
                };
                let _ = p.done.send(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{verify_chain, AuditEntry};
    use crate::store::StoreError;
    use sled::transaction::ConflictableTransactionError;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_transactions_and_each_gets_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let tasks: Vec<_> = (0..300u64)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.transact_durable(Utc::now(), move |tx| {
                        tx.audit(
                            AuditEntry::system("grouped").detail(serde_json::json!({ "i": i })),
                        )
                        .map(|seq| (i, seq))
                    })
                    .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap().unwrap());
        }
        let records = s.audit_records().unwrap();
        let mut seqs = Vec::new();
        for (i, seq) in answers {
            let record = &records[seq as usize - 1];
            assert_eq!(
                record.entry.detail["i"], i,
                "caller {i} got another's result"
            );
            seqs.push(seq);
        }
        seqs.sort();
        assert_eq!(seqs, (1..=300).collect::<Vec<u64>>());
        assert_eq!(verify_chain(&records), Ok(300));
        let batches = s.batcher.batch_count();
        assert!(batches < 150, "{batches} transactions for 300 callers");
        assert!(s.flush_count() <= batches);
    }

    #[tokio::test]
    async fn a_failing_operation_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        // Both are queued before the writer runs (single-threaded runtime), so they share
        // a batch and the shared transaction fails.
        let (good, bad) = tokio::join!(
            s.transact_durable(Utc::now(), |tx| tx.audit(AuditEntry::system("good"))),
            s.transact_durable(Utc::now(), |tx| {
                tx.audit(AuditEntry::system("bad"))?;
                Err::<(), _>(ConflictableTransactionError::Abort("refused".to_string()))
            })
        );
        assert_eq!(s.batcher.batch_count(), 1);
        assert!(matches!(bad, Err(StoreError::Codec(m)) if m == "refused"));
        assert_eq!(good.unwrap(), 1);
        let kinds: Vec<String> = s
            .audit_records()
            .unwrap()
            .into_iter()
            .map(|r| r.entry.kind)
            .collect();
        assert_eq!(kinds, vec!["good"]);
    }

    #[tokio::test]
    async fn the_write_is_on_disk_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.transact_durable(Utc::now(), |tx| tx.audit(AuditEntry::system("kept")))
            .await
            .unwrap();
        // What the files hold while the store is still open: what a crash would leave.
        let copy = tempfile::tempdir().unwrap();
        crate::store::tests::copy_dir(dir.path(), copy.path());
        let kinds: Vec<String> = Store::open(copy.path())
            .unwrap()
            .audit_records()
            .unwrap()
            .into_iter()
            .map(|r| r.entry.kind)
            .collect();
        assert_eq!(kinds, vec!["kept"]);
    }
}
