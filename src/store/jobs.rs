//! The durable job queue: every hand-off between steps is a row here, written in the same
//! transaction as the state it follows from, and removed in the same transaction as the state
//! it produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Fetch details, classify, summarize, propose for a failure event.
    Diagnose {
        event_id: u64,
        /// The event's connector: a connector's events are handled one at a time, in order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connector_id: Option<String>,
    },
    /// Post the incident's alert to Slack.
    Notify { incident_id: String },
    /// Run an approved proposal's Fivetran call.
    Execute { proposal_id: String },
    /// Re-render the incident's Slack message after a decision or result.
    UpdateMessage { incident_id: String },
    /// A successful sync: end the connector's failure streak.
    Recover {
        event_id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connector_id: Option<String>,
    },
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

impl JobKind {
    /// What the job is about, for ordering: two jobs with the same subject never run at the
    /// same time (so a message is never rendered by two jobs at once, and a connector's
    /// events are handled in order). `None` for jobs that may run alongside anything.
    pub fn subject(&self) -> Option<String> {
        match self {
            JobKind::Diagnose {
                connector_id,
                event_id,
            }
            | JobKind::Recover {
                connector_id,
                event_id,
            } => Some(match connector_id {
                Some(c) => format!("connector:{c}"),
                None => format!("event:{event_id}"),
            }),
            JobKind::SnoozeEnd { connector_id, .. } => Some(format!("connector:{connector_id}")),
            JobKind::Notify { incident_id }
            | JobKind::UpdateMessage { incident_id }
            | JobKind::ThreadReply { incident_id, .. } => Some(format!("message:{incident_id}")),
            JobKind::StormMessage { storm_id } => Some(format!("message:{storm_id}")),
            JobKind::Execute { proposal_id } | JobKind::ExpireProposal { proposal_id } => {
                Some(format!("proposal:{proposal_id}"))
            }
            JobKind::AuditCheckpoint => Some("audit_checkpoint".into()),
            JobKind::Ephemeral { .. } | JobKind::ChannelNotice { .. } => None,
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
    /// Set while a worker runs the job; `due_at` is then the end of its lease. A claim left
    /// by a process that died is released when the store is opened by the next one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub claimed: bool,
    /// Waits that did not count as failures (rate limits, held calls).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled: u32,
    #[serde(flatten)]
    pub kind: JobKind,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A job that failed for good, kept for an operator (`syncwarden jobs list --dead`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadJob {
    pub job: Job,
    pub died_at: DateTime<Utc>,
    pub error: String,
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
