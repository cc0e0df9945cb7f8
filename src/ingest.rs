//! Fivetran webhook intake: verified and parsed by the HTTP handler, made durable here before
//! the sender gets its 2xx.

use crate::app::SharedState;
use crate::fivetran::webhook::{EventKind, WebhookEvent};
use crate::store::audit::AuditEntry;
use crate::store::events::StoredEvent;
use crate::store::jobs::JobKind;
use crate::store::{StoreError, Tx, TxResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Accepted { event_id: u64, kind: EventKind },
    Duplicate { event_id: u64 },
}

/// Whether a failure gets diagnosed (it needs a connector to look at).
fn diagnoses(event: &WebhookEvent) -> bool {
    event.kind() == EventKind::Failure && event.connector_id.is_some()
}

/// Records one delivery inside `tx`: the event, its audit record and, for a failure, the
/// diagnose job. A delivery already stored (same dedupe key) changes nothing.
pub fn record(
    tx: &Tx<'_>,
    event: &WebhookEvent,
    payload: &serde_json::Value,
) -> TxResult<Ingested> {
    let kind = event.kind();
    let dedupe_key = event.dedupe_key();
    if let Some(event_id) = tx.event_id_for_key(&dedupe_key)? {
        return Ok(Ingested::Duplicate { event_id });
    }
    let diagnose = diagnoses(event);
    let handling = match kind {
        EventKind::Probe => "probe",
        EventKind::Failure if diagnose => "diagnose",
        EventKind::Failure => "ignored: no connector_id",
        EventKind::Recorded => "recorded",
        EventKind::Unknown => "ignored: unknown event",
    };
    let id = tx.new_id()?;
    let stored = StoredEvent {
        id,
        received_at: tx.now,
        dedupe_key,
        event: event.event.clone(),
        connector_id: event.connector_id.clone(),
        connector_name: event.connector_name.clone(),
        connector_type: event.connector_type.clone(),
        sync_id: event.sync_id.clone(),
        status: event.status().map(str::to_string),
        handling: handling.to_string(),
        payload: payload.clone(),
    };
    tx.insert_event(&stored)?;
    tx.audit(
        AuditEntry::system("event_received")
            .connector(event.connector_id.as_deref())
            .event(id)
            .detail(serde_json::json!({
                "event": event.event,
                "status": event.status(),
                "sync_id": event.sync_id,
                "handling": handling,
            })),
    )?;
    if diagnose {
        tx.enqueue_now(JobKind::Diagnose { event_id: id })?;
    }
    Ok(Ingested::Accepted { event_id: id, kind })
}

pub async fn ingest(
    state: &SharedState,
    event: &WebhookEvent,
    payload: serde_json::Value,
) -> Result<Ingested, StoreError> {
    // Acknowledge only what is on disk (a duplicate too: its original may still be in
    // flight). Concurrent webhooks share one transaction and one flush.
    let owned = event.clone();
    let result = state
        .store
        .transact_durable(state.now(), move |tx| record(tx, &owned, &payload))
        .await?;
    if matches!(result, Ingested::Accepted { .. }) && diagnoses(event) {
        state.jobs_ready.notify_one();
    }
    Ok(result)
}
