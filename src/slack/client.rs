//! Slack Web API calls through slack-morphism: post, update, ephemeral, user group members,
//! modals. One attempt per call; the job queue owns retries and honours `Retry-After`.

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
        })
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
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostMessageRequest::new(channel.to_string().into(), content)
            .with_unfurl_links(false);
        // Read only `channel` and `ts`: slack-morphism's full response model also requires the
        // echoed `message`, and a parse failure after a successful post would make us post again.
        let resp: MessageAck = self
            .run(
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
        self.run(
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
        self.run(session.chat_post_ephemeral(&req))
            .await
            .map(|_| ())
    }
}

impl SlackWebClient {
    /// `usergroups.users.list`: the user IDs in a user group (needs `usergroups:read`).
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUserGroupsUsersListRequest::new(group.to_string().into());
        self.run(session.usergroups_users_list(&req))
            .await
            .map(|r| r.users.into_iter().map(|u| u.to_string()).collect())
    }

    /// `views.open`: shows a modal to the person whose click gave `trigger_id` (valid for
    /// 3 s, once). Only `ok` is read from the answer.
    pub async fn open_modal(&self, trigger_id: &str, view: SlackView) -> Result<(), SlackError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsOpenRequest::new(trigger_id.to_string().into(), view);
        self.run(
            session
                .http_session_api
                .http_post::<_, serde::de::IgnoredAny>("views.open", &req, None),
        )
        .await
        .map(|_| ())
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
