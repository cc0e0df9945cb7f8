//! Group commit: many callers that each need "my write is on disk" share one sled flush.
//!
//! A caller's write is already committed to sled's log when it asks, so any flush that
//! *starts* after the request covers it. The coalescer runs at most one flush at a time; a
//! caller that arrives while a flush is running waits for the next one, which then covers
//! everybody who arrived meanwhile. Under load the number of flushes tracks the disk's
//! speed, not the request rate.
//!
//! Flushes run on a tokio blocking thread with sled's synchronous `flush`, never with
//! `flush_async`: that one runs on sled's own small thread pool, and when every pool thread
//! is blocked in a flush waiting behind a transaction, the pool cannot write the buffer the
//! flushes wait for (sled 0.34 deadlocks under concurrent `flush_async` + transactions).

use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What a flush round ended with: its number, and the error text if it failed.
type Round = (u64, Option<String>);

struct Rounds {
    /// Rounds started so far; the running one (if any) is number `started`.
    started: u64,
    /// The highest round number somebody waits for.
    requested: u64,
    running: bool,
}

/// Runs flushes for one store. Cheap to clone; clones share the rounds.
#[derive(Clone)]
pub struct Coalescer {
    rounds: Arc<Mutex<Rounds>>,
    done_tx: Arc<watch::Sender<Round>>,
    flushes: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Self::new()
    }
}

impl Coalescer {
    pub fn new() -> Self {
        Self {
            rounds: Arc::new(Mutex::new(Rounds {
                started: 0,
                requested: 0,
                running: false,
            })),
            done_tx: Arc::new(watch::channel((0, None)).0),
            flushes: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// How many flushes ran (for tests and `/metrics`).
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a flush made outside the rounds (the grouped writer's own).
    pub fn count_flush(&self) {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rounds> {
        self.rounds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once a flush that started after this call has finished. `flush` is what one
    /// round runs (sled's blocking flush); it must be cheap to clone into a blocking thread.
    pub async fn barrier<F>(&self, flush: F) -> Result<(), String>
    where
        F: Fn() -> Result<(), String> + Clone + Send + Sync + 'static,
    {
        // Subscribe before reading the rounds, so a round finishing in between is seen.
        let mut done = self.done_tx.subscribe();
        let target = {
            let mut r = self.lock();
            // A running round may have started before our write: we need the next one.
            let target = r.started + 1;
            r.requested = r.requested.max(target);
            if !r.running {
                r.running = true;
                tokio::spawn(self.clone().run(flush));
            }
            target
        };
        let (_, error) = done
            .wait_for(|(finished, _)| *finished >= target)
            .await
            .map_err(|_| "the store's flusher stopped".to_string())?
            .clone();
        // A later round that succeeded also covers our write; a failed latest round may
        // not, so report it.
        match error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Runs rounds while anybody waits for one.
    async fn run<F>(self, flush: F)
    where
        F: Fn() -> Result<(), String> + Clone + Send + Sync + 'static,
    {
        loop {
            let round = {
                let mut r = self.lock();
                if r.requested <= r.started {
                    r.running = false;
                    return;
                }
                r.started += 1;
                r.started
            };
            let f = flush.clone();
            let result = tokio::task::spawn_blocking(f)
                .await
                .unwrap_or_else(|e| Err(format!("flush thread failed: {e}")));
            self.flushes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = &result {
                tracing::error!(error = %e, round, "store flush failed");
            }
            self.done_tx.send_replace((round, result.err()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_flushes() {
        let c = Coalescer::new();
        let calls = Arc::new(AtomicU64::new(0));
        let flush = {
            let calls = calls.clone();
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                // A slow disk: waiters pile up behind the running flush.
                std::thread::sleep(Duration::from_millis(20));
                Ok(())
            }
        };
        let waiters: Vec<_> = (0..200)
            .map(|_| {
                let (c, f) = (c.clone(), flush.clone());
                tokio::spawn(async move { c.barrier(f).await })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), Ok(()));
        }
        let n = calls.load(Ordering::SeqCst);
        assert!((1..=3).contains(&n), "{n} flushes for 200 waiters");
        assert_eq!(c.flush_count(), n);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_never_rides_a_flush_that_started_before_it() {
        let c = Coalescer::new();
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let entered_tx = Arc::new(Mutex::new(entered_tx));
        let calls = Arc::new(AtomicU64::new(0));
        let flush = {
            let calls = calls.clone();
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                let _ = entered_tx.lock().unwrap().send(());
                let _ = release_rx.lock().unwrap().recv();
                Ok(())
            }
        };
        let first = tokio::spawn({
            let (c, f) = (c.clone(), flush.clone());
            async move { c.barrier(f).await }
        });
        // Round 1 is running (blocked) when the second waiter arrives.
        tokio::task::spawn_blocking(move || entered_rx.recv().unwrap())
            .await
            .unwrap();
        let second = tokio::spawn({
            let (c, f) = (c.clone(), flush.clone());
            async move { c.barrier(f).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        release_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        // Round 2 must run for the second waiter; it blocks until released.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !second.is_finished(),
            "second waiter rode the earlier flush"
        );
        release_tx.send(()).unwrap();
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_flush_is_reported_to_its_waiters() {
        let c = Coalescer::new();
        let r = c.barrier(|| Err("disk full".to_string())).await;
        assert_eq!(r, Err("disk full".to_string()));
        assert_eq!(c.barrier(|| Ok(())).await, Ok(()));
    }
}
