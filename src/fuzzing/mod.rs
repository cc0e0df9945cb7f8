//! Fuzz entry points. Each takes arbitrary bytes, runs them through the same parse and verify
//! code the HTTP handlers run, and asserts what must hold for any input: no panic, a clear
//! error or a value within the limits, and signatures that accept exactly what was signed.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` only call these; `cargo test` runs them over
//! the seed corpus in `fuzz/corpus/` and over proptest-generated inputs (see the tests below),
//! so every invariant here is checked in CI too.

use crate::fivetran::webhook::{self, WebhookEvent, MAX_EVENT_CHARS, MAX_FIELD_CHARS};
use crate::limits::{
    json_depth, MAX_ACTION_ID_CHARS, MAX_ACTION_VALUE_CHARS, MAX_ID_CHARS, MAX_JSON_DEPTH,
    MAX_URL_CHARS,
};
use crate::remediation::action::{Action, SYNC_FREQUENCIES};
use crate::slack::command::{self, Command, Target, MAX_AUDIT_N};
use crate::slack::interaction::{self, Interaction};
use crate::slack::signature::{self, SlackSignatureError, MAX_SKEW_SECS};
use chrono::{DateTime, Utc};

const WEBHOOK_SECRET: &[u8] = b"fuzz-fivetran-webhook-secret";
const SIGNING_SECRET: &[u8] = b"fuzz-slack-signing-secret";
/// Longest error text a refusal may carry (it is logged and answered).
const MAX_ERROR_CHARS: usize = 400;

/// `POST /webhooks/fivetran`: the HMAC check, then the event parser.
pub fn webhook_body(data: &[u8]) {
    fivetran_signature(data);
    match WebhookEvent::parse(data) {
        Err(e) => assert_short_error(&e.to_string()),
        Ok((event, payload)) => {
            assert!(!event.event.trim().is_empty());
            assert!(event.event.len() <= MAX_EVENT_CHARS);
            let kept = MAX_FIELD_CHARS + '…'.len_utf8();
            for field in [
                &event.created,
                &event.connector_type,
                &event.connector_id,
                &event.connector_name,
                &event.sync_id,
                &event.destination_group_id,
                &event.group_id,
            ] {
                assert!(field.as_ref().is_none_or(|f| f.len() <= kept));
            }
            if let Some(d) = &event.data {
                for field in [&d.status, &d.reason, &d.task_type] {
                    assert!(field.as_ref().is_none_or(|f| f.len() <= kept));
                }
            }
            assert!(json_depth(&payload) <= MAX_JSON_DEPTH);
            // The payload is stored as JSON and the diagnose job reads the event back from it:
            // it must come back as the same event, or the job could never run.
            let stored = serde_json::to_vec(&payload).expect("a parsed payload serializes");
            let back: serde_json::Value =
                serde_json::from_slice(&stored).expect("a stored payload re-reads");
            assert_eq!(back, payload);
            let again: WebhookEvent =
                serde_json::from_value(back).expect("a stored payload is still an event");
            assert_eq!(again, event);
            assert_eq!(event.dedupe_key().len(), 64);
            let _ = event.kind();
        }
    }
}

fn fivetran_signature(body: &[u8]) {
    let sig = webhook::sign(WEBHOOK_SECRET, body);
    assert_eq!(webhook::verify(WEBHOOK_SECRET, body, Some(&sig)), Ok(()));
    assert_eq!(
        webhook::verify(WEBHOOK_SECRET, body, Some(&sig.to_lowercase())),
        Ok(())
    );
    assert_eq!(
        webhook::verify(b"another-secret", body, Some(&sig)),
        Err(webhook::SignatureError::Mismatch)
    );
    let mut longer = body.to_vec();
    longer.push(b' ');
    assert_eq!(
        webhook::verify(WEBHOOK_SECRET, &longer, Some(&sig)),
        Err(webhook::SignatureError::Mismatch)
    );
    // The input as a header: refused (unless it happens to be the right digest).
    if let Ok(header) = std::str::from_utf8(body) {
        let ok = webhook::verify(WEBHOOK_SECRET, b"{}", Some(header)).is_ok();
        let right = webhook::sign(WEBHOOK_SECRET, b"{}");
        let normalized = header.trim();
        let normalized = normalized.strip_prefix("sha256=").unwrap_or(normalized);
        assert_eq!(ok, normalized.eq_ignore_ascii_case(&right));
    }
}

/// `POST /slack/interactions`: the v0 signature, then the form and the payload inside it. The
/// bytes are tried both as the whole form body and as the JSON of its `payload` field.
pub fn interaction_payload(data: &[u8]) {
    slack_signature(data);
    check_interaction(data);
    let text = String::from_utf8_lossy(data);
    let form = serde_urlencoded::to_string([("payload", text.as_ref())])
        .expect("a string pair form-encodes");
    check_interaction(form.as_bytes());
}

fn check_interaction(body: &[u8]) {
    match interaction::parse(body) {
        Err(e) => assert_short_error(&e.to_string()),
        Ok(Interaction::Other(what)) => assert!(what.chars().count() <= MAX_ERROR_CHARS),
        Ok(Interaction::ViewSubmission(s)) => {
            let within = |v: &str, max: usize| !v.is_empty() && v.chars().count() <= max;
            assert!(within(&s.user_id, MAX_ID_CHARS));
            assert!(s.callback_id.chars().count() <= MAX_ACTION_ID_CHARS);
            assert!(s.private_metadata.chars().count() <= 3000);
            assert!(s.values.len() <= 100);
            assert!(s
                .values
                .iter()
                .all(|(_, v)| v.as_deref().is_none_or(|v| v.chars().count() <= 3000)));
        }
        Ok(Interaction::Click(c)) => {
            let within = |v: &str, max: usize| !v.is_empty() && v.chars().count() <= max;
            assert!(within(&c.user_id, MAX_ID_CHARS));
            assert!(within(&c.action_id, MAX_ACTION_ID_CHARS));
            assert!(c.value.chars().count() <= MAX_ACTION_VALUE_CHARS);
            assert!(c
                .channel_id
                .as_deref()
                .is_none_or(|v| v.chars().count() <= MAX_ID_CHARS));
            assert!(c
                .message_ts
                .as_deref()
                .is_none_or(|v| v.chars().count() <= MAX_ID_CHARS));
            assert!(c
                .response_url
                .as_deref()
                .is_none_or(|v| v.chars().count() <= MAX_URL_CHARS));
        }
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("in range")
}

fn slack_signature(body: &[u8]) {
    // A timestamp taken from the input, so the fuzzer varies it too.
    let seed = body
        .iter()
        .take(4)
        .fold(0i64, |a, b| a * 256 + i64::from(*b));
    let ts = 1_500_000_000 + seed;
    let ts_text = ts.to_string();
    let sig = signature::sign(SIGNING_SECRET, &ts_text, body);
    let verify = |now: i64, ts: &str, sig: &str, body: &[u8]| {
        signature::verify(SIGNING_SECRET, at(now), Some(ts), Some(sig), body)
    };
    assert_eq!(verify(ts, &ts_text, &sig, body), Ok(()));
    assert_eq!(verify(ts + MAX_SKEW_SECS, &ts_text, &sig, body), Ok(()));
    assert_eq!(verify(ts - MAX_SKEW_SECS, &ts_text, &sig, body), Ok(()));
    assert_eq!(
        verify(ts + MAX_SKEW_SECS + 1, &ts_text, &sig, body),
        Err(SlackSignatureError::Stale)
    );
    let mut longer = body.to_vec();
    longer.push(b'&');
    assert_eq!(
        verify(ts, &ts_text, &sig, &longer),
        Err(SlackSignatureError::Mismatch)
    );
    // The input as either header: never accepted, never a panic.
    if let Ok(header) = std::str::from_utf8(body) {
        assert!(verify(ts, header, &sig, b"x=1").is_err());
        assert!(verify(ts, &ts_text, header, b"x=1").is_err());
    }
}

/// `POST /slack/commands`: the form, then the `/fivetran` grammar on the text. Refusals must
/// render as a usage reply within Block Kit's limits, with no live mention in it.
pub fn command_text(data: &[u8]) {
    if let Err(e) = command::parse(data) {
        assert_short_error(&e);
    }
    let text = String::from_utf8_lossy(data);
    let parsed = command::parse_text(&text);
    match &parsed {
        Ok(cmd) => check_command(cmd),
        Err(e) => {
            assert_short_error(&e.to_string());
            let reply = crate::slack::replies::usage_error("/fivetran", e);
            let problems = crate::slack::blocks::limit_violations(&reply);
            assert!(problems.is_empty(), "{problems:?}");
            let rendered = reply.to_string();
            for live in ["<!", "<@", "<#"] {
                assert!(!rendered.contains(live), "{live} in {rendered}");
            }
        }
    }
    // Only words matter, not how they are spaced.
    let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(command::parse_text(&normalized), parsed);
}

fn check_connector_word(c: &str) {
    assert!(!c.is_empty() && c.len() <= 255, "{c:?}");
    assert!(!c.starts_with('<'));
    assert!(!c.chars().any(|ch| ch.is_whitespace() || ch.is_control()));
}

fn check_target(t: &Target) {
    match t {
        Target::Connector(c) => check_connector_word(c),
        Target::Group(g) => assert!(crate::fivetran::api::is_valid_connection_id(g)),
        Target::All => {}
    }
}

fn check_channel(c: &Option<String>) {
    if let Some(c) = c {
        assert_eq!(command::parse_channel(c).as_deref(), Some(c.as_str()));
    }
}

fn check_command(cmd: &Command) {
    match cmd {
        Command::Help => {}
        Command::Health { target } => {
            if let Some(t) = target {
                assert_ne!(t, &Target::All);
                check_target(t);
            }
        }
        Command::Status { connector } => check_connector_word(connector),
        Command::Subscribe { target, channel } | Command::Unsubscribe { target, channel } => {
            check_target(target);
            check_channel(channel);
        }
        Command::Subscriptions { channel } => check_channel(channel),
        Command::Propose { connector, action } => {
            check_connector_word(connector);
            assert!(action.validate().is_ok(), "{action:?}");
            if let Action::SetSyncFrequency { minutes } = action {
                assert!(SYNC_FREQUENCIES.contains(minutes));
            }
        }
        Command::Audit { connector, n } => {
            assert!((1..=MAX_AUDIT_N).contains(n));
            if let Some(c) = connector {
                check_connector_word(c);
            }
        }
        Command::Snooze {
            connector,
            duration,
        } => {
            check_connector_word(connector);
            assert!(!duration.is_zero() && *duration <= crate::incidents::snooze::MAX_SNOOZE);
        }
        Command::Unsnooze { connector } => check_connector_word(connector),
        Command::Mode { connector, .. } => check_connector_word(connector),
    }
}

fn assert_short_error(message: &str) {
    assert!(!message.is_empty());
    let n = message.chars().count();
    assert!(n <= MAX_ERROR_CHARS, "error of {n} chars: {message:.200}");
}

#[cfg(test)]
mod tests;
