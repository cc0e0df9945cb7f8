//! Slack Web API calls through slack-morphism: post, update, ephemeral, user group members,
//! modals. One attempt per call; the job queue owns retries. Posting is paced per channel and
//! a 429's `Retry-After` holds every later call of that kind (see [`Pacer`]): a held call is
//! not sent and comes back as [`SlackError::RateLimited`] with the wait, exactly like Slack's
//! own 429.

use super::pacing::Pacer;
use crate::incidents::SlackRef;
use crate::secret::Secret;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// The part of a `chat.postMessage` answer syncwarden needs.
#[derive(Debug, serde::Deserialize)]
struct MessageAck {
    channel: String,
    ts: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SlackError {
    #[error("Slack rate limit; retry after {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("Slack API error: {0}")]
    Api(String),
    #[error("could not reach Slack: {0}")]
    Transport(String),
}

impl SlackError {
    /// Worth trying again later (as opposed to a request Slack will always refuse).
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::RateLimited { .. } | SlackError::Transport(_) => true,
            SlackError::Api(code) => matches!(
                code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ),
        }
    }
}

pub type Connector = SlackClientHyperConnector<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

#[derive(Clone)]
pub struct SlackWebClient {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    timeout: Duration,
    pacer: Arc<Pacer>,
}

fn post_key(channel: &str) -> String {
    format!("chat.postMessage:{channel}")
}

fn https_or_http(
) -> anyhow::Result<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>>
{
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        // No system trust store (minimal containers): plain-http endpoints such as the
        // simulators still work, and TLS endpoints fail with a clear error on first use.
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    };
    Ok(builder.https_or_http().enable_http1().build())
}

impl SlackWebClient {
    pub fn new(api_base: &str, token: &Secret, timeout: Duration) -> anyhow::Result<Self> {
        let connector = SlackClientHyperConnector::with_connector(https_or_http()?)
            .with_slack_api_url(api_base.trim_end_matches('/'));
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_string())),
            timeout,
            pacer: Arc::new(Pacer::new(Arc::new(crate::clock::SystemClock))),
        })
    }

    /// Uses `clock` for pacing and Retry-After (tests pass a manual clock).
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.pacer = Arc::new(Pacer::new(clock));
        self
    }

    /// Sends `fut` unless `key` is held; a 429 holds `key` for its Retry-After.
    async fn paced<T, F>(&self, key: &str, consume: bool, fut: F) -> Result<T, SlackError>
    where
        F: std::future::Future<Output = ClientResult<T>>,
    {
        let admitted = if consume {
            self.pacer.take(key)
        } else {
            self.pacer.check_blocked(key)
        };
        if let Err(retry_after) = admitted {
            tracing::debug!(
                key,
                wait_ms = retry_after.as_millis() as u64,
                "Slack call held"
            );
            return Err(SlackError::RateLimited { retry_after });
        }
        let result = self.run(fut).await;
        if let Err(SlackError::RateLimited { retry_after }) = &result {
            self.pacer.block(key, *retry_after);
        }
        result
    }

    async fn run<T, F>(&self, fut: F) -> Result<T, SlackError>
    where
        F: std::future::Future<Output = ClientResult<T>>,
    {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(SlackError::Transport("timed out".into())),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_error(e)),
        }
    }

    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
    ) -> Result<SlackRef, SlackError> {
        self.post(channel, content, None).await
    }

    /// Posts `content` as a reply in the thread of the message at `parent`.
    pub async fn post_reply(
        &self,
        parent: &SlackRef,
        content: SlackMessageContent,
    ) -> Result<SlackRef, SlackError> {
        self.post(&parent.channel, content, Some(&parent.ts)).await
    }

    async fn post(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
    ) -> Result<SlackRef, SlackError> {
        let session = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostMessageRequest::new(channel.to_string().into(), content)
            .with_unfurl_links(false);
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(ts.to_string().into());
        }
        // Read only `channel` and `ts`: slack-morphism's full response model also requires the
        // echoed `message`, and a parse failure after a successful post would make us post again.
        let resp: MessageAck = self
            .paced(
                &post_key(channel),
                true,
                session
                    .http_session_api
                    .http_post("chat.postMessage", &req, None),
            )
            .await?;
        Ok(SlackRef {
            channel: resp.channel,
            ts: resp.ts,
        })
    }

    pub async fn update_message(
        &self,
        at: &SlackRef,
        content: SlackMessageContent,
    ) -> Result<(), SlackError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            at.channel.clone().into(),
            content,
            at.ts.clone().into(),
        );
        self.paced(
            "chat.update",
            false,
            session
                .http_session_api
                .http_post::<_, serde::de::IgnoredAny>("chat.update", &req, None),
        )
        .await
        .map(|_| ())
    }

    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostEphemeralRequest::new(
            channel.to_string().into(),
            user.to_string().into(),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        self.paced(
            "chat.postEphemeral",
            false,
            session.chat_post_ephemeral(&req),
        )
        .await
        .map(|_| ())
    }
}

/// The part of a `conversations.history` answer syncwarden reads.
#[derive(Debug, serde::Deserialize)]
struct History {
    #[serde(default)]
    messages: Vec<HistoryMessage>,
}

#[derive(Debug, serde::Deserialize)]
struct HistoryMessage {
    ts: String,
    #[serde(default)]
    metadata: Option<HistoryMetadata>,
}

#[derive(Debug, serde::Deserialize)]
struct HistoryMetadata {
    event_type: String,
    #[serde(default)]
    event_payload: std::collections::HashMap<String, serde_json::Value>,
}

/// How far back a restart looks for its own unrecorded post.
const HISTORY_LOOKBACK: u16 = 200;

impl SlackWebClient {
    /// The ts of the newest recent message in `channel` whose metadata has `event_type` and
    /// `key` = `value` (`conversations.history`, needs `channels:history` / `groups:history`).
    pub async fn find_tagged(
        &self,
        channel: &str,
        event_type: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<String>, SlackError> {
        let session = self.client.open_session(&self.token);
        let req = serde_json::json!({
            "channel": channel,
            "limit": HISTORY_LOOKBACK,
            "include_all_metadata": true,
        });
        let history: History = self
            .run(
                session
                    .http_session_api
                    .http_post("conversations.history", &req, None),
            )
            .await?;
        Ok(history
            .messages
            .into_iter()
            .find(|m| {
                m.metadata.as_ref().is_some_and(|md| {
                    md.event_type == event_type
                        && md.event_payload.get(key).and_then(|v| v.as_str()) == Some(value)
                })
            })
            .map(|m| m.ts))
    }

    /// `usergroups.users.list`: the user IDs in a user group (needs `usergroups:read`).
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUserGroupsUsersListRequest::new(group.to_string().into());
        self.run(session.usergroups_users_list(&req))
            .await
            .map(|r| r.users.into_iter().map(|u| u.to_string()).collect())
    }
}

fn map_error(e: slack_morphism::errors::SlackClientError) -> SlackError {
    match e {
        slack_morphism::errors::SlackClientError::RateLimitError(r) => SlackError::RateLimited {
            retry_after: r.retry_after.unwrap_or(Duration::from_secs(1)),
        },
        slack_morphism::errors::SlackClientError::ApiError(a) => SlackError::Api(a.code),
        slack_morphism::errors::SlackClientError::HttpError(h)
            if h.status_code.is_server_error() =>
        {
            SlackError::Transport(format!("HTTP {}", h.status_code))
        }
        slack_morphism::errors::SlackClientError::HttpError(h) => {
            SlackError::Api(format!("HTTP {}", h.status_code))
        }
        other => SlackError::Transport(other.to_string()),
    }
}
