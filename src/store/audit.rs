//! The append-only audit log. Each record carries the hash of the one before it, so a changed
//! or deleted record breaks the chain.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it gets a place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AuditEntry {
    pub kind: String,
    /// Slack user ID, or `system`.
    pub actor: String,
    pub connector_id: Option<String>,
    pub event_id: Option<u64>,
    pub incident_id: Option<String>,
    pub proposal_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn system(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            actor: "system".into(),
            detail: serde_json::Value::Null,
            ..Self::default()
        }
    }

    pub fn by(kind: &str, actor: &str) -> Self {
        Self {
            kind: kind.into(),
            actor: actor.into(),
            detail: serde_json::Value::Null,
            ..Self::default()
        }
    }

    pub fn connector(mut self, id: Option<&str>) -> Self {
        self.connector_id = id.map(str::to_string);
        self
    }

    pub fn event(mut self, id: u64) -> Self {
        self.event_id = Some(id);
        self
    }

    pub fn incident(mut self, id: &str) -> Self {
        self.incident_id = Some(id.to_string());
        self
    }

    pub fn proposal(mut self, id: &str) -> Self {
        self.proposal_id = Some(id.to_string());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: &'a DateTime<Utc>,
    entry: &'a AuditEntry,
    prev_hash: &'a str,
}

pub fn record_hash(seq: u64, at: &DateTime<Utc>, entry: &AuditEntry, prev_hash: &str) -> String {
    let bytes = serde_json::to_vec(&Hashed {
        seq,
        at,
        entry,
        prev_hash,
    })
    .unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

impl AuditRecord {
    pub fn seal(seq: u64, at: DateTime<Utc>, entry: AuditEntry, prev_hash: String) -> Self {
        let hash = record_hash(seq, &at, &entry, &prev_hash);
        Self {
            seq,
            at,
            entry,
            prev_hash,
            hash,
        }
    }

    pub fn is_intact(&self) -> bool {
        record_hash(self.seq, &self.at, &self.entry, &self.prev_hash) == self.hash
    }
}

/// Checks the chain in order; returns the first broken sequence number.
pub fn verify_chain<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<u64, u64> {
    let mut prev = GENESIS_HASH.to_string();
    let mut expected_seq = 1;
    for r in records {
        if r.seq != expected_seq || r.prev_hash != prev || !r.is_intact() {
            return Err(r.seq);
        }
        prev = r.hash.clone();
        expected_seq += 1;
    }
    Ok(expected_seq - 1)
}
