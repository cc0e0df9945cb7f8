//! Posting a top-level message at most once per channel, across crashes.
//!
//! Recording "posted, ts = …" after Slack answers leaves a gap: a crash between Slack's answer
//! and the record reaching disk would post the alert again on restart. So before posting,
//! syncwarden durably notes that a post to that channel is in flight, and tags the message
//! with Slack message metadata (`syncwarden_alert`, the incident or storm id). If a restart
//! finds the note without a recorded message, it looks for the tagged message in the
//! channel's recent history (`conversations.history`, scopes `channels:history` /
//! `groups:history`) and records it instead of posting again. If the history cannot be read,
//! it posts (an alert late twice beats an alert lost).

use crate::app::SharedState;
use crate::incidents::SlackRef;
use slack_morphism::prelude::{SlackMessageContent, SlackMessageMetadata};

pub const EVENT_TYPE: &str = "syncwarden_alert";
pub const ID_KEY: &str = "id";

/// `content` tagged as the alert for `id`.
pub fn tagged(mut content: SlackMessageContent, id: &str) -> SlackMessageContent {
    content.metadata = Some(SlackMessageMetadata {
        event_type: EVENT_TYPE.into(),
        event_payload: Some([(ID_KEY.to_string(), id.to_string())].into()),
    });
    content
}

/// What a look at the channel found about an earlier, unrecorded post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    Posted(SlackRef),
    NotPosted,
    /// The history could not be read (scope, membership, Slack down): post anyway.
    Unknown(String),
}

pub async fn find_earlier(state: &SharedState, channel: &str, id: &str) -> Earlier {
    match state
        .slack
        .find_tagged(channel, EVENT_TYPE, ID_KEY, id)
        .await
    {
        Ok(Some(ts)) => Earlier::Posted(SlackRef {
            channel: channel.to_string(),
            ts,
        }),
        Ok(None) => Earlier::NotPosted,
        Err(e) => Earlier::Unknown(e.to_string()),
    }
}

/// Whether a failed post may still have reached the channel: only when no answer came back.
pub fn may_have_posted(e: &crate::slack::client::SlackError) -> bool {
    matches!(e, crate::slack::client::SlackError::Transport(_))
}
