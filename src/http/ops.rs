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
    let jobs = state.store.job_counts(state.now()).unwrap_or_default();
    let day = state.now().format("%Y-%m-%d").to_string();
    let (llm_tokens, llm_calls) = state.store.llm_usage_on(&day).unwrap_or((0, 0));
    let body = format!(
        "# HELP syncwarden_events_stored Webhook events stored.\n\
         # TYPE syncwarden_events_stored gauge\n\
         syncwarden_events_stored {}\n\
         # HELP syncwarden_jobs_pending Jobs due now or running.\n\
         # TYPE syncwarden_jobs_pending gauge\n\
         syncwarden_jobs_pending {}\n\
         # HELP syncwarden_jobs_scheduled Jobs scheduled for later (expiry, snooze end, grace, backoff).\n\
         # TYPE syncwarden_jobs_scheduled gauge\n\
         syncwarden_jobs_scheduled {}\n\
         # HELP syncwarden_jobs_dead Jobs in the dead-letter tree (see `syncwarden jobs list --dead`).\n\
         # TYPE syncwarden_jobs_dead gauge\n\
         syncwarden_jobs_dead {}\n\
         # HELP syncwarden_llm_calls_today LLM calls made today (UTC).\n\
         # TYPE syncwarden_llm_calls_today gauge\n\
         syncwarden_llm_calls_today {}\n\
         # HELP syncwarden_llm_tokens_today LLM tokens spent today (UTC).\n\
         # TYPE syncwarden_llm_tokens_today gauge\n\
         syncwarden_llm_tokens_today {}\n",
        state.store.event_count(),
        jobs.due,
        jobs.later,
        jobs.dead,
        llm_calls,
        llm_tokens
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
