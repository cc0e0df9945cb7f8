//! The alert lifecycle. An incident is one connector failure we told people about: what we
//! found, what we propose, and where the Slack message lives.

use crate::diagnosis::classify::Classification;
use crate::diagnosis::summarize::Summary;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackRef {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub connector_id: String,
    pub connector_name: Option<String>,
    pub connector_type: Option<String>,
    pub group_id: Option<String>,
    pub event_id: u64,
    pub event: String,
    pub opened_at: DateTime<Utc>,
    pub classification: Classification,
    pub summary: Summary,
    pub proposal_id: Option<String>,
    /// Channels the alert goes to (routing decided when the incident opened).
    pub channels: Vec<String>,
    /// Where the alert was posted so far: at most one message per channel.
    pub messages: Vec<SlackRef>,
}

impl Incident {
    /// The alert message a click came from, if it is one of ours.
    pub fn message_at(&self, channel: Option<&str>, ts: &str) -> Option<&SlackRef> {
        self.messages
            .iter()
            .find(|m| m.ts == ts && channel.is_none_or(|c| c == m.channel))
    }

    pub fn unposted_channels(&self) -> Vec<String> {
        self.channels
            .iter()
            .filter(|c| !self.messages.iter().any(|m| &m.channel == *c))
            .cloned()
            .collect()
    }
}

pub fn incident_id_for_event(event_id: u64) -> String {
    format!("inc_{event_id}")
}
pub mod open;
pub mod requested;
pub mod routing;
