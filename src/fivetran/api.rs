//! Typed client for Fivetran's REST API (`/v1/connections/...`). One attempt per call: retry
//! policy lives with the caller, which knows whether a call is safe to repeat and can wait
//! durably (a rescheduled job) instead of holding a task asleep. Every call passes the
//! [`Gate`] first (Retry-After, remaining budget, circuit breaker), so a wait Fivetran asked
//! for is honoured by every caller, not just the one that got the 429.

use super::gate::{Gate, Hold, Sent};
use super::model::{Connection, Envelope};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const ACCEPT: &str = "application/json;version=2";

/// A Fivetran request exactly as it will be sent (and as it is shown to the approver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    pub method: String,
    pub path: String,
    pub body: Option<serde_json::Value>,
}

impl ApiCall {
    pub fn display(&self) -> String {
        match &self.body {
            Some(b) => format!("{} {} {}", self.method, self.path, b),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// The outcome of a call that got an HTTP answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: u16,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ApiError {
    /// 429: the caller must not call again before `retry_after`.
    #[error("rate limited by Fivetran; retry after {}s", retry_after.as_secs())]
    RateLimited {
        retry_after: Duration,
        response: ApiResponse,
    },
    /// 5xx: Fivetran failed; the request may or may not have taken effect.
    #[error("Fivetran answered {} {}: {}", response.status, response.code, response.message)]
    Server { response: ApiResponse },
    /// 4xx other than 429: this request will not succeed as sent.
    #[error("Fivetran refused the request: {} {}: {}", response.status, response.code, response.message)]
    Refused { response: ApiResponse },
    /// The connection failed or timed out before an answer; `sent` says whether the request
    /// may have reached Fivetran.
    #[error("could not reach Fivetran: {message}")]
    Transport { message: String, sent: bool },
    #[error("unexpected answer from Fivetran: {0}")]
    Decode(String),
    /// Not sent: the gate holds calls for `wait` (Retry-After, low budget, breaker open).
    /// Nothing reached Fivetran, so any call may be retried after the wait.
    #[error("not sent to Fivetran: {hold}; next try in {}s", wait.as_secs().max(1))]
    Deferred { wait: Duration, hold: Hold },
}

impl ApiError {
    /// For an error that means "not done, try again after this" (a 429, or a call our gate
    /// held back), how long to wait.
    pub fn wait(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            ApiError::Deferred { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::RateLimited { response, .. }
            | ApiError::Server { response }
            | ApiError::Refused { response } => Some(response.status),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct FivetranClient {
    http: reqwest::Client,
    base: String,
    key: Secret,
    secret: Secret,
    gate: Gate,
}

pub const RATE_LIMIT_REMAINING: &str = "x-rate-limit-remaining";

/// Connection ids go into URL paths; anything outside Fivetran's id alphabet is refused
/// rather than escaped, so a crafted id can never address another resource.
pub fn is_valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Default wait when a 429 comes without a usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

impl FivetranClient {
    pub fn new(base: &str, key: Secret, secret: Secret, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("syncwarden/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
            secret,
            gate: Gate::new(std::sync::Arc::new(crate::clock::SystemClock)),
        })
    }

    /// Uses `clock` for Retry-After, pacing and the breaker (tests pass a manual clock).
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.gate = Gate::new(clock);
        self
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    pub async fn get_connection(&self, id: &str) -> Result<Connection, ApiError> {
        if !is_valid_connection_id(id) {
            return Err(ApiError::Decode(format!("invalid connection id {id:?}")));
        }
        let body = self.get(format!("/v1/connections/{id}")).await?;
        let envelope: Envelope<Connection> =
            serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))?;
        envelope
            .data
            .ok_or_else(|| ApiError::Decode("response has no `data`".into()))
    }

    /// One page of `GET /v1/connections`, as its raw body (callers read the items one by one).
    /// It goes through the same gate as every other call: Retry-After, the rate budget and the
    /// breaker hold it back too.
    pub async fn list_connections_page(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<bytes::Bytes, ApiError> {
        let query = {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("limit", &limit.to_string());
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
            q.finish()
        };
        self.get(format!("/v1/connections?{query}")).await
    }

    /// A read: its body if Fivetran answered 2xx.
    async fn get(&self, path: String) -> Result<bytes::Bytes, ApiError> {
        let call = ApiCall {
            method: "GET".into(),
            path,
            body: None,
        };
        let (status, headers, body) = self.raw(&call).await?;
        check_status(status, &headers, &body, self.gate.now())?;
        Ok(body)
    }

    /// Sends a mutating call once.
    pub async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ApiError> {
        let (status, headers, body) = self.raw(call).await?;
        check_status(status, &headers, &body, self.gate.now())
    }

    async fn raw(
        &self,
        call: &ApiCall,
    ) -> Result<(u16, reqwest::header::HeaderMap, bytes::Bytes), ApiError> {
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|_| ApiError::Decode(format!("bad method {}", call.method)))?;
        self.gate
            .admit()
            .map_err(|(wait, hold)| ApiError::Deferred { wait, hold })?;
        let result = self.send_once(method, call).await;
        match &result {
            Ok((status, headers, _)) => self.gate.record(
                Sent::Answered {
                    status: *status,
                    retry_after: retry_after(headers, self.gate.now()),
                    remaining: headers
                        .get(RATE_LIMIT_REMAINING)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse().ok()),
                },
                &format!("HTTP {status}"),
            ),
            Err(e) => self.gate.record(Sent::Failed, &e.to_string()),
        }
        result
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        call: &ApiCall,
    ) -> Result<(u16, reqwest::header::HeaderMap, bytes::Bytes), ApiError> {
        let url = format!("{}{}", self.base, call.path);
        let mut req = self
            .http
            .request(method, &url)
            .basic_auth(self.key.expose(), Some(self.secret.expose()))
            .header(reqwest::header::ACCEPT, ACCEPT);
        if let Some(body) = &call.body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ApiError::Transport {
            // A connect error means nothing reached Fivetran; anything later might have.
            sent: !e.is_connect(),
            message: describe_reqwest_error(&e),
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| ApiError::Transport {
            sent: true,
            message: describe_reqwest_error(&e),
        })?;
        Ok((status, headers, body))
    }
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL, which is ours and holds no credentials (Basic auth
    // travels in a header), so it is safe to log.
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("connection failed: {e}")
    } else {
        e.to_string()
    }
}

#[derive(Deserialize, Default)]
struct CodeMessage {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

fn check_status(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ApiResponse, ApiError> {
    let cm: CodeMessage = serde_json::from_slice(body).unwrap_or_default();
    let response = ApiResponse {
        status,
        code: cm.code,
        message: cm.message,
    };
    match status {
        200..=299 => Ok(response),
        429 => Err(ApiError::RateLimited {
            retry_after: retry_after(headers, now).unwrap_or(DEFAULT_RETRY_AFTER),
            response,
        }),
        500..=599 => Err(ApiError::Server { response }),
        _ => Err(ApiError::Refused { response }),
    }
}

/// `Retry-After` in seconds (Fivetran's form) or as an HTTP date, capped at a day.
pub fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(
        delta
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(24 * 3600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_path_safe() {
        assert!(is_valid_connection_id("speak_inexpensive"));
        assert!(is_valid_connection_id("4107c213907114059a5544ad8fa66c52"));
        for bad in ["", "a/b", "..", "x?y", "a b", "é", &"x".repeat(65)] {
            assert!(!is_valid_connection_id(bad), "{bad}");
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        let body = br#"{"code":"TooManyRequests","message":"slow down"}"#;
        match check_status(429, &h, body, chrono::Utc::now()) {
            Err(ApiError::RateLimited {
                retry_after,
                response,
            }) => {
                assert_eq!(retry_after, Duration::from_secs(7));
                assert_eq!(response.code, "TooManyRequests");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_status(429, &reqwest::header::HeaderMap::new(), b"", chrono::Utc::now()),
            Err(ApiError::RateLimited { retry_after, .. }) if retry_after == DEFAULT_RETRY_AFTER
        ));
        assert!(matches!(
            check_status(503, &h, b"x", chrono::Utc::now()),
            Err(ApiError::Server { .. })
        ));
        assert!(matches!(
            check_status(409, &h, b"{}", chrono::Utc::now()),
            Err(ApiError::Refused { .. })
        ));
        assert_eq!(
            check_status(200, &h, br#"{"code":"Success"}"#, chrono::Utc::now())
                .unwrap()
                .code,
            "Success"
        );
    }
}
