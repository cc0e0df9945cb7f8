//! Webhook bodies as Fivetran sends them (shapes from `tests/data/fivetran/webhooks/`), each
//! with a distinct `sync_id` and its `X-Fivetran-Signature-256`.

use bytes::Bytes;
use syncwarden::fivetran::webhook;
use syncwarden::sim::stack::WEBHOOK_SECRET;

/// The connector every successful sync belongs to.
pub const OK_CONNECTOR: &str = "speak_inexpensive";
pub const OK_NAME: &str = "pg_prod";
pub const GROUP: &str = "projected_sickle";
/// A failure the rules classify (network → retry), so alerts take the rules path.
pub const FAILURE_REASON: &str = "java.net.SocketTimeoutException: Read timed out";

pub struct Body {
    pub bytes: Bytes,
    pub signature: String,
    /// For a failure: the connector it is about (one failure per connector, so each one is
    /// its own incident and alert).
    pub alert_connector: Option<String>,
}

/// The id of the `n`th failing connector.
pub fn failing_connector(n: usize) -> String {
    format!("lg_fail_{n:05}")
}

/// Its destination group: one each, so no two alerts make a storm (storm grouping is a
/// deliberate delay, reported apart from the pipeline's latency).
pub fn failing_group(n: usize) -> String {
    format!("lg_group_{n:05}")
}

/// A uuid-shaped sync id, unique per (phase, i).
fn sync_id(phase: u8, i: usize) -> String {
    let x = i as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        0x5eed_0000u32 | u32::from(phase),
        (x >> 48) & 0xffff,
        (x >> 36) & 0xfff,
        (x >> 24) & 0xfff,
        x & 0xff_ffff_ffff
    )
}

/// The next body's `created`: now, or half a millisecond after the previous body's if that is
/// later, so times only move forward across phases and pre-fill batches (which are made faster
/// than half a millisecond per body, so they run ahead of the clock).
fn next_created() -> String {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST_MICROS: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = chrono::Utc::now().timestamp_micros();
    let prev = LAST_MICROS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(500)))
        })
        .unwrap_or(now);
    let micros = now.max(prev.saturating_add(500));
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Which bodies fail: an even spread, `share` of them (0 for none).
pub fn is_failure(i: usize, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let every = (1.0 / share).round().max(1.0) as usize;
    i % every == every / 2
}

/// Bodies number `range` of one phase. Successes alternate `sync_start` / successful
/// `sync_end`; failures (`FAILURE_WITH_TASK`) go to fresh connectors numbered from
/// `first_failure`. Each body's `created` is [`next_created`], so event times advance with
/// the events, as Fivetran's do.
pub fn make(
    phase: u8,
    range: std::ops::Range<usize>,
    failure_share: f64,
    first_failure: usize,
) -> Vec<Body> {
    let mut failures = first_failure;
    range
        .map(|i| {
            let created = next_created();
            let (value, alert_connector) = if is_failure(i, failure_share) {
                let id = failing_connector(failures);
                let group = failing_group(failures);
                failures += 1;
                let v = serde_json::json!({
                    "event": "sync_end", "created": created,
                    "connector_type": "postgres", "connector_id": id,
                    "connector_name": format!("postgres.{id}"), "sync_id": sync_id(phase, i),
                    "destination_group_id": group,
                    "data": {"status": "FAILURE_WITH_TASK", "reason": FAILURE_REASON, "taskType": "retry_sync"}
                });
                (v, Some(id))
            } else if i % 2 == 0 {
                let v = serde_json::json!({
                    "event": "sync_start", "created": created,
                    "connector_type": "postgres", "connector_id": OK_CONNECTOR,
                    "connector_name": OK_NAME, "sync_id": sync_id(phase, i),
                    "destination_group_id": GROUP
                });
                (v, None)
            } else {
                let v = serde_json::json!({
                    "event": "sync_end", "created": created,
                    "connector_type": "postgres", "connector_id": OK_CONNECTOR,
                    "connector_name": OK_NAME, "sync_id": sync_id(phase, i),
                    "destination_group_id": GROUP,
                    "data": {"status": "SUCCESSFUL"}
                });
                (v, None)
            };
            let bytes = Bytes::from(value.to_string());
            let signature = webhook::sign(WEBHOOK_SECRET.as_bytes(), &bytes);
            Body {
                bytes,
                signature,
                alert_connector,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn bodies_are_signed_distinct_and_fail_at_the_share_asked() {
        let bodies = make(1, 0..1000, 0.02, 7);
        let ids: HashSet<String> = bodies
            .iter()
            .map(|b| {
                let v: serde_json::Value = serde_json::from_slice(&b.bytes).unwrap();
                v["sync_id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1000);
        let failing: Vec<_> = bodies
            .iter()
            .filter_map(|b| b.alert_connector.clone())
            .collect();
        assert_eq!(failing.len(), 20);
        assert_eq!(failing[0], "lg_fail_00007");
        for b in &bodies {
            webhook::verify(WEBHOOK_SECRET.as_bytes(), &b.bytes, Some(&b.signature)).unwrap();
        }
    }
}
