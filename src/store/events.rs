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

/// An event's stored bytes, encoded before its transaction: every writer waits while one
/// transaction runs, so the work that needs no lock (serializing the payload) is done first.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    pub id: u64,
    pub bytes: Vec<u8>,
}

impl EncodedEvent {
    pub fn new(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: event.id,
            bytes: serde_json::to_vec(event)?,
        })
    }
}
