//! Fivetran webhook intake: verified and parsed by the HTTP handler, made durable here before
//! the sender gets its 2xx.

use crate::app::SharedState;
use crate::fivetran::webhook::{EventKind, WebhookEvent};
use crate::remediation::policy::Policy;
use crate::store::audit::AuditEntry;
use crate::store::event_index;
use crate::store::events::{EncodedEvent, StoredEvent};
use crate::store::jobs::JobKind;
use crate::store::{StoreError, Tx, TxResult};
use chrono::{DateTime, Utc};
use sled::transaction::ConflictableTransactionError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Accepted { event_id: u64, kind: EventKind },
    Duplicate { event_id: u64 },
}

/// What [`record`] did: the outcome, and whether it queued a job for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub outcome: Ingested,
    pub queued: bool,
}

/// A delivery made ready for its transaction: its dedupe-index key, encoded event and audit
/// entry (all but the id, which the transaction draws). Built outside the transaction, because sled runs one transaction at a time
/// and everything done inside one holds up every other writer.
#[derive(Debug, Clone)]
pub struct Prepared {
    event: WebhookEvent,
    kind: EventKind,
    diagnose: bool,
    index_key: Vec<u8>,
    stored: EncodedEvent,
    audit: AuditEntry,
}

impl Prepared {
    /// `now` is when it was received.
    pub fn new(
        now: DateTime<Utc>,
        event: &WebhookEvent,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        let kind = event.kind();
        let dedupe_key = event.dedupe_key();
        // One key for the lookup and the insert, so a redelivery finds exactly what was written.
        let index_key = event_index::key(event.created.as_deref(), &dedupe_key);
        let diagnose = kind == EventKind::Failure && event.connector_id.is_some();
        let handling = match kind {
            EventKind::Probe => "probe",
            EventKind::Failure if diagnose => "diagnose",
            EventKind::Failure => "ignored: no connector_id",
            EventKind::Success => "recorded: success",
            EventKind::Recorded => "recorded",
            EventKind::Unknown => "ignored: unknown event",
        };
        let stored = EncodedEvent::new(&StoredEvent {
            id: 0,
            received_at: now,
            dedupe_key,
            event: event.event.clone(),
            connector_id: event.connector_id.clone(),
            connector_name: event.connector_name.clone(),
            connector_type: event.connector_type.clone(),
            sync_id: event.sync_id.clone(),
            status: event.status().map(str::to_string),
            handling: handling.to_string(),
            payload,
        })?;
        let audit = AuditEntry::system("event_received")
            .connector(event.connector_id.as_deref())
            .detail(serde_json::json!({
                "event": event.event,
                "status": event.status(),
                "sync_id": event.sync_id,
                "handling": handling,
            }));
        Ok(Self {
            event: event.clone(),
            kind,
            diagnose,
            index_key,
            stored,
            audit,
        })
    }
}

/// Records one delivery inside `tx`: the event, its audit record and the job it calls for
/// (diagnose a failure; recover a failing connector on success). A delivery already stored
/// (same dedupe key) changes nothing.
pub fn record(
    tx: &Tx<'_>,
    policy: &Policy,
    event: &WebhookEvent,
    payload: &serde_json::Value,
) -> TxResult<Recorded> {
    let prepared = Prepared::new(tx.now, event, payload.clone())
        .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?;
    record_prepared(tx, policy, &prepared)
}

/// [`record`] for a delivery already [`Prepared`].
pub fn record_prepared(tx: &Tx<'_>, policy: &Policy, p: &Prepared) -> TxResult<Recorded> {
    if let Some(event_id) = tx.event_id_at(&p.index_key)? {
        return Ok(Recorded {
            outcome: Ingested::Duplicate { event_id },
            queued: false,
        });
    }
    let (event, id) = (&p.event, tx.new_id()?);
    tx.insert_event(id, &p.stored, &p.index_key)?;
    tx.audit(p.audit.clone().event(id))?;
    let mut queued = false;
    crate::remediation::auto::record_sync_outcome(tx, policy, event)?;
    if p.diagnose {
        if let Some(c) = &event.connector_id {
            // Marks the streak before diagnosis, so a success that arrives in between
            // still ends it.
            tx.mark_failing(c)?;
        }
        tx.enqueue_now(JobKind::Diagnose {
            event_id: id,
            connector_id: event.connector_id.clone(),
        })?;
        queued = true;
    }
    let success_of = (p.kind == EventKind::Success)
        .then_some(event.connector_id.as_deref())
        .flatten();
    if let Some(c) = success_of {
        // Only a connector with a failure streak has something to recover from: most
        // successes cost no job at all.
        if tx.streak(c)?.is_some() {
            tx.enqueue_now(JobKind::Recover {
                event_id: id,
                connector_id: Some(c.to_string()),
            })?;
            queued = true;
        }
    }
    Ok(Recorded {
        outcome: Ingested::Accepted {
            event_id: id,
            kind: p.kind,
        },
        queued,
    })
}

pub async fn ingest(
    state: &SharedState,
    event: &WebhookEvent,
    payload: serde_json::Value,
) -> Result<Ingested, StoreError> {
    let now = state.now();
    let prepared =
        Prepared::new(now, event, payload).map_err(|e| StoreError::Codec(e.to_string()))?;
    // Acknowledge only what is on disk (a duplicate too: its original may still be in
    // flight). Concurrent webhooks share one transaction and one flush.
    let app = state.clone();
    let recorded = state
        .store
        .transact_durable(now, move |tx| record_prepared(tx, &app.policy, &prepared))
        .await?;
    if recorded.queued {
        state.jobs_ready.notify_one();
    }
    Ok(recorded.outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::Utc;

    const FAILURE: &[u8] =
        include_bytes!("../tests/data/fivetran/webhooks/sync_end_failure_with_task.json");

    fn policy() -> Policy {
        Policy::new(["U1".to_string()], std::time::Duration::from_secs(3600))
    }

    const SUCCESS: &[u8] =
        include_bytes!("../tests/data/fivetran/webhooks/sync_end_successful.json");

    fn ingest_fixture(store: &Store) -> Ingested {
        ingest_body(store, FAILURE)
    }

    fn ingest_body(store: &Store, body: &[u8]) -> Ingested {
        let (event, payload) = WebhookEvent::parse(body).unwrap();
        store
            .transact(Utc::now(), |tx| record(tx, &policy(), &event, &payload))
            .unwrap()
            .outcome
    }

    fn open_raw(dir: &std::path::Path) -> sled::Db {
        // sled's flusher releases the directory lock of a just-dropped store a moment later.
        for _ in 0..40 {
            match sled::open(dir) {
                Ok(db) => return db,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
        sled::open(dir).unwrap()
    }

    /// A new store holding the fixture delivery, and that event's id.
    fn store_with_fixture() -> (tempfile::TempDir, Store, u64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let Ingested::Accepted { event_id, .. } = ingest_fixture(&store) else {
            panic!("first delivery not accepted")
        };
        (dir, store, event_id)
    }

    #[test]
    fn a_redelivery_is_a_duplicate_of_the_stored_event() {
        let (_dir, store, event_id) = store_with_fixture();
        assert_eq!(ingest_fixture(&store), Ingested::Duplicate { event_id });
        assert_eq!(store.event_count(), 1);
    }

    #[test]
    fn a_store_indexed_by_hash_alone_is_reindexed_on_open() {
        let (dir, store, event_id) = store_with_fixture();
        let stored = store.event(event_id).unwrap().unwrap();
        store.flush_blocking().unwrap();
        drop(store);

        // What an earlier version left: the hash-only tree, no time-ordered index.
        let db = open_raw(dir.path());
        db.drop_tree(event_index::TREE).unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("event_index_built")
            .unwrap();
        db.open_tree(event_index::OLD_TREE)
            .unwrap()
            .insert(stored.dedupe_key.as_bytes(), &event_id.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        drop(db);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(ingest_fixture(&store), Ingested::Duplicate { event_id });
        assert_eq!(store.event_count(), 1);
        drop(store);
        let db = open_raw(dir.path());
        let names: Vec<_> = db.tree_names().into_iter().map(|n| n.to_vec()).collect();
        assert!(!names.contains(&event_index::OLD_TREE.as_bytes().to_vec()));
        assert_eq!(db.open_tree(event_index::TREE).unwrap().len(), 1);
    }

    #[test]
    fn events_an_earlier_version_stored_after_the_upgrade_are_indexed_when_it_is_back() {
        let (dir, store, _) = store_with_fixture();
        // Upgraded (the index was built), then a second event arrives.
        let Ingested::Accepted { event_id, .. } = ingest_body(&store, SUCCESS) else {
            panic!("second delivery not accepted")
        };
        store.flush_blocking().unwrap();
        drop(store);

        // Rolled back: the earlier version stored that event (it is not in the new index)
        // and recreated its own tree.
        let db = open_raw(dir.path());
        let index = db.open_tree(event_index::TREE).unwrap();
        let entry = index
            .iter()
            .map(Result::unwrap)
            .find(|(_, v)| v.as_ref() == event_id.to_be_bytes())
            .unwrap();
        index.remove(entry.0).unwrap();
        db.open_tree(event_index::OLD_TREE).unwrap();
        db.flush().unwrap();
        drop((index, db));

        // Upgraded again: the redelivery is still a duplicate, and the old tree is gone.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            ingest_body(&store, SUCCESS),
            Ingested::Duplicate { event_id }
        );
        assert_eq!(store.event_count(), 2);
        drop(store);
        let db = open_raw(dir.path());
        let names: Vec<_> = db.tree_names().into_iter().map(|n| n.to_vec()).collect();
        assert!(!names.contains(&event_index::OLD_TREE.as_bytes().to_vec()));
    }
}
