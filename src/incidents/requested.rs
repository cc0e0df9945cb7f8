//! Incidents that people ask for with a slash command (`/fivetran pause pg_prod`): no failure
//! to diagnose, just a proposal that goes through the same Approve / Reject flow as an alert.

use super::Incident;
use crate::diagnosis::classify::{Category, Classification, SuggestedAction};
use crate::diagnosis::summarize::Summary;
use crate::remediation::action::Action;
use crate::remediation::proposal::Proposal;
use chrono::{DateTime, Utc};

pub const EVENT: &str = "slash_command";

pub struct Request<'a> {
    pub user: &'a str,
    pub channel: &'a str,
    /// The command as typed, e.g. `/fivetran pause pg_prod`.
    pub command_text: &'a str,
    pub connector_id: &'a str,
    pub connector_name: Option<&'a str>,
    pub connector_type: Option<&'a str>,
    pub group_id: Option<&'a str>,
    pub action: Action,
    pub now: DateTime<Utc>,
    pub ttl: std::time::Duration,
}

pub fn new_incident_id() -> String {
    format!("inc_req_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The incident and proposal for a request. `connector_id` must already be validated.
pub fn requested(r: &Request<'_>) -> (Incident, Proposal) {
    let incident_id = new_incident_id();
    let proposal = Proposal::new(
        &incident_id,
        r.connector_id,
        r.action.clone(),
        r.user,
        r.now,
        r.ttl,
    );
    let incident = Incident {
        id: incident_id,
        connector_id: r.connector_id.to_string(),
        connector_name: r.connector_name.map(str::to_string),
        connector_type: r.connector_type.map(str::to_string),
        group_id: r.group_id.map(str::to_string),
        event_id: 0,
        event: EVENT.into(),
        opened_at: r.now,
        classification: Classification {
            category: Category::Unknown,
            transient: false,
            action: SuggestedAction::Escalate,
            confidence: 1.0,
            evidence: Vec::new(),
        },
        summary: Summary {
            cause: format!(
                "Requested by Slack user {} with `{}`.",
                r.user,
                crate::slack::blocks::clip(r.command_text, 200)
            ),
            evidence: vec![format!("{}: {}", r.action.label(), r.action.effect())],
            next_step: "An approver decides; nothing runs before that.".into(),
            source: "request".into(),
            details_unavailable: None,
        },
        proposal_id: Some(proposal.id.clone()),
        channels: vec![r.channel.to_string()],
        messages: Vec::new(),
        posting: Vec::new(),
        status: super::IncidentStatus::Open,
        failures: 0,
        last_failure_at: None,
        last_event_id: None,
        recovered_at: None,
        replies: Vec::new(),
        storm_id: None,
        snooze_ended: None,
        last_reason: None,
    };
    (incident, proposal)
}
