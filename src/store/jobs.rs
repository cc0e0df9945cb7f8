//! The durable job queue: every hand-off between steps is a row here, written in the same
//! transaction as the state it follows from, and removed in the same transaction as the state
//! it produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Fetch details, classify, summarize, propose for a failure event.
    Diagnose { event_id: u64 },
    /// Post the incident's alert to Slack.
    Notify { incident_id: String },
    /// Run an approved proposal's Fivetran call.
    Execute { proposal_id: String },
    /// Re-render the incident's Slack message after a decision or result.
    UpdateMessage { incident_id: String },
    /// A successful sync: end the connector's failure streak.
    Recover { event_id: u64 },
    /// Reply in the alert's thread (a repeated failure, a snooze that ended). `tag` names the
    /// reply so a retry never posts it twice.
    ThreadReply { incident_id: String, tag: String },
    /// A snooze runs out (a later snooze or an unsnooze makes this a no-op).
    SnoozeEnd {
        connector_id: String,
        until: DateTime<Utc>,
    },
    /// Post or refresh a storm's grouped message.
    StormMessage { storm_id: String },
    /// Tell one person something only they see.
    Ephemeral {
        channel: String,
        user: String,
        text: String,
    },
    /// Post an operator notice (e.g. Fivetran down / back) in a channel.
    ChannelNotice { channel: String, text: String },
    /// Expire a proposal nobody decided on (due at its `expires_at`).
    ExpireProposal { proposal_id: String },
    /// Post the audit head hash and record count to the checkpoint channel, then schedule
    /// the next one.
    AuditCheckpoint,
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Diagnose { .. } => "diagnose",
            JobKind::Notify { .. } => "notify",
            JobKind::Execute { .. } => "execute",
            JobKind::UpdateMessage { .. } => "update_message",
            JobKind::Ephemeral { .. } => "ephemeral",
            JobKind::ChannelNotice { .. } => "channel_notice",
            JobKind::Recover { .. } => "recover",
            JobKind::ThreadReply { .. } => "thread_reply",
            JobKind::SnoozeEnd { .. } => "snooze_end",
            JobKind::StormMessage { .. } => "storm_message",
            JobKind::ExpireProposal { .. } => "expire_proposal",
            JobKind::AuditCheckpoint => "audit_checkpoint",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub kind: JobKind,
}

/// Jobs sort by due time, then id: a range scan up to "now" yields exactly the due ones.
pub fn job_key(due_at: DateTime<Utc>, id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    let ms = due_at.timestamp_millis().max(0) as u64;
    key[..8].copy_from_slice(&ms.to_be_bytes());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

pub fn due_upper_bound(now: DateTime<Utc>) -> [u8; 16] {
    job_key(now, u64::MAX)
}
