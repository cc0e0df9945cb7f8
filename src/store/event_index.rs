//! The dedupe index: which stored event a delivery's identity already belongs to.
//!
//! Keyed by the delivery's `created` time (milliseconds since the epoch, big-endian, 0 when
//! missing or unreadable) and then its identity hash ([`WebhookEvent::dedupe_key`]). The
//! hash alone (the first layout, tree `event_keys`) spread every insert and every lookup over
//! random leaves of a tree far larger than sled's page cache, so each webhook paged in an old
//! leaf. Deliveries arrive roughly in time order, so with the time first they land on the
//! newest leaves, which stay cached. The key is still a function of the identity alone
//! (`created` is part of the hash), so the same delivery always finds itself.
//!
//! [`WebhookEvent::dedupe_key`]: crate::fivetran::webhook::WebhookEvent::dedupe_key

use super::StoreError;
use chrono::DateTime;
use serde::Deserialize;
use std::time::Instant;

/// The tree's name. The hash-only layout lived in [`OLD_TREE`].
pub const TREE: &str = "event_index";
/// The first layout's tree, dropped once [`TREE`] has been rebuilt from the events.
pub const OLD_TREE: &str = "event_keys";
/// Set in `meta` once [`TREE`] holds every stored event.
const META_BUILT: &[u8] = b"event_index_built";
/// Every stored event up to this id (big-endian) is in [`TREE`]: where an interrupted
/// rebuild goes on from.
const META_UPTO: &[u8] = b"event_index_upto";

/// The index key of a delivery created at `created` (its `created` field) with identity
/// `dedupe_key`.
pub fn key(created: Option<&str>, dedupe_key: &str) -> Vec<u8> {
    let millis = created
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map_or(0, |t| u64::try_from(t.timestamp_millis()).unwrap_or(0));
    let mut key = Vec::with_capacity(8 + dedupe_key.len());
    key.extend_from_slice(&millis.to_be_bytes());
    key.extend_from_slice(dedupe_key.as_bytes());
    key
}

/// A stored payload's `created`, read the way the webhook parser reads it
/// ([`crate::fivetran::webhook::WebhookEvent::created`]), so the key rebuilt for a stored event
/// is the key ingest wrote for it and its redeliveries look up.
fn created_of(payload: &serde_json::Value) -> Option<String> {
    payload
        .get("created")
        .and_then(|v| crate::fivetran::webhook::lenient_string(v).ok().flatten())
}

/// The two fields of a stored event the index is built from.
#[derive(Deserialize)]
struct Indexed {
    dedupe_key: String,
    #[serde(default)]
    payload: serde_json::Value,
}

/// Makes sure [`TREE`] indexes every stored event: a store written by an earlier version is
/// indexed from its events, then the old tree is dropped. Returns how many events it indexed
/// (0 when nothing had to be done).
///
/// It goes on from where it stopped (a rebuild can take minutes on a large store, and a
/// supervisor may restart the process meanwhile), and it runs again when the old tree is back:
/// only an earlier version creates that tree, and the events it stored in the meantime are
/// missing from this index.
pub fn ensure_built(
    db: &sled::Db,
    events: &sled::Tree,
    index: &sled::Tree,
    meta: &sled::Tree,
) -> Result<u64, StoreError> {
    let old_tree_exists = db.tree_names().iter().any(|n| n == OLD_TREE.as_bytes());
    if meta.get(META_BUILT)?.is_some() && !old_tree_exists {
        return Ok(0);
    }
    let started = Instant::now();
    let from = meta
        .get(META_UPTO)?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .map_or(0, |upto| upto.saturating_add(1));
    let mut batch = sled::Batch::default();
    let mut pending = 0usize;
    let mut indexed = 0u64;
    let mut unreadable = 0u64;
    let mut last_id = None;
    for entry in events.range(from.to_be_bytes()..) {
        let (id, value) = entry?;
        last_id = Some(id.clone());
        // Inserting an entry that is already there changes nothing, so going over events
        // indexed before an interruption is harmless.
        match serde_json::from_slice::<Indexed>(&value) {
            Ok(event) => {
                let created = created_of(&event.payload);
                batch.insert(key(created.as_deref(), &event.dedupe_key), id);
                pending += 1;
                indexed += 1;
            }
            Err(e) => {
                // Nothing can be a redelivery of an event nobody can read; the store's other
                // readers report it where it matters.
                unreadable += 1;
                tracing::warn!(error = %e, "store: an unreadable stored event is left out of the dedupe index");
            }
        }
        if pending >= 10_000 {
            index.apply_batch(std::mem::take(&mut batch))?;
            if let Some(upto) = &last_id {
                meta.insert(META_UPTO, upto)?;
            }
            pending = 0;
        }
        if indexed > 0 && indexed % 200_000 == 0 {
            // About 5 s apart on a 2-core machine: a long first start is visibly working.
            tracing::info!(events = indexed, "store: rebuilding the dedupe index");
        }
    }
    index.apply_batch(batch)?;
    if let Some(upto) = &last_id {
        meta.insert(META_UPTO, upto)?;
    }
    meta.insert(META_BUILT, &[1u8])?;
    db.flush()?;
    db.drop_tree(OLD_TREE)?;
    if indexed > 0 || unreadable > 0 {
        tracing::info!(
            events = indexed,
            unreadable,
            seconds = started.elapsed().as_secs_f64(),
            "store: rebuilt the dedupe index in time order"
        );
    }
    Ok(indexed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_created_time_then_identity() {
        let early = key(Some("2024-01-01T00:00:00.000Z"), "ffff");
        let later = key(Some("2024-01-01T00:00:00.001Z"), "0000");
        assert!(early < later);
        assert_eq!(&later[..8], &1_704_067_200_001u64.to_be_bytes());
        // Another spelling of the same instant is another identity, so another key.
        let offset = key(Some("2024-01-01T01:00:00.000+01:00"), "ffff");
        assert_eq!(&offset[..8], &early[..8]);
        assert_eq!(key(Some("yesterday"), "ab"), key(None, "ab"));
        assert_eq!(&key(None, "ab")[..8], &[0u8; 8]);
        assert_ne!(key(None, "ab"), key(None, "ac"));
    }

    #[test]
    fn an_interrupted_rebuild_goes_on_from_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let (events, index, meta) = (
            db.open_tree("events").unwrap(),
            db.open_tree(TREE).unwrap(),
            db.open_tree("meta").unwrap(),
        );
        for id in 1..=3u64 {
            let row = serde_json::json!({
                "dedupe_key": format!("k{id}"),
                "payload": {"created": "2024-01-01T00:00:00.000Z"},
            });
            events
                .insert(id.to_be_bytes(), serde_json::to_vec(&row).unwrap())
                .unwrap();
        }
        // Events 1 and 2 were indexed before the process was stopped.
        meta.insert(META_UPTO, &2u64.to_be_bytes()).unwrap();
        assert_eq!(ensure_built(&db, &events, &index, &meta).unwrap(), 1);
        let created = Some("2024-01-01T00:00:00.000Z");
        assert_eq!(
            index.get(key(created, "k3")).unwrap().as_deref(),
            Some(&3u64.to_be_bytes()[..])
        );
        assert!(index.get(key(created, "k1")).unwrap().is_none());
        // Built: nothing more to do.
        assert_eq!(ensure_built(&db, &events, &index, &meta).unwrap(), 0);
    }
}
