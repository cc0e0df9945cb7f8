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
    /// Where the alert was posted; `None` until `chat.postMessage` succeeded.
    pub message: Option<SlackRef>,
    pub channel: String,
}

pub fn incident_id_for_event(event_id: u64) -> String {
    format!("inc_{event_id}")
}
pub mod open;
