//! Slack Web API simulator (`/api/chat.postMessage`, `chat.update`, `chat.postEphemeral`,
//! `auth.test`, `usergroups.users.list`): Bearer-token auth with Slack's `{ok:false,error}`
//! answers, 429 with `Retry-After`, JSON or form bodies, GET query arguments. Also signs requests the way Slack signs them, so tests
//! and the demo can click buttons through the real verifier.

use super::{take_fault, Fault};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub struct SlackCall {
    /// `chat.postMessage`, `chat.update`, `chat.postEphemeral`, ...
    pub method: String,
    pub body: Value,
    /// The message's ts (for post and update).
    pub ts: Option<String>,
    pub ok: bool,
    /// When the simulator received it (for latency measurements).
    pub received: std::time::Instant,
    /// When it arrived, by the simulator's clock (the test's manual clock, if set).
    pub at: chrono::DateTime<chrono::Utc>,
}

impl SlackCall {
    /// The parent message's ts, for a thread reply.
    pub fn thread_ts(&self) -> Option<&str> {
        self.body.get("thread_ts").and_then(|t| t.as_str())
    }

    pub fn channel(&self) -> Option<&str> {
        self.body.get("channel").and_then(|c| c.as_str())
    }

    pub fn text(&self) -> &str {
        self.body.get("text").and_then(|c| c.as_str()).unwrap_or("")
    }

    /// The proposal id the message's Approve button is for (its value without the pinned
    /// call hash).
    pub fn proposal_id(&self) -> Option<String> {
        let v = self
            .button_value(crate::slack::blocks::ACTION_APPROVE)
            .or_else(|| self.button_value(crate::slack::blocks::ACTION_UNDO))?;
        Some(v.split(':').next().unwrap_or_default().to_string())
    }

    /// Every `value` carried by the message's buttons, by `action_id`.
    pub fn button_value(&self, action_id: &str) -> Option<String> {
        self.body
            .get("blocks")?
            .as_array()?
            .iter()
            .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("actions"))
            .flat_map(|b| {
                b.get("elements")
                    .and_then(|e| e.as_array())
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|e| e.get("action_id").and_then(|a| a.as_str()) == Some(action_id))
            .and_then(|e| e.get("value").and_then(|v| v.as_str()).map(str::to_string))
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<SlackCall>,
    faults: Vec<Fault>,
    next_ts: u64,
    /// Messages by (channel, ts), as last posted or updated.
    messages: Vec<(String, String, Value)>,
    clock: Option<crate::clock::SharedClock>,
    /// User groups (`S…`) and their members, for `usergroups.users.list`.
    usergroups: std::collections::BTreeMap<String, Vec<String>>,
}

impl Inner {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock
            .as_ref()
            .map_or_else(chrono::Utc::now, |c| c.now())
    }
}

#[derive(Clone)]
pub struct SlackSim {
    inner: Arc<Mutex<Inner>>,
    token: String,
    /// Woken on every recorded call, so tests can wait for background answers without sleeping.
    changed: Arc<tokio::sync::Notify>,
}

/// The `method` recorded for a POST to a slash command's or interaction's `response_url`.
pub const RESPONSE_URL: &str = "response_url";

pub const BOT_USER: &str = "U0SYNCBOT1";
pub const BOT_ID: &str = "B0BOTID001";

impl SlackSim {
    pub fn new(token: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                next_ts: 1,
                ..Inner::default()
            })),
            token: token.into(),
            changed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/api/{method}", axum::routing::post(handle).get(handle))
            .route("/commands/{*rest}", axum::routing::post(response_url))
            .route("/actions/{*rest}", axum::routing::post(response_url))
            .layer(axum::middleware::map_response_with_state(
                self.clone(),
                |State(sim): State<SlackSim>, resp: Response| async move {
                    sim.changed.notify_waiters();
                    resp
                },
            ))
            .with_state(self.clone())
    }

    /// A `response_url` for a command from `channel`, served by this simulator at `addr`.
    pub fn response_url_for(addr: std::net::SocketAddr, channel: &str) -> String {
        format!("http://{addr}/commands/T0TEAM0001/{channel}/AbCdEfGhIjKlMnOp")
    }

    /// Waits until at least `n` calls were recorded in total, or `timeout` passes. Returns
    /// whether they were.
    pub async fn wait_for_calls(&self, n: usize, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if self.lock().calls.len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.lock().calls.len() >= n;
            }
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Stamps recorded calls with `clock` instead of the system clock.
    pub fn set_clock(&self, clock: crate::clock::SharedClock) {
        self.lock().clock = Some(clock);
    }

    /// Forgets every message posted in `channel` (as if they were deleted).
    pub fn forget_messages(&self, channel: &str) {
        self.lock().messages.retain(|(c, _, _)| c != channel);
    }

    /// Creates or replaces a user group with these members.
    pub fn set_usergroup(&self, id: &str, users: &[&str]) {
        self.lock()
            .usergroups
            .insert(id.into(), users.iter().map(|u| u.to_string()).collect());
    }

    pub fn calls(&self) -> Vec<SlackCall> {
        self.lock().calls.clone()
    }

    pub fn take_calls(&self) -> Vec<SlackCall> {
        std::mem::take(&mut self.lock().calls)
    }

    /// The current content of a message, after all updates.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.lock()
            .messages
            .iter()
            .find(|(c, t, _)| c == channel && t == ts)
            .map(|(_, _, v)| v.clone())
    }
}

fn slack_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        body.to_string(),
    )
        .into_response()
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        return serde_json::from_slice(body).ok();
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        // Slack accepts `blocks` as a JSON string in form posts.
        let value = if k == "blocks" {
            serde_json::from_str(&v).unwrap_or(Value::String(v))
        } else {
            Value::String(v)
        };
        map.insert(k, value);
    }
    Some(Value::Object(map))
}

async fn handle(
    State(sim): State<SlackSim>,
    Path(method): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", sim.token));
    let mut parsed = parse_body(&headers, &body).unwrap_or(Value::Null);
    // Slack takes arguments from the query string as well (GET methods such as
    // usergroups.users.list).
    if let Some(q) = uri.query() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        if !pairs.is_empty() && !parsed.is_object() {
            parsed = Value::Object(serde_json::Map::new());
        }
        if let Some(map) = parsed.as_object_mut() {
            for (k, v) in pairs {
                map.insert(k, Value::String(v));
            }
        }
    }
    let fault = take_fault(&mut sim.lock().faults, "POST", &method);
    if let Some(f) = fault {
        if f.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(f.delay_ms)).await;
        }
        let mut inner = sim.lock();
        let at = inner.now();
        inner.calls.push(SlackCall {
            received: std::time::Instant::now(),
            at,
            method: method.clone(),
            body: parsed,
            ts: None,
            ok: false,
        });
        drop(inner);
        let mut resp = slack_json(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            f.body,
        );
        if let Some(secs) = f.retry_after {
            resp.headers_mut().insert("retry-after", secs.into());
        }
        return resp;
    }
    if !auth_ok {
        return slack_json(
            StatusCode::OK,
            json!({"ok": false, "error": "invalid_auth"}),
        );
    }
    let channel = parsed
        .get("channel")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let mut inner = sim.lock();
    let (ok, ts, answer) = match method.as_str() {
        "auth.test" => (
            true,
            None,
            json!({"ok": true, "user_id": BOT_USER, "bot_id": BOT_ID}),
        ),
        "chat.postMessage" | "chat.postEphemeral" if channel.is_empty() => (
            false,
            None,
            json!({"ok": false, "error": "channel_not_found"}),
        ),
        "chat.postMessage" if parsed.get("text").is_none() && parsed.get("blocks").is_none() => {
            (false, None, json!({"ok": false, "error": "no_text"}))
        }
        "chat.postMessage" => {
            let ts = format!("1732500000.{:06}", inner.next_ts);
            inner.next_ts += 1;
            inner
                .messages
                .push((channel.clone(), ts.clone(), parsed.clone()));
            let mut message = json!({
                "type": "message",
                "subtype": "bot_message",
                "text": parsed.get("text").cloned().unwrap_or(json!("")),
                "blocks": parsed.get("blocks").cloned().unwrap_or(json!([])),
                "ts": ts,
                "user": BOT_USER,
                "bot_id": BOT_ID,
            });
            // A reply echoes the thread it went to, as Slack does.
            if let Some(thread) = parsed.get("thread_ts").filter(|t| t.is_string()) {
                message["thread_ts"] = thread.clone();
            }
            (
                true,
                Some(ts.clone()),
                json!({"ok": true, "channel": channel, "ts": ts, "message": message}),
            )
        }
        "chat.update" => {
            let ts = parsed
                .get("ts")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_string();
            match inner
                .messages
                .iter_mut()
                .find(|(c, t, _)| *c == channel && *t == ts)
            {
                Some(entry) => {
                    entry.2 = parsed.clone();
                    let message = json!({
                        "text": parsed.get("text").cloned().unwrap_or(json!("")),
                        "blocks": parsed.get("blocks").cloned().unwrap_or(json!([])),
                        "user": BOT_USER,
                        "bot_id": BOT_ID,
                    });
                    (
                        true,
                        Some(ts.clone()),
                        json!({"ok": true, "channel": channel, "ts": ts, "text": message["text"], "message": message}),
                    )
                }
                None => (
                    false,
                    None,
                    json!({"ok": false, "error": "message_not_found"}),
                ),
            }
        }
        "conversations.history" if channel.is_empty() => (
            false,
            None,
            json!({"ok": false, "error": "channel_not_found"}),
        ),
        "conversations.history" => {
            let limit = parsed
                .get("limit")
                .and_then(|l| {
                    l.as_u64()
                        .or_else(|| l.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(100)
                .clamp(1, 999) as usize;
            let with_metadata =
                matches!(parsed.get("include_all_metadata"), Some(Value::Bool(true)))
                    || parsed.get("include_all_metadata").and_then(|v| v.as_str()) == Some("true");
            // Parent messages only, newest first, as Slack lists them.
            let messages: Vec<Value> = inner
                .messages
                .iter()
                .rev()
                .filter(|(c, _, m)| *c == channel && m.get("thread_ts").is_none())
                .take(limit)
                .map(|(_, ts, m)| {
                    let mut v = json!({
                        "type": "message",
                        "subtype": "bot_message",
                        "ts": ts,
                        "text": m.get("text").cloned().unwrap_or(json!("")),
                        "bot_id": BOT_ID,
                    });
                    if let Some(md) = m.get("metadata").filter(|_| with_metadata) {
                        v["metadata"] = md.clone();
                    }
                    v
                })
                .collect();
            (
                true,
                None,
                json!({"ok": true, "messages": messages, "has_more": false, "pin_count": 0}),
            )
        }
        "usergroups.users.list" => match parsed.get("usergroup").and_then(|g| g.as_str()) {
            None | Some("") => (
                false,
                None,
                json!({"ok": false, "error": "missing_argument"}),
            ),
            Some(g) => match inner.usergroups.get(g) {
                Some(users) => (true, None, json!({"ok": true, "users": users})),
                None => (
                    false,
                    None,
                    json!({"ok": false, "error": "no_such_subteam"}),
                ),
            },
        },
        "chat.postEphemeral" => {
            let ts = format!("1732500000.{:06}", inner.next_ts);
            inner.next_ts += 1;
            (true, None, json!({"ok": true, "message_ts": ts}))
        }
        _ => (false, None, json!({"ok": false, "error": "unknown_method"})),
    };
    let at = inner.now();
    inner.calls.push(SlackCall {
        received: std::time::Instant::now(),
        at,
        method,
        body: parsed,
        ts,
        ok,
    });
    slack_json(StatusCode::OK, answer)
}

/// A POST to a `response_url` (slash command or interaction answer): recorded as a call with
/// method [`RESPONSE_URL`] and the JSON body; Slack answers `ok`.
async fn response_url(State(sim): State<SlackSim>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = parse_body(&headers, &body);
    let ok = parsed.as_ref().is_some_and(|v| v.is_object());
    let mut inner = sim.lock();
    let at = inner.now();
    inner.calls.push(SlackCall {
        received: std::time::Instant::now(),
        at,
        method: RESPONSE_URL.into(),
        body: parsed.unwrap_or(Value::Null),
        ts: None,
        ok,
    });
    drop(inner);
    if ok {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "invalid_payload").into_response()
    }
}

/// A slash-command form as Slack posts it (see `tests/data/slack/signed_slash_command.body`).
pub fn command_body(
    command: &str,
    text: &str,
    user_id: &str,
    channel_id: &str,
    response_url: &str,
) -> Vec<u8> {
    serde_urlencoded::to_string([
        ("token", "ignored-verification-token"),
        ("team_id", "T0TEAM0001"),
        ("team_domain", "acme-data"),
        ("channel_id", channel_id),
        ("channel_name", "data-alerts"),
        ("user_id", user_id),
        ("user_name", &user_id.to_lowercase()),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0APPID001"),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        (
            "trigger_id",
            "8210000000003.7000000000001.abcdef0123456789abcdef0123456789",
        ),
    ])
    .unwrap_or_default()
    .into_bytes()
}

/// Headers Slack would send with `body` at time `timestamp`.
pub fn signed_headers(signing_secret: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let ts = timestamp.to_string();
    vec![
        (
            "x-slack-signature".into(),
            crate::slack::signature::sign(signing_secret.as_bytes(), &ts, body),
        ),
        ("x-slack-request-timestamp".into(), ts),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
    ]
}

/// A `block_actions` payload for one button click, shaped like Slack's (see
/// `tests/data/slack/block_actions.json`), form-encoded as Slack posts it.
pub fn click_body(
    user_id: &str,
    action_id: &str,
    value: &str,
    channel: &str,
    message_ts: &str,
) -> Vec<u8> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.to_lowercase(), "name": user_id.to_lowercase(), "team_id": "T0TEAM0001"},
        "api_app_id": "A0APPID001",
        "token": "ignored-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": "8210000000001.7000000000001.abcdef0123456789abcdef0123456789",
        "team": {"id": "T0TEAM0001", "domain": "acme-data"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": channel, "name": "data-alerts"},
        "message": {"type": "message", "text": "alert", "ts": message_ts, "bot_id": BOT_ID, "blocks": []},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM0001/8210000000002/AbCdEfGhIjKlMnOpQrStUvWx",
        "actions": [{
            "type": "button",
            "action_id": action_id,
            "block_id": crate::slack::blocks::ACTIONS_BLOCK_ID,
            "text": {"type": "plain_text", "text": "Approve", "emoji": true},
            "value": value,
            "action_ts": "1732500042.123456"
        }]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())])
        .unwrap_or_default()
        .into_bytes()
}
