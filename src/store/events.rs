//! Webhook deliveries as stored: the parsed fields plus the full body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: u64,
    pub received_at: DateTime<Utc>,
    pub dedupe_key: String,
    pub event: String,
    pub connector_id: Option<String>,
    pub connector_name: Option<String>,
    pub connector_type: Option<String>,
    pub sync_id: Option<String>,
    pub status: Option<String>,
    /// What the service did with it: `diagnose`, `recorded`, `probe`, `ignored`.
    pub handling: String,
    pub payload: serde_json::Value,
}

/// An event's stored bytes but its id, encoded before its transaction: every writer waits
/// while one transaction runs, so the work that needs no lock (serializing the payload) is
/// done first. The id is drawn inside the transaction, so ids follow commit order and a
/// duplicate delivery draws none, and is written in front of the rest.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    /// The encoding after `{"id":<id>` (`id` is the struct's first field).
    rest: Vec<u8>,
}

impl EncodedEvent {
    /// Encodes `event`; its `id` is replaced by the one given to [`EncodedEvent::bytes`].
    pub fn new(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        let bytes = serde_json::to_vec(event)?;
        let prefix = format!("{{\"id\":{}", event.id);
        match bytes.strip_prefix(prefix.as_bytes()) {
            Some(rest) => Ok(Self {
                rest: rest.to_vec(),
            }),
            None => Err(serde::ser::Error::custom(
                "a stored event must encode its id first",
            )),
        }
    }

    /// The stored bytes of the event with id `id`.
    pub fn bytes(&self, id: u64) -> Vec<u8> {
        let id = id.to_string();
        let mut out = Vec::with_capacity(6 + id.len() + self.rest.len());
        out.extend_from_slice(b"{\"id\":");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&self.rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_written_in_front_of_the_encoded_rest() {
        let mut event = StoredEvent {
            id: 0,
            received_at: Utc::now(),
            dedupe_key: "k".into(),
            event: "sync_end".into(),
            connector_id: Some("c1".into()),
            connector_name: None,
            connector_type: None,
            sync_id: Some("s1".into()),
            status: Some("SUCCESSFUL".into()),
            handling: "recorded: success".into(),
            payload: serde_json::json!({"id": 5, "data": {"status": "SUCCESSFUL"}}),
        };
        let encoded = EncodedEvent::new(&event).unwrap();
        for id in [1u64, 42, u64::MAX] {
            event.id = id;
            assert_eq!(encoded.bytes(id), serde_json::to_vec(&event).unwrap());
        }
    }
}
