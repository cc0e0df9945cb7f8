//! Fivetran webhooks: signature check and the event shape.
//!
//! Fivetran signs the raw body with HMAC-SHA256 keyed by the webhook secret and sends the hex
//! digest, uppercase, in `X-Fivetran-Signature-256`. There is no timestamp, so replay protection
//! is deduplication by (event, connector_id, sync_id, created).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SIGNATURE_HEADER: &str = "x-fivetran-signature-256";

/// Longest string field we keep from a webhook; Fivetran's `reason` is free text and can carry a
/// whole stack trace.
pub const MAX_FIELD_CHARS: usize = 8 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SignatureError {
    #[error("missing X-Fivetran-Signature-256 header")]
    Missing,
    #[error("X-Fivetran-Signature-256 is not a hex SHA-256 digest")]
    Malformed,
    #[error("X-Fivetran-Signature-256 does not match the body")]
    Mismatch,
}

pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    hex::encode_upper(mac.finalize().into_bytes())
}

/// Constant-time check of the header against the body. Hex case does not matter.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let header = header.ok_or(SignatureError::Missing)?;
    // Some senders prefix the algorithm; accept "sha256=" too.
    let hex_part = header.strip_prefix("sha256=").unwrap_or(header);
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WebhookData {
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub reason: Option<String>,
    #[serde(default, rename = "taskType", deserialize_with = "lenient_string")]
    pub task_type: Option<String>,
}

/// One webhook delivery. Field names as Fivetran sends them; everything but `event` is optional
/// because `test_event` and account-level events omit most of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookEvent {
    pub event: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub created: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub connector_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub connector_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub connector_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub sync_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub destination_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_data")]
    pub data: Option<WebhookData>,
}

/// Strings, numbers and bools become strings; anything else (objects, arrays, null) is dropped.
pub(crate) fn lenient_string<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => Some(truncate(&s)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn lenient_data<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<WebhookData>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Object(_) => serde_json::from_value(v).ok(),
        _ => None,
    })
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_FIELD_CHARS {
        return s.to_string();
    }
    let mut end = MAX_FIELD_CHARS;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is JSON but not a webhook event: {0}")]
    Shape(String),
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
}

pub use crate::limits::MAX_JSON_DEPTH;
/// Longest `event` name accepted; Fivetran's are under 32 characters.
pub const MAX_EVENT_CHARS: usize = 128;

/// What the service does with an event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Fivetran's creation probe: answer 2xx, store nothing further.
    Probe,
    /// A sync or connection failure to diagnose.
    Failure,
    /// A successful sync or connection test: ends a failure streak, if there is one.
    Success,
    /// A known event we keep for history (sync_start, edits, ...).
    Recorded,
    /// A name we do not know: stored and ignored.
    Unknown,
}

pub const KNOWN_EVENTS: &[&str] = &[
    "sync_start",
    "sync_end",
    "connection_successful",
    "connection_failure",
    "create_connector",
    "pause_connector",
    "resume_connector",
    "edit_connector",
    "delete_connector",
    "force_update_connector",
    "resync_connector",
    "resync_table",
    "dbt_run_start",
    "dbt_run_succeeded",
    "dbt_run_failed",
    "transformation_start",
    "transformation_succeeded",
    "transformation_failed",
    "test_event",
];

impl WebhookEvent {
    pub fn parse(body: &[u8]) -> Result<(WebhookEvent, serde_json::Value), ParseError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
        if crate::limits::json_depth(&value) > MAX_JSON_DEPTH {
            return Err(ParseError::TooDeep(MAX_JSON_DEPTH));
        }
        // Read from the tree in place: a copy of the whole body per delivery is not needed.
        let event =
            WebhookEvent::deserialize(&value).map_err(|e| ParseError::Shape(e.to_string()))?;
        if event.event.trim().is_empty() || event.event.len() > MAX_EVENT_CHARS {
            return Err(ParseError::Shape(
                "`event` must be a short non-empty string".into(),
            ));
        }
        Ok((event, value))
    }

    pub fn kind(&self) -> EventKind {
        match self.event.as_str() {
            "test_event" => EventKind::Probe,
            "sync_end" => match self.status() {
                Some(s) if s.eq_ignore_ascii_case("SUCCESSFUL") => EventKind::Success,
                // RESCHEDULED is Fivetran pausing a sync to resume it later, not a fault.
                Some(s) if s.eq_ignore_ascii_case("RESCHEDULED") => EventKind::Recorded,
                Some(_) => EventKind::Failure,
                None => EventKind::Recorded,
            },
            "connection_failure" => EventKind::Failure,
            "connection_successful" => EventKind::Success,
            name if KNOWN_EVENTS.contains(&name) => EventKind::Recorded,
            _ => EventKind::Unknown,
        }
    }

    pub fn status(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.status.as_deref())
    }

    pub fn reason(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.reason.as_deref())
    }

    pub fn task_type(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.task_type.as_deref())
    }

    pub fn group(&self) -> Option<&str> {
        self.destination_group_id
            .as_deref()
            .or(self.group_id.as_deref())
    }

    /// Identity of a delivery: Fivetran redelivers the same body on retry.
    pub fn dedupe_key(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            Some(self.event.as_str()),
            self.connector_id.as_deref(),
            self.sync_id.as_deref(),
            self.created.as_deref(),
        ] {
            h.update(part.unwrap_or("").as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILURE: &str =
        include_str!("../../tests/data/fivetran/webhooks/sync_end_failure_with_task.json");
    const FAILURE_SIG: &str = "C3CF29087E37A53A3F038298B3F10D6C54C58916A1FC2651C27061E554906791";
    const SECRET: &[u8] = b"fivetran-fixture-secret";

    #[test]
    fn fixture_signature_verifies_in_any_case() {
        assert_eq!(sign(SECRET, FAILURE.as_bytes()), FAILURE_SIG);
        verify(SECRET, FAILURE.as_bytes(), Some(FAILURE_SIG)).unwrap();
        verify(
            SECRET,
            FAILURE.as_bytes(),
            Some(&FAILURE_SIG.to_lowercase()),
        )
        .unwrap();
    }

    #[test]
    fn bad_signatures_are_refused() {
        assert_eq!(
            verify(SECRET, FAILURE.as_bytes(), None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, FAILURE.as_bytes(), Some("abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"other", FAILURE.as_bytes(), Some(FAILURE_SIG)),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = FAILURE.as_bytes().to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(SECRET, &tampered, Some(FAILURE_SIG)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn parses_failure_fixture() {
        let (e, _) = WebhookEvent::parse(FAILURE.as_bytes()).unwrap();
        assert_eq!(e.kind(), EventKind::Failure);
        assert_eq!(e.connector_id.as_deref(), Some("empty_bount"));
        assert_eq!(e.task_type(), Some("reconnect_warehouse"));
        assert_eq!(e.group(), Some("deck_enjoy"));
    }

    #[test]
    fn kinds() {
        let k = |body: &str| WebhookEvent::parse(body.as_bytes()).unwrap().0.kind();
        assert_eq!(
            k(r#"{"event":"test_event","created":"<timestamp>"}"#),
            EventKind::Probe
        );
        assert_eq!(
            k(r#"{"event":"sync_end","data":{"status":"SUCCESSFUL"}}"#),
            EventKind::Success
        );
        assert_eq!(
            k(r#"{"event":"connection_successful"}"#),
            EventKind::Success
        );
        assert_eq!(
            k(r#"{"event":"sync_end","data":{"status":"RESCHEDULED"}}"#),
            EventKind::Recorded
        );
        assert_eq!(
            k(r#"{"event":"sync_end","data":{"status":"FAILURE"}}"#),
            EventKind::Failure
        );
        assert_eq!(k(r#"{"event":"connection_failure"}"#), EventKind::Failure);
        assert_eq!(k(r#"{"event":"sync_start"}"#), EventKind::Recorded);
        assert_eq!(k(r#"{"event":"brand_new_thing"}"#), EventKind::Unknown);
    }

    #[test]
    fn odd_shapes_do_not_fail_parsing() {
        let (e, _) = WebhookEvent::parse(
            br#"{"event":"sync_end","connector_id":123,"data":"not-an-object","sync_id":null}"#,
        )
        .unwrap();
        assert_eq!(e.connector_id.as_deref(), Some("123"));
        assert!(e.data.is_none());
        assert!(WebhookEvent::parse(b"{").is_err());
        assert!(WebhookEvent::parse(b"[]").is_err());
        assert!(WebhookEvent::parse(br#"{"event":""}"#).is_err());
        let deep = format!(
            "{{\"event\":\"x\",\"a\":{}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(matches!(
            WebhookEvent::parse(deep.as_bytes()),
            Err(ParseError::TooDeep(_))
        ));
    }

    #[test]
    fn dedupe_key_is_stable_and_distinguishes() {
        let (a, _) = WebhookEvent::parse(FAILURE.as_bytes()).unwrap();
        let (b, _) = WebhookEvent::parse(FAILURE.as_bytes()).unwrap();
        assert_eq!(a.dedupe_key(), b.dedupe_key());
        let mut c = a.clone();
        c.sync_id = Some("other".into());
        assert_ne!(a.dedupe_key(), c.dedupe_key());
    }
}
