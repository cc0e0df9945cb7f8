//! axum handlers only: parse, verify, hand over. No handler touches sled directly.

pub mod fivetran_webhook;
pub mod ops;
pub mod slack;

use crate::app::SharedState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use crate::limits::MAX_BODY_BYTES;

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/webhooks/fivetran", post(fivetran_webhook::receive))
        .route("/slack/interactions", post(slack::interactions))
        .route("/slack/commands", post(slack::commands))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(limit_headers))
        .with_state(state)
}

/// 431 for requests with too many or too large headers, before any handler runs.
async fn limit_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use crate::limits::{MAX_HEADERS, MAX_HEADER_BYTES};
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        tracing::warn!(
            headers = headers.len(),
            bytes,
            path = req.uri().path(),
            "refused request with oversized headers"
        );
        return json_error(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!("request headers exceed {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes"),
        );
    }
    next.run(req).await
}

pub(crate) fn json_error(
    status: axum::http::StatusCode,
    message: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
