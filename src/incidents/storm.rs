//! Storms: many connectors of one destination group failing with the same category at about
//! the same time (a warehouse outage, a revoked shared credential). One grouped message
//! speaks for all of them, with one group proposal, instead of one alert per connector.

use super::Incident;
use crate::config::AlertSettings;
use crate::diagnosis::classify::{Category, SuggestedAction};
use crate::remediation::action::Action;
use crate::remediation::proposal::Proposal;
use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::{Tx, TxResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const ID_PREFIX: &str = "storm_";

pub fn is_storm_id(id: &str) -> bool {
    id.starts_with(ID_PREFIX)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormMember {
    pub incident_id: String,
    pub connector_id: String,
    pub connector_name: Option<String>,
    pub connector_type: Option<String>,
    /// The failure's reason, short and redacted.
    pub reason: String,
    pub joined_at: DateTime<Utc>,
}

/// A recent failure, for spotting storms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowEntry {
    pub connector_id: String,
    pub incident_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Storm {
    pub id: String,
    pub group_id: String,
    pub category: Category,
    pub transient: bool,
    /// What the classifier suggested for the failure that opened the storm.
    pub suggested: SuggestedAction,
    pub opened_at: DateTime<Utc>,
    pub last_joined_at: DateTime<Utc>,
    /// The grouped message is not posted before this (transient storms get the same grace as
    /// single transient failures).
    pub post_after: DateTime<Utc>,
    pub members: Vec<StormMember>,
    pub proposal_id: Option<String>,
    /// Every channel any member's alert would have gone to.
    pub channels: Vec<String>,
    pub messages: Vec<super::SlackRef>,
    /// Channels with a post in flight (see `post_once`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posting: Vec<String>,
    /// Set once every member has recovered.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Storm {
    /// Still taking new members: not over, and the last one joined within the window.
    pub fn is_active(&self, now: DateTime<Utc>, window: std::time::Duration) -> bool {
        self.closed_at.is_none()
            && now - self.last_joined_at <= chrono::Duration::from_std(window).unwrap_or_default()
    }

    pub fn unposted_channels(&self) -> Vec<String> {
        self.channels
            .iter()
            .filter(|c| !self.messages.iter().any(|m| &m.channel == *c))
            .cloned()
            .collect()
    }

    pub fn message_at(&self, channel: Option<&str>, ts: &str) -> Option<&super::SlackRef> {
        self.messages
            .iter()
            .find(|m| m.ts == ts && channel.is_none_or(|c| c == m.channel))
    }
}

pub fn new_storm_id() -> String {
    format!("{ID_PREFIX}{}", hex::encode(rand::random::<[u8; 8]>()))
}

pub fn member_of(incident: &Incident, reason: &str, now: DateTime<Utc>) -> StormMember {
    StormMember {
        incident_id: incident.id.clone(),
        connector_id: incident.connector_id.clone(),
        connector_name: incident.connector_name.clone(),
        connector_type: incident.connector_type.clone(),
        reason: crate::slack::blocks::clip(reason, 200),
        joined_at: now,
    }
}

/// The group fix for a storm: a retry of every member when the failure is transient; nothing
/// when a person has to fix something.
fn group_action(storm: &Storm) -> Option<Action> {
    let retry = matches!(
        storm.suggested,
        SuggestedAction::RetrySync | SuggestedAction::RetryAfterBackoff
    );
    (retry && storm.transient).then_some(Action::RetrySync)
}

fn merge_channels(into: &mut Vec<String>, from: &[String]) {
    for c in from {
        if !into.contains(c) {
            into.push(c.clone());
        }
    }
}

/// Sets aside a member's own open proposal: the group proposal replaces it.
fn fold_member(tx: &Tx<'_>, incident: &Incident, storm_id: &str) -> TxResult<()> {
    let Some(pid) = &incident.proposal_id else {
        return Ok(());
    };
    let folded = super::supersede_proposal(
        tx,
        pid,
        "folded into the storm's group message",
        "storm",
        serde_json::json!({ "storm": storm_id }),
    )?;
    if folded && !incident.messages.is_empty() {
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: incident.id.clone(),
        })?;
    }
    Ok(())
}

/// (Re)creates the storm's group proposal so it covers every member. A proposal somebody
/// already decided on stands; later members are listed but not part of it.
fn refresh_proposal(tx: &Tx<'_>, storm: &mut Storm, ttl: std::time::Duration) -> TxResult<()> {
    let Some(action) = group_action(storm) else {
        return Ok(());
    };
    if let Some(pid) = &storm.proposal_id {
        let replaced = super::supersede_proposal(
            tx,
            pid,
            "replaced by a proposal covering the connectors that joined",
            "storm grew",
            serde_json::Value::Null,
        )?;
        // A decided group proposal stands (a missing one is simply made anew).
        if !replaced && tx.proposal(pid)?.is_some() {
            return Ok(());
        }
    }
    let connectors: Vec<String> = storm
        .members
        .iter()
        .map(|m| m.connector_id.clone())
        .collect();
    let p = Proposal::batch(&storm.id, action, &connectors, tx.now, ttl);
    tx.put_proposal(&p)?;
    tx.audit(
        AuditEntry::system("proposal_created")
            .incident(&storm.id)
            .proposal(&p.id)
            .detail(serde_json::json!({
                "action": p.action,
                "risk": p.risk,
                "batch": p.batch.iter().map(|b| serde_json::json!({
                    "connector": b.connector_id, "method": b.call.method, "path": b.call.path, "body": b.call.body,
                })).collect::<Vec<_>>(),
                "expires_at": p.expires_at,
            })),
    )?;
    storm.proposal_id = Some(p.id);
    Ok(())
}

/// Decides, inside the transaction that opens `incident`, whether it belongs to a storm: it
/// joins an active one, or it is the failure that makes one. Returns true when the storm's
/// grouped message speaks for it (its own alert is then not posted).
pub fn consider(
    tx: &Tx<'_>,
    settings: &AlertSettings,
    incident: &mut Incident,
    reason: &str,
    ttl: std::time::Duration,
) -> TxResult<bool> {
    let Some(group) = incident.group_id.clone().filter(|g| !g.is_empty()) else {
        return Ok(false);
    };
    let now = tx.now;
    let category = incident.classification.category;
    let window = settings.storm_window;

    if let Some(mut storm) = tx.latest_storm(&group, category.as_str())? {
        if storm.is_active(now, window) {
            storm
                .members
                .retain(|m| m.connector_id != incident.connector_id);
            storm.members.push(member_of(incident, reason, now));
            storm.last_joined_at = now;
            merge_channels(&mut storm.channels, &incident.channels);
            incident.storm_id = Some(storm.id.clone());
            refresh_proposal(tx, &mut storm, ttl)?;
            tx.put_storm(&storm)?;
            tx.audit(
                AuditEntry::system("storm_joined")
                    .connector(Some(&incident.connector_id))
                    .incident(&incident.id)
                    .detail(
                        serde_json::json!({ "storm": storm.id, "members": storm.members.len() }),
                    ),
            )?;
            tx.enqueue_now(JobKind::StormMessage {
                storm_id: storm.id.clone(),
            })?;
            return Ok(true);
        }
    }

    let horizon = now - chrono::Duration::from_std(window).unwrap_or_default();
    let mut entries = tx.failure_window(&group, category.as_str())?;
    entries.retain(|e| e.at >= horizon && e.connector_id != incident.connector_id);
    entries.push(WindowEntry {
        connector_id: incident.connector_id.clone(),
        incident_id: incident.id.clone(),
        at: now,
    });
    // Only connectors that are still failing count.
    let mut earlier: Vec<Incident> = Vec::new();
    for e in &entries {
        if e.incident_id == incident.id {
            continue;
        }
        if let Some(i) = tx.incident(&e.incident_id)? {
            if i.is_open() && i.storm_id.is_none() {
                earlier.push(i);
            }
        }
    }
    if earlier.len() + 1 < settings.storm_threshold {
        tx.put_failure_window(&group, category.as_str(), &entries)?;
        return Ok(false);
    }

    let grace = if incident.classification.transient {
        settings.transient_grace
    } else {
        std::time::Duration::ZERO
    };
    let mut storm = Storm {
        id: new_storm_id(),
        group_id: group.clone(),
        category,
        transient: incident.classification.transient,
        suggested: incident.classification.action,
        opened_at: earlier.iter().map(|i| i.opened_at).min().unwrap_or(now),
        last_joined_at: now,
        post_after: now + chrono::Duration::from_std(grace).unwrap_or_default(),
        members: Vec::new(),
        proposal_id: None,
        channels: Vec::new(),
        messages: Vec::new(),
        posting: Vec::new(),
        closed_at: None,
    };
    for mut i in earlier {
        let why = i
            .summary
            .evidence
            .iter()
            .find_map(|e| e.strip_prefix("reason: "))
            .unwrap_or(&i.summary.cause)
            .to_string();
        storm.members.push(member_of(&i, &why, i.opened_at));
        merge_channels(&mut storm.channels, &i.channels);
        i.storm_id = Some(storm.id.clone());
        fold_member(tx, &i, &storm.id)?;
        tx.put_incident(&i)?;
    }
    storm.members.push(member_of(incident, reason, now));
    merge_channels(&mut storm.channels, &incident.channels);
    incident.storm_id = Some(storm.id.clone());
    refresh_proposal(tx, &mut storm, ttl)?;
    tx.put_storm(&storm)?;
    tx.put_failure_window(&group, category.as_str(), &[])?;
    tx.audit(
        AuditEntry::system("storm_opened")
            .incident(&storm.id)
            .detail(serde_json::json!({
                "group": storm.group_id,
                "category": storm.category,
                "members": storm.members.iter().map(|m| m.connector_id.clone()).collect::<Vec<_>>(),
                "proposal": storm.proposal_id,
            })),
    )?;
    tx.enqueue(
        JobKind::StormMessage {
            storm_id: storm.id.clone(),
        },
        storm.post_after,
    )?;
    Ok(true)
}

/// A member recovered: the storm is over when every member has.
pub fn member_recovered(tx: &Tx<'_>, storm_id: &str) -> TxResult<()> {
    let Some(mut storm) = tx.storm(storm_id)? else {
        return Ok(());
    };
    let mut all = true;
    for m in &storm.members {
        if let Some(i) = tx.incident(&m.incident_id)? {
            all &= !i.is_open();
        }
    }
    if all && storm.closed_at.is_none() {
        storm.closed_at = Some(tx.now);
        if let Some(pid) = &storm.proposal_id {
            super::supersede_proposal(
                tx,
                pid,
                "every connector in the storm recovered",
                "storm recovered",
                serde_json::Value::Null,
            )?;
        }
        tx.audit(
            AuditEntry::system("storm_closed")
                .incident(&storm.id)
                .detail(serde_json::json!({ "members": storm.members.len() })),
        )?;
    }
    tx.put_storm(&storm)?;
    tx.enqueue_now(JobKind::StormMessage {
        storm_id: storm.id.clone(),
    })?;
    Ok(())
}
