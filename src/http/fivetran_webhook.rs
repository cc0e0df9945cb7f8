//! `POST /webhooks/fivetran`

use super::json_error;
use crate::app::SharedState;
use crate::fivetran::webhook::{self, EventKind, WebhookEvent, SIGNATURE_HEADER};
use crate::ingest::{ingest, Ingested};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn receive(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = webhook::verify(
        state.secrets.fivetran_webhook_secret.expose().as_bytes(),
        &body,
        signature,
    ) {
        tracing::warn!(error = %e, bytes = body.len(), "refused Fivetran webhook");
        return json_error(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let (event, payload) = match WebhookEvent::parse(&body) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "malformed Fivetran webhook");
            return json_error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    match ingest(&state, &event, payload).await {
        Ok(Ingested::Accepted { event_id, kind }) => {
            // Routine syncs (most deliveries) would be a log line each at the default level;
            // they are in the store and the audit log, so only the rest (failures, probes,
            // account changes such as pause_connector or delete_connector, unknown events)
            // is logged at info.
            let routine_sync = event.event.starts_with("sync_")
                && matches!(kind, EventKind::Success | EventKind::Recorded);
            if routine_sync {
                tracing::debug!(event = %event.event, connector = ?event.connector_id, event_id, ?kind, "webhook accepted");
            } else {
                tracing::info!(event = %event.event, connector = ?event.connector_id, event_id, ?kind, "webhook accepted");
            }
            (
                StatusCode::OK,
                Json(serde_json::json!({ "status": "accepted", "event_id": event_id })),
            )
                .into_response()
        }
        Ok(Ingested::Duplicate { event_id }) => {
            tracing::info!(event = %event.event, connector = ?event.connector_id, event_id, "duplicate delivery ignored");
            (
                StatusCode::OK,
                Json(serde_json::json!({ "status": "duplicate", "event_id": event_id })),
            )
                .into_response()
        }
        Err(e) => {
            // Not acknowledged, so Fivetran retries: nothing is lost.
            tracing::error!(error = %e, "could not store webhook");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable; retry later",
            )
        }
    }
}
