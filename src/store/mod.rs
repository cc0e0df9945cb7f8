//! The embedded store (sled). All sled access lives in this module so the engine can be
//! swapped. State changes happen in [`Store::transact`], which also appends the audit record
//! and any follow-up job, so they land together or not at all.

pub mod alerting;
pub mod audit;
pub mod audit_export;
pub mod batch;
pub mod commit;
pub mod event_index;
pub mod events;
pub mod governance;
pub mod jobs;
pub mod llm;
pub mod queue;
pub mod subscriptions;

use crate::incidents::Incident;
use crate::remediation::proposal::Proposal;
use audit::{AuditEntry, AuditRecord, GENESIS_HASH};
use chrono::{DateTime, Utc};
use events::{EncodedEvent, StoredEvent};
use jobs::{due_upper_bound, job_key, Job, JobKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored record is unreadable: {0}")]
    Codec(String),
    #[error("storage error: flushing to disk failed: {0}")]
    Flush(String),
}

impl From<TransactionError<String>> for StoreError {
    fn from(e: TransactionError<String>) -> Self {
        match e {
            TransactionError::Abort(msg) => StoreError::Codec(msg),
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

pub type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

const META_AUDIT_SEQ: &[u8] = b"audit_seq";
const META_AUDIT_HEAD: &[u8] = b"audit_head";
/// The last record's time (RFC 3339, nanoseconds).
const META_AUDIT_AT: &[u8] = b"audit_at";

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    events: sled::Tree,
    event_index: sled::Tree,
    jobs: sled::Tree,
    proposals: sled::Tree,
    incidents: sled::Tree,
    audit: sled::Tree,
    meta: sled::Tree,
    subscriptions: sled::Tree,
    alerting: sled::Tree,
    governance: sled::Tree,
    dead_jobs: sled::Tree,
    commit: commit::Coalescer,
    batcher: batch::Batcher,
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// sled's page cache, in bytes. sled's own default (1 GiB) lets the cache grow with the
    /// data; records are read back rarely here, so a small cache costs little speed.
    pub cache_bytes: u64,
}

/// `server.cache_mb` when the config does not say.
pub const DEFAULT_CACHE_MB: u64 = 16;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_bytes: DEFAULT_CACHE_MB * 1024 * 1024,
        }
    }
}

/// The view of the store inside one transaction.
pub struct Tx<'a> {
    events: &'a TransactionalTree,
    event_index: &'a TransactionalTree,
    jobs: &'a TransactionalTree,
    proposals: &'a TransactionalTree,
    incidents: &'a TransactionalTree,
    audit: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    subscriptions: &'a TransactionalTree,
    alerting: &'a TransactionalTree,
    governance: &'a TransactionalTree,
    dead_jobs: &'a TransactionalTree,
    pub now: DateTime<Utc>,
}

fn encode<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| ConflictableTransactionError::Abort(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> TxResult<T> {
    serde_json::from_slice(bytes).map_err(|e| ConflictableTransactionError::Abort(e.to_string()))
}

fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Codec(e.to_string()))
}

impl Tx<'_> {
    fn get<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
        match tree.get(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The stored event already indexed under `index_key` ([`event_index::key`]).
    pub fn event_id_at(&self, index_key: &[u8]) -> TxResult<Option<u64>> {
        Ok(self
            .event_index
            .get(index_key)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    pub fn new_id(&self) -> TxResult<u64> {
        Ok(self.meta.generate_id()? + 1)
    }

    /// Stores `event` and indexes it under `index_key`, the key its redeliveries look up
    /// ([`Tx::event_id_at`]).
    pub fn insert_event(&self, id: u64, event: &EncodedEvent, index_key: &[u8]) -> TxResult<()> {
        self.events.insert(&id.to_be_bytes(), event.bytes(id))?;
        self.event_index.insert(index_key, &id.to_be_bytes())?;
        Ok(())
    }

    pub fn event(&self, id: u64) -> TxResult<Option<StoredEvent>> {
        Self::get(self.events, &id.to_be_bytes())
    }

    pub fn proposal(&self, id: &str) -> TxResult<Option<Proposal>> {
        Self::get(self.proposals, id.as_bytes())
    }

    pub fn put_proposal(&self, p: &Proposal) -> TxResult<()> {
        self.proposals.insert(p.id.as_bytes(), encode(p)?)?;
        Ok(())
    }

    pub fn incident(&self, id: &str) -> TxResult<Option<Incident>> {
        Self::get(self.incidents, id.as_bytes())
    }

    pub fn put_incident(&self, i: &Incident) -> TxResult<()> {
        self.incidents.insert(i.id.as_bytes(), encode(i)?)?;
        Ok(())
    }

    pub fn enqueue(&self, kind: JobKind, due_at: DateTime<Utc>) -> TxResult<u64> {
        let id = self.new_id()?;
        let job = Job {
            id,
            due_at,
            created_at: self.now,
            attempts: 0,
            last_error: None,
            claimed: false,
            throttled: 0,
            kind,
        };
        self.jobs.insert(&job_key(due_at, id), encode(&job)?)?;
        Ok(id)
    }

    pub fn enqueue_now(&self, kind: JobKind) -> TxResult<u64> {
        self.enqueue(kind, self.now)
    }

    /// Removes a finished job. Returns false if it was already gone (someone else finished it).
    pub fn complete_job(&self, job: &Job) -> TxResult<bool> {
        Ok(self.jobs.remove(&job_key(job.due_at, job.id))?.is_some())
    }

    pub fn reschedule_job(
        &self,
        job: &Job,
        due_at: DateTime<Utc>,
        error: String,
        count_attempt: bool,
    ) -> TxResult<()> {
        self.jobs.remove(&job_key(job.due_at, job.id))?;
        let mut next = job.clone();
        next.due_at = due_at;
        next.claimed = false;
        if count_attempt {
            next.attempts += 1;
        } else {
            next.throttled += 1;
        }
        next.last_error = Some(error);
        self.jobs.insert(&job_key(due_at, job.id), encode(&next)?)?;
        Ok(())
    }

    /// Raw access for the typed helpers in `store::subscriptions`.
    pub fn subscriptions_tree(&self) -> &TransactionalTree {
        self.subscriptions
    }

    pub fn audit(&self, entry: AuditEntry) -> TxResult<u64> {
        let seq = match self.meta.get(META_AUDIT_SEQ)? {
            Some(v) => v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0),
            None => 0,
        } + 1;
        let prev = match self.meta.get(META_AUDIT_HEAD)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => GENESIS_HASH.to_string(),
        };
        // Transactions from concurrent workers take their time before they take their place
        // in the chain, so a later record could carry an earlier time. A record is never
        // dated before the one it follows: the log reads in time order.
        let last_at = self
            .meta
            .get(META_AUDIT_AT)?
            .and_then(|v| DateTime::parse_from_rfc3339(&String::from_utf8_lossy(&v)).ok())
            .map(|t| t.with_timezone(&Utc));
        let at = last_at.map_or(self.now, |last| last.max(self.now));
        let hash = audit::record_hash(seq, &at, &entry, &prev);
        let record = audit::StoredRecordRef::new(seq, &at, &entry, &prev, &hash);
        self.audit.insert(&seq.to_be_bytes(), encode(&record)?)?;
        self.meta.insert(META_AUDIT_SEQ, &seq.to_be_bytes())?;
        self.meta.insert(
            META_AUDIT_AT,
            at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .as_bytes(),
        )?;
        self.meta.insert(META_AUDIT_HEAD, hash.as_bytes())?;
        Ok(seq)
    }
}

/// One blocking flush of everything written so far, its error as text: what both the
/// barrier's rounds and the grouped writer run.
fn flush_db(db: &sled::Db) -> Result<(), String> {
    db.flush().map(|_| ()).map_err(|e| e.to_string())
}

/// Reads `tree` from its last key backwards: up to `limit` values that `keep` accepts, looking
/// at no more than `scan`; `keep` answers `None` to stop there.
fn newest<T: DeserializeOwned>(
    tree: &sled::Tree,
    limit: usize,
    scan: usize,
    keep: impl Fn(&T) -> Option<bool>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for value in tree.iter().values().rev().take(scan) {
        if out.len() >= limit {
            break;
        }
        let item: T = decode_plain(&value?)?;
        match keep(&item) {
            None => break,
            Some(true) => out.push(item),
            Some(false) => {}
        }
    }
    Ok(out)
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, StoreOptions::default())
    }

    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            // Durability comes from explicit flushes before acknowledging; sled's periodic
            // flush only bounds how much unacknowledged work a crash can lose.
            .flush_every_ms(Some(500));
        // The directory lock of a store this process just closed can take a moment to be
        // released (sled's flusher thread); another live process keeps it and still fails.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && tries < 40 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        let events = db.open_tree("events")?;
        let event_index = db.open_tree(event_index::TREE)?;
        let meta = db.open_tree("meta")?;
        event_index::ensure_built(&db, &events, &event_index, &meta)?;
        Ok(Self {
            events,
            event_index,
            jobs: db.open_tree("jobs")?,
            proposals: db.open_tree("proposals")?,
            incidents: db.open_tree("incidents")?,
            audit: db.open_tree("audit")?,
            meta,
            subscriptions: db.open_tree("subscriptions")?,
            alerting: db.open_tree("alerting")?,
            governance: db.open_tree("governance")?,
            dead_jobs: db.open_tree("dead_jobs")?,
            db,
            commit: commit::Coalescer::new(),
            batcher: batch::Batcher::default(),
        })
    }

    /// Raw access for the typed helpers in `store::subscriptions`.
    pub fn subscriptions_tree(&self) -> &sled::Tree {
        &self.subscriptions
    }

    /// Runs `f` as one atomic, isolated transaction over every tree. `f` may run more than
    /// once on conflict, so it must not have side effects outside the transaction.
    pub fn transact<T>(
        &self,
        now: DateTime<Utc>,
        f: impl Fn(&Tx<'_>) -> TxResult<T>,
    ) -> Result<T, StoreError> {
        let trees = (
            &self.events,
            &self.event_index,
            &self.jobs,
            &self.proposals,
            &self.incidents,
            &self.audit,
            &self.meta,
            &self.subscriptions,
            &self.alerting,
            &self.governance,
            &self.dead_jobs,
        );
        let out = trees.transaction(
            |(
                events,
                event_index,
                jobs,
                proposals,
                incidents,
                audit,
                meta,
                subscriptions,
                alerting,
                governance,
                dead_jobs,
            )| {
                let tx = Tx {
                    events,
                    event_index,
                    jobs,
                    proposals,
                    incidents,
                    audit,
                    meta,
                    subscriptions,
                    alerting,
                    governance,
                    dead_jobs,
                    now,
                };
                f(&tx)
            },
        )?;
        Ok(out)
    }

    /// Waits until everything this task wrote before the call is on disk (fsync). Concurrent
    /// callers share one flush (group commit, see [`commit`]), so acknowledging only durable
    /// work costs one disk sync per batch, not per request.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        self.commit
            .barrier(move || flush_db(&db))
            .await
            .map_err(StoreError::Flush)
    }

    /// The same barrier as [`Store::durable`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.durable().await
    }

    /// A blocking flush by the grouped writer ([`batch`]) right after its transaction;
    /// counted with the barrier's flushes.
    pub(crate) fn flush_now(&self) -> Result<(), String> {
        let flushed = flush_db(&self.db);
        self.commit.count_flush();
        if let Err(e) = &flushed {
            tracing::error!(error = %e, "store flush failed");
        }
        flushed
    }

    /// Flushes run so far by [`Store::durable`] and the grouped writer.
    pub fn flush_count(&self) -> u64 {
        self.commit.flush_count()
    }

    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn event(&self, id: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.events
            .get(id.to_be_bytes())?
            .map(|b| decode_plain(&b))
            .transpose()
    }

    pub fn events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        self.each_event().collect()
    }

    /// The newest events that `keep` accepts, newest first: at most `limit`, received at or
    /// after `since`, looking at no more than `scan` stored events. Events are keyed by
    /// arrival, so this reads from the end and stops early instead of loading the store.
    pub fn recent_events(
        &self,
        since: DateTime<Utc>,
        limit: usize,
        scan: usize,
        keep: impl Fn(&StoredEvent) -> bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        newest(&self.events, limit, scan, |e: &StoredEvent| {
            (e.received_at >= since).then(|| keep(e))
        })
    }

    /// The newest audit records that `keep` accepts, newest first, like
    /// [`Self::recent_events`].
    pub fn recent_audit(
        &self,
        limit: usize,
        scan: usize,
        keep: impl Fn(&AuditRecord) -> bool,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        newest(&self.audit, limit, scan, |r: &AuditRecord| Some(keep(r)))
    }

    pub fn audit_count(&self) -> usize {
        self.audit.len()
    }

    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    pub fn proposal(&self, id: &str) -> Result<Option<Proposal>, StoreError> {
        self.proposals
            .get(id.as_bytes())?
            .map(|b| decode_plain(&b))
            .transpose()
    }

    pub fn proposals(&self) -> Result<Vec<Proposal>, StoreError> {
        self.proposals
            .iter()
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }

    pub fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.incidents
            .get(id.as_bytes())?
            .map(|b| decode_plain(&b))
            .transpose()
    }

    pub fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.incidents
            .iter()
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }

    /// Every audit record in sequence order, read one at a time (a listing of a log of
    /// millions needs the memory of one record).
    pub fn each_audit_record(&self) -> impl Iterator<Item = Result<AuditRecord, StoreError>> + '_ {
        self.audit.iter().values().map(|v| decode_plain(&v?))
    }

    /// Every stored event in arrival order, read one at a time.
    pub fn each_event(&self) -> impl Iterator<Item = Result<StoredEvent, StoreError>> + '_ {
        self.events.iter().values().map(|v| decode_plain(&v?))
    }

    pub fn audit_records(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.each_audit_record().collect()
    }

    /// Jobs due at `now`, oldest first.
    pub fn due_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.jobs
            .range(..=due_upper_bound(now).to_vec())
            .values()
            .take(limit)
            .map(|v| decode_plain(&v?))
            .collect()
    }

    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs
            .iter()
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }

    /// When the next job falls due, if any.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self.jobs.first()? {
            Some((_, v)) => Ok(Some(decode_plain::<Job>(&v)?.due_at)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn audit_chain_links_and_detects_tampering() {
        let (_d, s) = store();
        let now = Utc::now();
        for i in 0..3 {
            s.transact(now, |tx| {
                tx.audit(AuditEntry::system("test").detail(serde_json::json!({ "i": i })))
            })
            .unwrap();
        }
        let mut records = s.audit_records().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(audit::verify_chain(&records), Ok(3));
        records[1].entry.actor = "U0MALLORY".into();
        assert_eq!(audit::verify_chain(&records), Err(2));
    }

    #[test]
    fn audit_times_never_run_backwards_along_the_chain() {
        let (_d, s) = store();
        let t1 = Utc::now();
        let earlier = t1 - Duration::milliseconds(3);
        for now in [t1, earlier, t1 + Duration::seconds(1)] {
            s.transact(now, |tx| tx.audit(AuditEntry::system("test")))
                .unwrap();
        }
        let at: Vec<_> = s.audit_records().unwrap().iter().map(|r| r.at).collect();
        // The record written with an earlier clock reading is dated with its predecessor.
        assert_eq!(at, vec![t1, t1, t1 + Duration::seconds(1)]);
        assert!(s.verify_audit(None).unwrap().is_ok());
    }

    #[test]
    fn recent_events_reads_from_the_newest_and_stops_early() {
        let (_d, s) = store();
        let t0 = Utc::now() - Duration::days(10);
        for i in 0..12u64 {
            let e = StoredEvent {
                id: i + 1,
                received_at: t0 + Duration::days(i as i64),
                dedupe_key: format!("k{i}"),
                event: "sync_end".into(),
                connector_id: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
                connector_name: None,
                connector_type: None,
                sync_id: None,
                status: None,
                handling: "recorded".into(),
                payload: serde_json::Value::Null,
            };
            let index_key = event_index::key(None, &e.dedupe_key);
            let encoded = EncodedEvent::new(&e).unwrap();
            s.transact(t0, |tx| tx.insert_event(e.id, &encoded, &index_key))
                .unwrap();
        }
        let ids = |v: Vec<StoredEvent>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
        let even = |e: &StoredEvent| e.connector_id.as_deref() == Some("even");
        assert_eq!(
            ids(s.recent_events(t0, 3, 100, even).unwrap()),
            vec![11, 9, 7]
        );
        // Nothing older than `since` (day 8 onwards: ids 9 and 11 of the even ones).
        let since = t0 + Duration::days(8);
        assert_eq!(
            ids(s.recent_events(since, 5, 100, even).unwrap()),
            vec![11, 9]
        );
        // At most `scan` events are read.
        assert_eq!(ids(s.recent_events(t0, 5, 2, even).unwrap()), vec![11]);
    }

    #[test]
    fn jobs_come_due_in_order_and_reschedule() {
        let (_d, s) = store();
        let now = Utc::now();
        s.transact(now, |tx| {
            tx.enqueue(
                JobKind::Notify {
                    incident_id: "b".into(),
                },
                now + Duration::seconds(10),
            )?;
            tx.enqueue_now(JobKind::Notify {
                incident_id: "a".into(),
            })
        })
        .unwrap();
        let due = s.due_jobs(now, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].kind,
            JobKind::Notify {
                incident_id: "a".into()
            }
        );
        s.transact(now, |tx| {
            tx.reschedule_job(&due[0], now + Duration::seconds(20), "x".into(), true)
        })
        .unwrap();
        assert!(s.due_jobs(now, 10).unwrap().is_empty());
        let later = s.due_jobs(now + Duration::seconds(30), 10).unwrap();
        assert_eq!(later.len(), 2);
        assert_eq!(later[1].attempts, 1);
        assert!(s.transact(now, |tx| tx.complete_job(&later[0])).unwrap());
        assert!(!s.transact(now, |tx| tx.complete_job(&later[0])).unwrap());
    }

    pub(crate) fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_write_before_the_barrier_is_on_disk_when_it_returns() {
        let (dir, s) = store();
        let now = Utc::now();
        let seq = s
            .transact(now, |tx| tx.audit(AuditEntry::system("acknowledged")))
            .unwrap();
        s.durable().await.unwrap();
        // What the files hold now, while the store is still open: what a crash would leave.
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let reopened = Store::open(copy.path()).unwrap();
        let records = reopened.audit_records().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].seq, seq);
        assert_eq!(records[0].entry.kind, "acknowledged");
        assert_eq!(s.flush_count(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_acknowledgements_share_flushes() {
        let (_d, s) = store();
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.transact(Utc::now(), |tx| {
                        tx.audit(AuditEntry::system("w").detail(serde_json::json!({ "i": i })))
                    })
                    .unwrap();
                    s.durable().await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.audit_records().unwrap().len(), 400);
        let flushes = s.flush_count();
        assert!(flushes < 100, "{flushes} flushes for 400 acknowledgements");
    }

    #[test]
    fn reopening_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let s = Store::open(dir.path()).unwrap();
            s.transact(now, |tx| {
                tx.audit(AuditEntry::system("a"))?;
                tx.enqueue_now(JobKind::Diagnose {
                    event_id: 1,
                    connector_id: None,
                })
            })
            .unwrap();
            s.flush_blocking().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.jobs().unwrap().len(), 1);
        s.transact(now, |tx| tx.audit(AuditEntry::system("b")))
            .unwrap();
        assert_eq!(audit::verify_chain(&s.audit_records().unwrap()), Ok(2));
    }
}
