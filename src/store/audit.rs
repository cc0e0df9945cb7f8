//! The append-only audit log. Each record carries its sequence number and the hash of the one
//! before it, so a changed, removed or reordered record breaks the chain.
//!
//! # Canonical form (hash version 1)
//!
//! `hash = hex(SHA-256(canonical))`, where `canonical` is this JSON text, without whitespace,
//! fields in exactly this order:
//!
//! ```text
//! {"seq":<u64>,"at":"<RFC 3339 UTC>","entry":{"kind":"..","actor":"..",
//!  "connector_id":<string|null>,"event_id":<u64|null>,"incident_id":<string|null>,
//!  "proposal_id":<string|null>,"detail":<JSON>},"prev_hash":"<64 hex>"}
//! ```
//!
//! - `at` is written as chrono writes a UTC time: `2026-11-25T10:00:00Z`, with 3, 6 or 9
//!   fractional digits only when the time has them.
//! - Object keys inside `detail` are sorted (byte order) at every depth; strings use JSON's
//!   escapes as serde_json writes them; numbers are serde_json's shortest round-trip form.
//! - `prev_hash` of record 1 is 64 zeros. Because `prev_hash` is inside the hashed text, each
//!   hash commits to the whole history before it (the same guarantee as hashing
//!   `prev_hash ‖ record`).
//!
//! The form is written out by hand here rather than derived from the structs, so adding a
//! field to [`AuditEntry`] cannot silently change the hashes of records already written (a
//! test fails instead until the field is added here as version 2).

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
#[serde(from = "FlatRecord")]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The stored shape of a record, read field by field: `#[serde(flatten)]` on the read side
/// buffers every record and made reading a large log several times slower.
#[derive(Deserialize)]
struct FlatRecord {
    seq: u64,
    at: DateTime<Utc>,
    kind: String,
    actor: String,
    #[serde(default)]
    connector_id: Option<String>,
    #[serde(default)]
    event_id: Option<u64>,
    #[serde(default)]
    incident_id: Option<String>,
    #[serde(default)]
    proposal_id: Option<String>,
    #[serde(default)]
    detail: serde_json::Value,
    prev_hash: String,
    hash: String,
}

impl From<FlatRecord> for AuditRecord {
    fn from(f: FlatRecord) -> Self {
        AuditRecord {
            seq: f.seq,
            at: f.at,
            entry: AuditEntry {
                kind: f.kind,
                actor: f.actor,
                connector_id: f.connector_id,
                event_id: f.event_id,
                incident_id: f.incident_id,
                proposal_id: f.proposal_id,
                detail: f.detail,
            },
            prev_hash: f.prev_hash,
            hash: f.hash,
        }
    }
}

/// Writes `v` as JSON with object keys sorted at every depth.
fn write_canonical_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, k);
                out.push(b':');
                write_canonical_value(out, &map[k]);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_value(out, item);
            }
            out.push(b']');
        }
        scalar => write_json(out, scalar),
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Serializing strings, numbers, bools, null and timestamps cannot fail.
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// The fields a record's hash covers, borrowed from wherever they were read.
struct HashedFields<'a> {
    seq: u64,
    at: &'a DateTime<Utc>,
    kind: &'a str,
    actor: &'a str,
    connector_id: Option<&'a str>,
    event_id: Option<u64>,
    incident_id: Option<&'a str>,
    proposal_id: Option<&'a str>,
    prev_hash: &'a str,
}

impl HashedFields<'_> {
    /// The canonical text, with `detail` written by `write_detail`.
    fn canonical(&self, write_detail: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::with_capacity(384);
        // Integers and the timestamp are written directly; both match serde_json's output.
        let _ = write!(
            out,
            "{{\"seq\":{},\"at\":\"{}\",\"entry\":{{\"kind\":",
            self.seq,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
        write_json(&mut out, self.kind);
        out.extend_from_slice(b",\"actor\":");
        write_json(&mut out, self.actor);
        out.extend_from_slice(b",\"connector_id\":");
        write_json(&mut out, &self.connector_id);
        out.extend_from_slice(b",\"event_id\":");
        match self.event_id {
            Some(id) => {
                let _ = write!(out, "{id}");
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"incident_id\":");
        write_json(&mut out, &self.incident_id);
        out.extend_from_slice(b",\"proposal_id\":");
        write_json(&mut out, &self.proposal_id);
        out.extend_from_slice(b",\"detail\":");
        write_detail(&mut out);
        out.extend_from_slice(b"},\"prev_hash\":");
        write_json(&mut out, self.prev_hash);
        out.push(b'}');
        out
    }
}

/// The exact bytes a record's hash is computed over (see the module docs).
pub fn canonical_bytes(
    seq: u64,
    at: &DateTime<Utc>,
    entry: &AuditEntry,
    prev_hash: &str,
) -> Vec<u8> {
    HashedFields {
        seq,
        at,
        kind: &entry.kind,
        actor: &entry.actor,
        connector_id: entry.connector_id.as_deref(),
        event_id: entry.event_id,
        incident_id: entry.incident_id.as_deref(),
        proposal_id: entry.proposal_id.as_deref(),
        prev_hash,
    }
    .canonical(|out| write_canonical_value(out, &entry.detail))
}

pub fn record_hash(seq: u64, at: &DateTime<Utc>, entry: &AuditEntry, prev_hash: &str) -> String {
    hex::encode(Sha256::digest(canonical_bytes(seq, at, entry, prev_hash)))
}

/// Whether `canonical` hashes to `hash` (lowercase hex, as stored).
fn hashes_to(canonical: &[u8], hash: &str) -> bool {
    let mut hex_digest = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(canonical), &mut hex_digest).is_ok()
        && hex_digest.as_slice() == hash.as_bytes()
}

/// A record as stored: the JSON that serializing an [`AuditRecord`] gives, written from
/// borrowed fields. Appending runs inside the store's one-at-a-time transaction; this skips
/// cloning the entry and serde's `flatten`, which serializes through a map.
#[derive(Serialize)]
pub struct StoredRecordRef<'a> {
    seq: u64,
    at: &'a DateTime<Utc>,
    kind: &'a str,
    actor: &'a str,
    connector_id: Option<&'a str>,
    event_id: Option<u64>,
    incident_id: Option<&'a str>,
    proposal_id: Option<&'a str>,
    detail: &'a serde_json::Value,
    prev_hash: &'a str,
    hash: &'a str,
}

impl<'a> StoredRecordRef<'a> {
    /// The record `entry` becomes at `seq`; `hash` is its [`record_hash`].
    pub fn new(
        seq: u64,
        at: &'a DateTime<Utc>,
        entry: &'a AuditEntry,
        prev_hash: &'a str,
        hash: &'a str,
    ) -> Self {
        Self {
            seq,
            at,
            kind: &entry.kind,
            actor: &entry.actor,
            connector_id: entry.connector_id.as_deref(),
            event_id: entry.event_id,
            incident_id: entry.incident_id.as_deref(),
            proposal_id: entry.proposal_id.as_deref(),
            detail: &entry.detail,
            prev_hash,
            hash,
        }
    }
}

/// A stored record read without building its `detail`: `audit verify` reads every record of
/// a log of millions, and decoding `detail` into a `serde_json::Value` (then sorting it back
/// into canonical form) was most of that work.
#[derive(Deserialize)]
struct BorrowedRecord<'a> {
    seq: u64,
    at: DateTime<Utc>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    actor: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    connector_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    event_id: Option<u64>,
    #[serde(default, borrow)]
    incident_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    proposal_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    detail: Option<&'a serde_json::value::RawValue>,
    prev_hash: String,
    hash: String,
}

impl Link {
    /// Reads a stored record's link and checks its hash.
    ///
    /// syncwarden stores `detail` in canonical form already (sorted keys, serde_json's
    /// escapes), so the stored bytes are hashed as they are. Only if that does not match is
    /// the record decoded and re-canonicalised, so a record is intact exactly when
    /// [`AuditRecord::is_intact`] says so.
    pub fn from_stored(bytes: &[u8]) -> Result<Link, String> {
        let r: BorrowedRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let fields = HashedFields {
            seq: r.seq,
            at: &r.at,
            kind: &r.kind,
            actor: &r.actor,
            connector_id: r.connector_id.as_deref(),
            event_id: r.event_id,
            incident_id: r.incident_id.as_deref(),
            proposal_id: r.proposal_id.as_deref(),
            prev_hash: &r.prev_hash,
        };
        let raw = fields.canonical(|out| match r.detail {
            Some(d) => out.extend_from_slice(d.get().as_bytes()),
            None => out.extend_from_slice(b"null"),
        });
        let intact = hashes_to(&raw, &r.hash) || {
            let full: AuditRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            full.is_intact()
        };
        Ok(Link {
            seq: r.seq,
            prev_hash: r.prev_hash,
            hash: r.hash,
            intact,
        })
    }
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
        hashes_to(
            &canonical_bytes(self.seq, &self.at, &self.entry, &self.prev_hash),
            &self.hash,
        )
    }
}

/// The first thing wrong with a stored chain. [`ChainFault::first_bad`] names the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainFault {
    #[error("record {seq} is unreadable: {error}")]
    Unreadable { seq: u64, error: String },
    #[error("record {seq} was changed: its hash does not match its contents")]
    Changed { seq: u64 },
    #[error("record {seq} is missing: the next stored record is {next}")]
    Missing { seq: u64, next: u64 },
    #[error(
        "record {seq} is out of place: record {found} is stored where {seq} belongs (reordered)"
    )]
    OutOfPlace { seq: u64, found: u64 },
    #[error("record {seq} was rewritten: record {successor} no longer links to it (its prev_hash differs)")]
    Relinked { seq: u64, successor: u64 },
    #[error("the log was truncated: it ends at record {last} but the stored head is record {head} (records {first_missing}..={head} are gone)", first_missing = last + 1)]
    Truncated { last: u64, head: u64 },
    #[error("record {seq} was rewritten: it is the last record but its hash is not the stored head hash")]
    HeadMismatch { seq: u64 },
    #[error(
        "record {seq} is beyond the stored head (record {head}): it was not appended by syncwarden"
    )]
    Extra { seq: u64, head: u64 },
    #[error("record {seq} does not match the checkpoint: expected hash {expected}, found {found}")]
    CheckpointMismatch {
        seq: u64,
        expected: String,
        found: String,
    },
}

impl ChainFault {
    /// The sequence number of the first bad record.
    pub fn first_bad(&self) -> u64 {
        match self {
            ChainFault::Unreadable { seq, .. }
            | ChainFault::Changed { seq }
            | ChainFault::Missing { seq, .. }
            | ChainFault::OutOfPlace { seq, .. }
            | ChainFault::Relinked { seq, .. }
            | ChainFault::HeadMismatch { seq }
            | ChainFault::Extra { seq, .. }
            | ChainFault::CheckpointMismatch { seq, .. } => *seq,
            ChainFault::Truncated { last, .. } => last + 1,
        }
    }
}

/// What a verified chain looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub records: u64,
    /// The last record's hash (the genesis hash for an empty log).
    pub head: String,
}

/// A checkpoint taken earlier (e.g. posted to Slack): record `seq` had hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;

    /// `SEQ:HASH`, as the checkpoint message prints it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| "expected SEQ:HASH, e.g. 1234:3f2a…".to_string())?;
        let seq = seq
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{seq:?} is not a record number"))?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the hash must be 64 hex digits".into());
        }
        Ok(Checkpoint { seq, hash })
    }
}

/// What the chain walk needs of one record: where it claims to be, its links, and whether
/// its hash matches its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub intact: bool,
}

impl Link {
    pub fn of(r: &AuditRecord) -> Self {
        Link {
            seq: r.seq,
            intact: r.is_intact(),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

/// Walks a chain one stored record at a time, in storage order, in constant memory.
pub struct ChainVerifier {
    expected: u64,
    prev_hash: String,
    checkpoint: Option<Checkpoint>,
    checkpoint_seen: bool,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ChainVerifier {
    pub fn new(checkpoint: Option<Checkpoint>) -> Self {
        Self {
            expected: 1,
            prev_hash: GENESIS_HASH.to_string(),
            checkpoint,
            checkpoint_seen: false,
        }
    }

    /// Checks the next stored record. `key` is the sequence number it is stored under, when
    /// the storage has one: it tells a removed record from a reordered one.
    pub fn push(&mut self, key: Option<u64>, record: &AuditRecord) -> Result<(), ChainFault> {
        self.push_link(key, &Link::of(record))
    }

    /// [`Self::push`] for a record whose own hash was already checked ([`Link::of`]), so the
    /// expensive part can run in parallel while the chain is walked in order.
    pub fn push_link(&mut self, key: Option<u64>, record: &Link) -> Result<(), ChainFault> {
        let expected = self.expected;
        if let Some(key) = key {
            if key > expected {
                return Err(ChainFault::Missing {
                    seq: expected,
                    next: key,
                });
            }
            if record.seq != key {
                return Err(ChainFault::OutOfPlace {
                    seq: key,
                    found: record.seq,
                });
            }
        }
        if record.seq != expected {
            return Err(if record.seq > expected {
                ChainFault::Missing {
                    seq: expected,
                    next: record.seq,
                }
            } else {
                ChainFault::OutOfPlace {
                    seq: expected,
                    found: record.seq,
                }
            });
        }
        if !record.intact {
            return Err(ChainFault::Changed { seq: record.seq });
        }
        if record.prev_hash != self.prev_hash {
            return Err(ChainFault::Relinked {
                seq: record.seq.saturating_sub(1).max(1),
                successor: record.seq,
            });
        }
        if let Some(cp) = &self.checkpoint {
            if cp.seq == record.seq {
                if cp.hash != record.hash {
                    return Err(ChainFault::CheckpointMismatch {
                        seq: cp.seq,
                        expected: cp.hash.clone(),
                        found: record.hash.clone(),
                    });
                }
                self.checkpoint_seen = true;
            }
        }
        self.expected += 1;
        self.prev_hash.clone_from(&record.hash);
        Ok(())
    }

    /// Ends the walk. `head` is the stored head (count and last hash) written with every
    /// record; without it a cut-off tail cannot be told from a short log.
    pub fn finish(self, head: Option<(u64, &str)>) -> Result<ChainSummary, ChainFault> {
        let last = self.expected - 1;
        let last_hash = self.prev_hash;
        if let Some((head_seq, head_hash)) = head {
            if last < head_seq {
                return Err(ChainFault::Truncated {
                    last,
                    head: head_seq,
                });
            }
            if last > head_seq {
                return Err(ChainFault::Extra {
                    seq: head_seq + 1,
                    head: head_seq,
                });
            }
            if last > 0 && last_hash != head_hash {
                return Err(ChainFault::HeadMismatch { seq: last });
            }
        }
        if let Some(cp) = &self.checkpoint {
            if !self.checkpoint_seen {
                return Err(ChainFault::Truncated { last, head: cp.seq });
            }
        }
        Ok(ChainSummary {
            records: last,
            head: last_hash,
        })
    }
}

/// Checks records in order (no stored head); returns the count, or the first bad record.
pub fn verify_chain<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<u64, u64> {
    let mut v = ChainVerifier::default();
    for r in records {
        v.push(None, r).map_err(|f| f.first_bad())?;
    }
    v.finish(None).map(|s| s.records).map_err(|f| f.first_bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
    }

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = AuditRecord::seal(
                    seq,
                    at(),
                    AuditEntry::system("test").detail(serde_json::json!({ "i": seq })),
                    prev.clone(),
                );
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    /// A fixed record and its hash: if this changes, every stored log stops verifying.
    #[test]
    fn canonical_form_is_pinned() {
        let entry = AuditEntry::by("proposal_approved", "U0APPROVER")
            .connector(Some("speak_inexpensive"))
            .incident("inc_7")
            .proposal("p_1")
            .detail(serde_json::json!({"z": 1, "a": {"y": [true, null], "b": "é<&>\""}, "m": 0.5}));
        let bytes = canonical_bytes(3, &at(), &entry, GENESIS_HASH);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            concat!(
                r#"{"seq":3,"at":"2026-11-25T10:00:00Z","entry":{"kind":"proposal_approved","actor":"U0APPROVER","#,
                r#""connector_id":"speak_inexpensive","event_id":null,"incident_id":"inc_7","proposal_id":"p_1","#,
                r#""detail":{"a":{"b":"é<&>\"","y":[true,null]},"m":0.5,"z":1}},"#,
                r#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#
            )
        );
        assert_eq!(
            record_hash(3, &at(), &entry, GENESIS_HASH),
            hex::encode(Sha256::digest(canonical_bytes(
                3,
                &at(),
                &entry,
                GENESIS_HASH
            )))
        );
        // Sub-second times keep their digits.
        let t = at() + chrono::Duration::milliseconds(120);
        let bytes = String::from_utf8(canonical_bytes(1, &t, &entry, GENESIS_HASH)).unwrap();
        assert!(
            bytes.contains(r#""at":"2026-11-25T10:00:00.120Z""#),
            "{bytes}"
        );
    }

    /// What an append writes is what serializing the whole record writes, so readers of
    /// logs written either way see the same bytes.
    #[test]
    fn the_stored_form_is_the_serialized_record() {
        let t = at() + chrono::Duration::nanoseconds(123_456_789);
        let entries = [
            AuditEntry::system("event_received"),
            AuditEntry::by("proposal_approved", "U0APPROVER")
                .connector(Some("speak_inexpensive"))
                .event(42)
                .incident("inc_7")
                .proposal("p_1")
                .detail(serde_json::json!({"z": 1, "a": {"y": [true, null], "b": "é<&>\"\n"}})),
        ];
        for entry in entries {
            let hash = record_hash(5, &t, &entry, GENESIS_HASH);
            let stored =
                serde_json::to_string(&StoredRecordRef::new(5, &t, &entry, GENESIS_HASH, &hash))
                    .unwrap();
            let record = AuditRecord::seal(5, t, entry, GENESIS_HASH.to_string());
            assert_eq!(hash, record.hash);
            assert_eq!(stored, serde_json::to_string(&record).unwrap());
        }
    }

    /// Logs written before the form was spelled out hashed the derived struct serialization;
    /// the two agree byte for byte, so those logs still verify.
    #[test]
    fn canonical_form_matches_the_original_derived_form() {
        #[derive(Serialize)]
        struct Legacy<'a> {
            seq: u64,
            at: &'a DateTime<Utc>,
            entry: &'a AuditEntry,
            prev_hash: &'a str,
        }
        let entry = AuditEntry::system("incident_opened")
            .connector(Some("c1"))
            .event(7)
            .detail(serde_json::json!({"category": "network", "confidence": 0.9f32, "rule": null}));
        let legacy = serde_json::to_vec(&Legacy {
            seq: 9,
            at: &at(),
            entry: &entry,
            prev_hash: GENESIS_HASH,
        })
        .unwrap();
        assert_eq!(legacy, canonical_bytes(9, &at(), &entry, GENESIS_HASH));
    }

    /// The hand-written form covers every field an entry has: adding one must be a decision.
    #[test]
    fn canonical_form_covers_every_entry_field() {
        let v = serde_json::to_value(AuditEntry::system("x")).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "actor",
                "connector_id",
                "detail",
                "event_id",
                "incident_id",
                "kind",
                "proposal_id"
            ]
        );
    }

    #[test]
    fn stored_links_agree_with_the_decoded_check() {
        let entry = AuditEntry::by("decision_approved", "U0123ABCD")
            .connector(Some("speak_inexpensive"))
            .proposal("p-1")
            .detail(serde_json::json!({"z": [1, 2.5, {"b": null, "a": "é\"\n"}], "a": true}));
        let r = AuditRecord::seal(7, at(), entry, GENESIS_HASH.to_string());
        let stored = serde_json::to_vec(&r).unwrap();
        let link = Link::from_stored(&stored).unwrap();
        assert_eq!(link, Link::of(&r));
        assert!(link.intact);

        // The same content written differently (keys out of order, spaces) is still the
        // record that was sealed: the slow path re-canonicalises it.
        let text = String::from_utf8(stored.clone()).unwrap();
        let reordered = text
            .replace(r#"{"a":true,"z":"#, r#"{ "z" : "#)
            .replace(r#"]}"#, r#"], "a" : true}"#);
        assert_ne!(reordered, text);
        assert!(Link::from_stored(reordered.as_bytes()).unwrap().intact);

        // Changed content is not.
        let edited = text.replace("2.5", "3.5");
        assert!(!Link::from_stored(edited.as_bytes()).unwrap().intact);
        let edited = text.replace("decision_approved", "decision_rejected");
        assert!(!Link::from_stored(edited.as_bytes()).unwrap().intact);
        assert!(Link::from_stored(b"{oops").is_err());
    }

    #[test]
    fn hash_survives_a_storage_round_trip() {
        for r in chain(3) {
            let stored = serde_json::to_vec(&r).unwrap();
            let back: AuditRecord = serde_json::from_slice(&stored).unwrap();
            assert!(back.is_intact());
        }
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_record() {
        let good = chain(6);
        let verify = |records: &[AuditRecord], keys: Option<&[u64]>, head: Option<(u64, &str)>| {
            let mut v = ChainVerifier::default();
            for (i, r) in records.iter().enumerate() {
                v.push(keys.map(|k| k[i]), r)?;
            }
            v.finish(head)
        };
        let head = (6, good[5].hash.as_str());
        assert_eq!(verify(&good, None, Some(head)).unwrap().records, 6);

        let mut changed = good.clone();
        changed[2].entry.actor = "U0MALLORY".into();
        assert_eq!(
            verify(&changed, None, Some(head)),
            Err(ChainFault::Changed { seq: 3 })
        );

        let mut removed = good.clone();
        removed.remove(3);
        let keys = [1, 2, 3, 5, 6];
        assert_eq!(
            verify(&removed, Some(&keys), Some(head)),
            Err(ChainFault::Missing { seq: 4, next: 5 })
        );

        let mut reordered = good.clone();
        reordered.swap(1, 2);
        let keys = [1, 2, 3, 4, 5, 6];
        assert_eq!(
            verify(&reordered, Some(&keys), Some(head)),
            Err(ChainFault::OutOfPlace { seq: 2, found: 3 })
        );
        assert_eq!(verify_chain(&reordered), Err(2));

        let mut resealed = good.clone();
        resealed[3] = AuditRecord::seal(
            4,
            at(),
            AuditEntry::system("forged"),
            resealed[3].prev_hash.clone(),
        );
        assert_eq!(
            verify(&resealed, None, Some(head)),
            Err(ChainFault::Relinked {
                seq: 4,
                successor: 5
            })
        );

        let truncated = &good[..4];
        assert_eq!(
            verify(truncated, None, Some(head)),
            Err(ChainFault::Truncated { last: 4, head: 6 })
        );
        assert_eq!(ChainFault::Truncated { last: 4, head: 6 }.first_bad(), 5);
        // Without the stored head a cut tail looks like a short log: that is why it is kept.
        assert!(verify(truncated, None, None).is_ok());

        let mut last_resealed = good.clone();
        last_resealed[5] =
            AuditRecord::seal(6, at(), AuditEntry::system("forged"), good[4].hash.clone());
        assert_eq!(
            verify(&last_resealed, None, Some(head)),
            Err(ChainFault::HeadMismatch { seq: 6 })
        );

        let cp = Checkpoint {
            seq: 6,
            hash: good[5].hash.clone(),
        };
        let mut v = ChainVerifier::new(Some(cp.clone()));
        let outcome = last_resealed.iter().try_for_each(|r| v.push(None, r));
        assert!(matches!(
            outcome,
            Err(ChainFault::CheckpointMismatch { seq: 6, .. })
        ));
        let mut v = ChainVerifier::new(Some(cp));
        for r in truncated {
            v.push(None, r).unwrap();
        }
        assert_eq!(
            v.finish(None),
            Err(ChainFault::Truncated { last: 4, head: 6 })
        );
    }

    #[test]
    fn checkpoints_parse_from_what_the_message_prints() {
        let h = "ab".repeat(32);
        let cp: Checkpoint = format!("12:{}", h.to_uppercase()).parse().unwrap();
        assert_eq!(cp, Checkpoint { seq: 12, hash: h });
        assert!("12".parse::<Checkpoint>().is_err());
        assert!("x:00".parse::<Checkpoint>().is_err());
    }
}
