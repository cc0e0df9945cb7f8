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

/// A stored payload's `created`, read the way the webhook parser reads it (so the key written
/// for an event is the key its redelivery looks up).
pub fn created_of(payload: &serde_json::Value) -> Option<String> {
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

/// Makes sure [`TREE`] indexes every stored event: a store written by an earlier version
/// (or one whose rebuild was cut short) is rebuilt from its events, then the old tree is
/// dropped. Returns how many events were indexed (0 when nothing had to be done).
pub fn ensure_built(
    db: &sled::Db,
    events: &sled::Tree,
    index: &sled::Tree,
    meta: &sled::Tree,
) -> Result<u64, StoreError> {
    if meta.get(META_BUILT)?.is_some() {
        return Ok(0);
    }
    let started = Instant::now();
    // A rebuild cut short left part of the tree: start again from nothing.
    index.clear()?;
    let mut batch = sled::Batch::default();
    let mut pending = 0usize;
    let mut indexed = 0u64;
    for entry in events.iter() {
        let (id, value) = entry?;
        let event: Indexed = serde_json::from_slice(&value).map_err(|e| {
            StoreError::Codec(format!(
                "rebuilding the dedupe index: stored event {} is unreadable: {e}",
                id.as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .unwrap_or_default()
            ))
        })?;
        let created = created_of(&event.payload);
        batch.insert(key(created.as_deref(), &event.dedupe_key), id);
        pending += 1;
        indexed += 1;
        if pending == 10_000 {
            index.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
        if indexed % 200_000 == 0 {
            // About 5 s apart on a 2-core machine: a long first start is visibly working.
            tracing::info!(events = indexed, "store: rebuilding the dedupe index");
        }
    }
    index.apply_batch(batch)?;
    meta.insert(META_BUILT, &[1u8])?;
    db.flush()?;
    db.drop_tree(OLD_TREE)?;
    if indexed > 0 {
        tracing::info!(
            events = indexed,
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
}
