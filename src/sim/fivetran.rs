//! Fivetran REST API simulator: `/v1/connections/...` with HTTP Basic auth, the
//! `{code, message, data}` envelope, 404 for the retired `/v1/connectors` paths, 409 when a
//! sync cannot be scheduled, 429 with `Retry-After`, and `X-Rate-Limit-*` headers.

use super::{take_fault, Fault};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
    /// When it arrived, by the simulator's clock (the test's manual clock, if set).
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Inner {
    connections: BTreeMap<String, Value>,
    requests: Vec<RecordedRequest>,
    faults: Vec<Fault>,
    rate_limit_remaining: u64,
    /// Largest page `GET /v1/connections` returns whatever `limit` asks for (as a server may).
    page_cap: Option<usize>,
    clock: Option<crate::clock::SharedClock>,
}

#[derive(Clone)]
pub struct FivetranSim {
    inner: Arc<Mutex<Inner>>,
    key: String,
    secret: String,
}

pub const RATE_LIMIT: u64 = 20_000;

impl FivetranSim {
    pub fn new(key: &str, secret: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                rate_limit_remaining: RATE_LIMIT,
                ..Inner::default()
            })),
            key: key.into(),
            secret: secret.into(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection, shaped like `GET /v1/connections/{id}`'s `data`.
    pub fn add_connection(&self, data: Value) {
        let id = data
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        self.lock().connections.insert(id, data);
    }

    /// A connection modelled on the official response example, with the given id and state.
    pub fn connection_template(id: &str, schema: &str, service: &str) -> Value {
        json!({
            "id": id,
            "group_id": "projected_sickle",
            "service": service,
            "service_version": 0,
            "schema": schema,
            "connected_by": "monitoring_assuring",
            "created_at": "2023-12-01T15:43:29.013729Z",
            "succeeded_at": "2024-03-17T12:31:40.870504Z",
            "failed_at": "2024-04-01T18:13:25.043659Z",
            "paused": false,
            "pause_after_trial": false,
            "schedule_type": "auto",
            "sync_frequency": 360,
            "data_delay_sensitivity": "NORMAL",
            "networking_method": "Directly",
            "status": {
                "setup_state": "connected",
                "sync_state": "scheduled",
                "update_state": "delayed",
                "is_historical_sync": false,
                "tasks": [],
                "warnings": []
            },
            "setup_tests": [],
            "config": {}
        })
    }

    /// Makes `GET /v1/connections` return at most `n` items per page, so clients must follow
    /// `next_cursor`.
    pub fn set_page_cap(&self, n: usize) {
        self.lock().page_cap = Some(n.max(1));
    }

    /// The body `GET /v1/connections` would answer with now (first page), e.g. to hand to a
    /// slow [`Fault`].
    pub fn list_body(&self) -> Value {
        let inner = self.lock();
        list(&inner.connections, None, inner.page_cap).1
    }

    pub fn connection(&self, id: &str) -> Option<Value> {
        self.lock().connections.get(id).cloned()
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Stamps recorded requests with `clock` instead of the system clock.
    pub fn set_clock(&self, clock: crate::clock::SharedClock) {
        self.lock().clock = Some(clock);
    }

    /// What the next answers report in `X-Rate-Limit-Remaining` (counting down from `n`).
    pub fn set_rate_limit_remaining(&self, n: u64) {
        self.lock().rate_limit_remaining = n;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut self.lock().requests)
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.key, self.secret))
        );
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected)
    }
}

fn envelope(
    status: StatusCode,
    code: &str,
    message: &str,
    data: Option<Value>,
) -> (StatusCode, Value) {
    let mut body = json!({ "code": code, "message": message });
    if let Some(d) = data {
        body["data"] = d;
    }
    (status, body)
}

async fn handle(
    State(sim): State<FivetranSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parsed_body: Option<Value> = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .unwrap_or(Value::String(String::from_utf8_lossy(&body).into())),
        )
    };
    let fault = take_fault(&mut sim.lock().faults, method.as_str(), &path);
    if let Some(f) = &fault {
        if f.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(f.delay_ms)).await;
        }
    }

    let (status, json_body, retry_after) = if !sim.authorized(&headers) {
        let (s, b) = envelope(
            StatusCode::UNAUTHORIZED,
            "AuthFailed",
            "Authentication failed: invalid API key or secret",
            None,
        );
        (s, b, None)
    } else if let Some(f) = fault {
        (
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            f.body.clone(),
            f.retry_after,
        )
    } else {
        let (s, b) = route(&sim, &method, &path, uri.query(), parsed_body.as_ref());
        (s, b, None)
    };

    let remaining = {
        let mut inner = sim.lock();
        inner.rate_limit_remaining = inner.rate_limit_remaining.saturating_sub(1);
        let at = inner
            .clock
            .as_ref()
            .map_or_else(chrono::Utc::now, |c| c.now());
        inner.requests.push(RecordedRequest {
            at,
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().map(str::to_string),
            authorization: header("authorization"),
            accept: header("accept"),
            content_type: header("content-type"),
            body: parsed_body,
            status: status.as_u16(),
        });
        inner.rate_limit_remaining
    };
    let mut resp = (status, axum::Json(json_body)).into_response();
    let h = resp.headers_mut();
    h.insert("x-rate-limit", RATE_LIMIT.into());
    h.insert("x-rate-limit-remaining", remaining.into());
    if let Some(secs) = retry_after {
        h.insert("retry-after", secs.into());
    }
    resp
}

fn route(
    sim: &FivetranSim,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let not_found = || {
        envelope(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Path {path} not found"),
            None,
        )
    };
    let Some(rest) = path.strip_prefix("/v1/connections") else {
        return not_found();
    };
    let parts: Vec<&str> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut inner = sim.lock();
    if parts.is_empty() {
        if method != Method::GET {
            return not_found();
        }
        return list(&inner.connections, query, inner.page_cap);
    }
    let id = parts[0].to_string();
    let Some(conn) = inner.connections.get_mut(&id) else {
        return envelope(
            StatusCode::NOT_FOUND,
            "NotFound_Connector",
            &format!("Connector with id '{id}' does not exist."),
            None,
        );
    };
    let paused = conn
        .get("paused")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    match (method.as_str(), &parts[1..]) {
        ("GET", []) => envelope(
            StatusCode::OK,
            "Success",
            "Connection details retrieved successfully",
            Some(conn.clone()),
        ),
        ("PATCH", []) => {
            let Some(Value::Object(changes)) = body else {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    "Request body must be a JSON object",
                    None,
                );
            };
            for (k, v) in changes {
                match k.as_str() {
                    "paused" if v.is_boolean() => conn["paused"] = v.clone(),
                    "sync_frequency" => {
                        let allowed = [1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440];
                        if !v.as_u64().is_some_and(|n| allowed.contains(&n)) {
                            return envelope(
                                StatusCode::BAD_REQUEST,
                                "InvalidInput",
                                "Invalid sync_frequency",
                                None,
                            );
                        }
                        conn["sync_frequency"] = v.clone();
                    }
                    _ => {}
                }
            }
            envelope(
                StatusCode::OK,
                "Success",
                "Connection has been updated",
                Some(conn.clone()),
            )
        }
        ("POST", ["sync"]) => {
            if paused {
                return envelope(
                    StatusCode::CONFLICT,
                    "Conflict",
                    &format!("Cannot sync connection with id '{id}': it is paused"),
                    None,
                );
            }
            conn["status"]["sync_state"] = json!("syncing");
            envelope(
                StatusCode::OK,
                "Success",
                &format!("Sync has been successfully triggered for connection with id '{id}'"),
                None,
            )
        }
        ("POST", ["test"]) => {
            if body.is_none() {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    "Request body is required",
                    None,
                );
            }
            envelope(
                StatusCode::OK,
                "Success",
                "Setup tests were completed",
                Some(conn.clone()),
            )
        }
        ("POST", ["schemas", "reload"]) => envelope(
            StatusCode::OK,
            "Success",
            "Connection schema config has been reloaded",
            Some(json!({"enable_new_by_default": true, "schemas": {}})),
        ),
        ("POST", ["resync"]) | ("POST", ["schemas", "tables", "resync"]) => {
            if paused {
                return envelope(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "Re-sync cannot be scheduled for a paused connection",
                    None,
                );
            }
            envelope(
                StatusCode::OK,
                "Success",
                &format!("Re-sync has been triggered successfully for connection with id '{id}'"),
                None,
            )
        }
        _ => not_found(),
    }
}

fn list(
    connections: &BTreeMap<String, Value>,
    query: Option<&str>,
    page_cap: Option<usize>,
) -> (StatusCode, Value) {
    let params: BTreeMap<String, String> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return envelope(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "limit must be between 1 and 1000",
            None,
        );
    }
    let limit = limit.min(page_cap.unwrap_or(limit));
    let start = params.get("cursor").cloned().unwrap_or_default();
    let mut items: Vec<Value> = connections
        .range(start..)
        .map(|(_, v)| v.clone())
        .take(limit + 1)
        .collect();
    let next = if items.len() > limit {
        items
            .pop()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
    } else {
        None
    };
    let mut data = json!({ "items": items });
    if let Some(n) = next {
        data["next_cursor"] = json!(n);
    }
    envelope(
        StatusCode::OK,
        "Success",
        "Connections retrieved successfully",
        Some(data),
    )
}
