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
    /// Channels with a post in flight (see `post_once`): noted on disk before posting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posting: Vec<String>,
    #[serde(default)]
    pub status: IncidentStatus,
    /// Failures in this streak (the first one included).
    #[serde(default = "one")]
    pub failures: u32,
    #[serde(default)]
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The event of the latest failure (`event_id` is the first).
    #[serde(default)]
    pub last_event_id: Option<u64>,
    #[serde(default)]
    pub recovered_at: Option<DateTime<Utc>>,
    /// Thread replies already posted, as `<channel>:<tag>`, so a retried job never posts one
    /// twice.
    #[serde(default)]
    pub replies: Vec<String>,
    /// Set when the failure is part of a storm: the storm's grouped message speaks for it.
    #[serde(default)]
    pub storm_id: Option<String>,
    /// The latest failure's reason (redacted), for thread replies.
    #[serde(default)]
    pub last_reason: Option<String>,
    /// Set when a snooze ended with the failure still open.
    #[serde(default)]
    pub snooze_ended: Option<SnoozeEnded>,
}

/// A snooze that ran out (or was lifted) while the connector was still failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnoozeEnded {
    pub by: String,
    pub until: DateTime<Utc>,
    pub failures: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// The connector is still failing (or nobody has seen it succeed since).
    #[default]
    Open,
    /// A successful sync ended the streak.
    Recovered,
}

impl Incident {
    /// The alert message a click came from, if it is one of ours.
    pub fn message_at(&self, channel: Option<&str>, ts: &str) -> Option<&SlackRef> {
        self.messages
            .iter()
            .find(|m| m.ts == ts && channel.is_none_or(|c| c == m.channel))
    }

    pub fn is_open(&self) -> bool {
        self.status == IncidentStatus::Open
    }

    /// A failure incident, as opposed to a fix someone requested with a slash command.
    pub fn is_failure(&self) -> bool {
        self.event != requested::EVENT
    }

    pub fn has_replied(&self, channel: &str, tag: &str) -> bool {
        self.replies
            .iter()
            .any(|r| r == &format!("{channel}:{tag}"))
    }

    pub fn unposted_channels(&self) -> Vec<String> {
        self.channels
            .iter()
            .filter(|c| !self.messages.iter().any(|m| &m.channel == *c))
            .cloned()
            .collect()
    }
}

/// Sets aside an undecided proposal that no longer fits (`why` is shown on the alert,
/// `code` goes into the audit record with `extra`). Returns false, changing nothing, if there
/// is no such proposal or somebody already decided on it.
pub fn supersede_proposal(
    tx: &crate::store::Tx<'_>,
    proposal_id: &str,
    why: &str,
    code: &str,
    extra: serde_json::Value,
) -> crate::store::TxResult<bool> {
    let Some(mut p) = tx.proposal(proposal_id)? else {
        return Ok(false);
    };
    if p.supersede(why).is_err() {
        return Ok(false);
    }
    tx.put_proposal(&p)?;
    let mut detail = serde_json::json!({ "reason": code });
    if let (Some(d), serde_json::Value::Object(x)) = (detail.as_object_mut(), extra) {
        d.extend(x);
    }
    tx.audit(
        crate::store::audit::AuditEntry::system("proposal_superseded")
            .connector(Some(&p.connector_id))
            .incident(&p.incident_id)
            .proposal(&p.id)
            .detail(detail),
    )?;
    Ok(true)
}

pub fn incident_id_for_event(event_id: u64) -> String {
    format!("inc_{event_id}")
}
pub mod open;
pub mod recover;
pub mod requested;
pub mod routing;
pub mod snooze;
pub mod storm;
