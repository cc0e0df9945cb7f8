//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use crate::app::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers.
pub async fn readyz(State(state): State<SharedState>) -> Response {
    match state.store.next_due() {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

pub async fn metrics(State(state): State<SharedState>) -> Response {
    let jobs = state.store.jobs().map(|j| j.len()).unwrap_or(0);
    let body = format!(
        "# HELP syncwarden_events_stored Webhook events stored.\n\
         # TYPE syncwarden_events_stored gauge\n\
         syncwarden_events_stored {}\n\
         # HELP syncwarden_jobs_pending Jobs waiting in the durable queue.\n\
         # TYPE syncwarden_jobs_pending gauge\n\
         syncwarden_jobs_pending {}\n",
        state.store.event_count(),
        jobs
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}
