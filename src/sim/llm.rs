//! OpenAI-compatible `/v1/chat/completions` simulator: Bearer auth, the chat-completion
//! response shape with `usage`, scripted answers (valid, invalid JSON, empty, slow, 429/500,
//! no structured-output support) and a recorded request log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub enum Script {
    /// Answer with this message content.
    Content(String),
    /// Answer after a delay.
    Slow {
        delay_ms: u64,
        content: Option<String>,
    },
    /// An HTTP error with OpenAI's error envelope (and `Retry-After` for 429).
    Status(u16),
    /// Reject `response_format: json_schema` with a 400, like endpoints without structured
    /// outputs; the retry with `json_object` gets the default answer.
    NoJsonSchema,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Script>,
    requests: Vec<Value>,
}

#[derive(Clone)]
pub struct LlmSim {
    inner: Arc<Mutex<Inner>>,
    key: String,
}

pub const TOKENS_PER_ANSWER: u32 = 420;

impl LlmSim {
    pub fn new(key: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            key: key.into(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(handle))
            .with_state(self.clone())
    }

    pub fn push(&self, s: Script) {
        self.lock().script.push_back(s);
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }
}

/// A plausible answer built from the request's context: names the classifier's category and
/// suggests the classifier's action when it maps to one call.
pub fn default_answer(request: &Value) -> String {
    let context: Value = request["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null);
    let category = context["classifier"]["category"]
        .as_str()
        .unwrap_or("unknown");
    let reason = context["reason"].as_str().unwrap_or("no reason given");
    let actions = match context["classifier"]["action"].as_str() {
        Some("retry_sync") | Some("retry_after_backoff") => {
            json!([{"action": "retry_sync", "params": {}, "rationale": "the failure looks momentary"}])
        }
        _ => json!([]),
    };
    json!({
        "root_cause": format!("Model analysis ({category}): {}", reason.chars().take(200).collect::<String>()),
        "evidence": [format!("reason mentions: {}", reason.chars().take(80).collect::<String>())],
        "category": category,
        "confidence": 0.8,
        "recommended_actions": actions,
    })
    .to_string()
}

fn completion(model: &str, content: &str) -> Value {
    json!({
        "id": "chatcmpl-sim",
        "object": "chat.completion",
        "created": 1_764_064_800,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
            "logprobs": null
        }],
        "usage": {"prompt_tokens": TOKENS_PER_ANSWER - 120, "completion_tokens": 120, "total_tokens": TOKENS_PER_ANSWER}
    })
}

fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
        ),
    )
        .into_response()
}

async fn handle(State(sim): State<LlmSim>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    sim.lock().requests.push(request.clone());
    if !sim.key.is_empty() && auth != format!("Bearer {}", sim.key) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided",
            "invalid_request_error",
        );
    }
    let model = request["model"].as_str().unwrap_or("sim").to_string();
    let wants_schema = request["response_format"]["type"] == "json_schema";
    let step = sim.lock().script.pop_front();
    match step {
        None => axum::Json(completion(&model, &default_answer(&request))).into_response(),
        Some(Script::Content(c)) => axum::Json(completion(&model, &c)).into_response(),
        Some(Script::Slow { delay_ms, content }) => {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            let c = content.unwrap_or_else(|| default_answer(&request));
            axum::Json(completion(&model, &c)).into_response()
        }
        Some(Script::Status(429)) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached", "rate_limit_error");
            r.headers_mut().insert("retry-after", 1.into());
            r
        }
        Some(Script::Status(code)) => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "The server had an error while processing your request",
            "server_error",
        ),
        Some(Script::NoJsonSchema) if wants_schema => error(
            StatusCode::BAD_REQUEST,
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
            "invalid_request_error",
        ),
        Some(Script::NoJsonSchema) => axum::Json(completion(&model, &default_answer(&request))).into_response(),
    }
}
