//! Snoozing a connector's alerts: its failures are still stored and counted, nothing is posted
//! until the snooze ends, and then one message says whether it is still failing.

use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::{Tx, TxResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The durations the alert buttons offer.
pub const BUTTON_DURATIONS: [(&str, i64); 2] = [("1h", 3600), ("24h", 24 * 3600)];
/// Longest snooze a command may set: a forgotten snooze must not silence a connector forever.
pub const MAX_SNOOZE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snooze {
    pub connector_id: String,
    pub connector_name: Option<String>,
    pub until: DateTime<Utc>,
    pub by: String,
    pub at: DateTime<Utc>,
}

impl Snooze {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

/// The connector's snooze if it is still running.
pub fn active(tx: &Tx<'_>, connector_id: &str) -> TxResult<Option<Snooze>> {
    Ok(tx.snooze(connector_id)?.filter(|s| s.is_active(tx.now)))
}

/// Snoozes (or re-snoozes) a connector until `until`. The end is a durable job.
pub fn snooze(tx: &Tx<'_>, s: &Snooze) -> TxResult<()> {
    tx.put_snooze(s)?;
    tx.audit(
        AuditEntry::by("connector_snoozed", &s.by)
            .connector(Some(&s.connector_id))
            .detail(serde_json::json!({ "until": s.until, "name": s.connector_name })),
    )?;
    tx.enqueue(
        JobKind::SnoozeEnd {
            connector_id: s.connector_id.clone(),
            until: s.until,
        },
        s.until,
    )?;
    // The open alert shows who snoozed it and until when.
    if let Some(incident) = open_incident(tx, &s.connector_id)? {
        if !incident.messages.is_empty() {
            tx.enqueue_now(JobKind::UpdateMessage {
                incident_id: incident.id,
            })?;
        }
    }
    Ok(())
}

/// Ends a snooze early. Returns the snooze that was removed, if any.
pub fn unsnooze(tx: &Tx<'_>, connector_id: &str, by: &str) -> TxResult<Option<Snooze>> {
    let Some(s) = tx.remove_snooze(connector_id)? else {
        return Ok(None);
    };
    tx.audit(
        AuditEntry::by("connector_unsnoozed", by)
            .connector(Some(connector_id))
            .detail(serde_json::json!({ "was_until": s.until, "snoozed_by": s.by })),
    )?;
    after_snooze(tx, &s)?;
    Ok(Some(s))
}

/// The scheduled end of a snooze. A snooze that was extended or lifted since is left alone.
pub fn snooze_ended(tx: &Tx<'_>, connector_id: &str, until: DateTime<Utc>) -> TxResult<()> {
    match tx.snooze(connector_id)? {
        Some(s) if s.until == until => {
            tx.remove_snooze(connector_id)?;
            tx.audit(
                AuditEntry::system("snooze_ended")
                    .connector(Some(connector_id))
                    .detail(serde_json::json!({ "until": s.until, "snoozed_by": s.by })),
            )?;
            after_snooze(tx, &s)
        }
        _ => Ok(()),
    }
}

fn open_incident(tx: &Tx<'_>, connector_id: &str) -> TxResult<Option<super::Incident>> {
    match tx.streak(connector_id)? {
        Some(crate::store::alerting::Streak::Open(id)) => {
            Ok(tx.incident(&id)?.filter(|i| i.is_open()))
        }
        _ => Ok(None),
    }
}

/// If the failure is still open when the snooze ends, say so once: post the alert if it was
/// never posted, otherwise reply in its thread and refresh it.
fn after_snooze(tx: &Tx<'_>, s: &Snooze) -> TxResult<()> {
    let Some(mut incident) = open_incident(tx, &s.connector_id)? else {
        return Ok(());
    };
    incident.snooze_ended = Some(super::SnoozeEnded {
        by: s.by.clone(),
        until: s.until,
        failures: incident.failures,
    });
    tx.put_incident(&incident)?;
    if incident.storm_id.is_some() {
        return Ok(());
    }
    if incident.messages.is_empty() {
        tx.enqueue_now(JobKind::Notify {
            incident_id: incident.id.clone(),
        })?;
    } else {
        tx.enqueue_now(JobKind::ThreadReply {
            incident_id: incident.id.clone(),
            tag: format!("snooze_end_{}", s.until.timestamp()),
        })?;
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: incident.id.clone(),
        })?;
    }
    Ok(())
}
