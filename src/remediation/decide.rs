//! Approve / Reject clicks: authorize the clicker, then compare-and-swap the proposal. Every
//! outcome, including refusals, is audited; people who cannot act are told why, privately.

use crate::app::SharedState;
use crate::incidents::snooze::{self, Snooze};
use crate::incidents::storm::is_storm_id;
use crate::incidents::SlackRef;
use crate::remediation::proposal::{ProposalState, TransitionError};
use crate::slack::blocks::{ACTION_APPROVE, ACTION_REJECT, ACTION_SNOOZE_1H, ACTION_SNOOZE_24H};
use crate::slack::interaction::Click;
use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Approved,
    Rejected,
    Snoozed,
    /// Nothing changed; the clicker was told why.
    Refused(String),
    /// Not a decision button (e.g. the dashboard link).
    Ignored,
}

fn time_label(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M UTC on %Y-%m-%d").to_string()
}

pub fn handle_click(state: &SharedState, click: &Click) -> Result<Decided, StoreError> {
    let approve = match click.action_id.as_str() {
        ACTION_APPROVE => true,
        ACTION_REJECT => false,
        ACTION_SNOOZE_1H | ACTION_SNOOZE_24H => return snooze_click(state, click),
        _ => return Ok(Decided::Ignored),
    };
    let now = state.now();
    let authorized = state.policy.may_decide(&click.user_id);
    let outcome = state.store.transact(now, |tx| {
        let refuse =
            |reason: String, kind: &str, extra: serde_json::Value, channel: Option<String>| {
                tx.audit(
                    AuditEntry::by(kind, &click.user_id).detail(serde_json::json!({
                        "proposal": click.value,
                        "action": click.action_id,
                        "reason": reason,
                        "extra": extra,
                    })),
                )?;
                if let Some(channel) = channel.or_else(|| click.channel_id.clone()) {
                    tx.enqueue_now(JobKind::Ephemeral {
                        channel,
                        user: click.user_id.clone(),
                        text: reason.clone(),
                    })?;
                }
                Ok(Decided::Refused(reason))
            };

        let Some(mut p) = tx.proposal(&click.value)? else {
            return refuse(
                "This proposal does not exist (any more); nothing was done.".into(),
                "decision_refused",
                serde_json::Value::Null,
                None,
            );
        };
        // Where the proposal is shown: its incident's alert, or a storm's grouped message.
        let (messages, channels) = if is_storm_id(&p.incident_id) {
            tx.storm(&p.incident_id)?
                .map(|s| (s.messages, s.channels))
                .unwrap_or_default()
        } else {
            tx.incident(&p.incident_id)?
                .map(|i| (i.messages, i.channels))
                .unwrap_or_default()
        };
        // The button must come from the message that shows this proposal: a value copied
        // into another message must not act on a different connector.
        if !messages.is_empty() && !clicked_on(click, &messages) {
            return refuse(
                "This button does not belong to the alert it was clicked on; nothing was done."
                    .into(),
                "decision_refused",
                serde_json::json!({ "clicked_ts": click.message_ts, "alerts": messages }),
                None,
            );
        }
        let channel = click
            .channel_id
            .clone()
            .or_else(|| channels.first().cloned());
        if let Err(denial) = &authorized {
            let entry = AuditEntry::by("decision_denied", &click.user_id)
                .connector(Some(&p.connector_id))
                .incident(&p.incident_id)
                .proposal(&p.id)
                .detail(serde_json::json!({
                    "action": click.action_id,
                    "reason": denial.to_string(),
                }));
            tx.audit(entry)?;
            if let Some(channel) = channel.or_else(|| click.channel_id.clone()) {
                tx.enqueue_now(JobKind::Ephemeral {
                    channel,
                    user: click.user_id.clone(),
                    text: format!("You can't decide on this fix: {denial}. Nothing was changed."),
                })?;
            }
            return Ok(Decided::Refused(denial.to_string()));
        }
        let result = if approve {
            p.approve(&click.user_id, now)
        } else {
            p.reject(&click.user_id, now)
        };
        match result {
            Ok(()) => {
                tx.put_proposal(&p)?;
                tx.audit(
                    AuditEntry::by(
                        if approve {
                            "proposal_approved"
                        } else {
                            "proposal_rejected"
                        },
                        &click.user_id,
                    )
                    .connector(Some(&p.connector_id))
                    .incident(&p.incident_id)
                    .proposal(&p.id)
                    .detail(serde_json::json!({
                        "action": p.action.name(),
                        "method": p.call.method,
                        "path": p.call.path,
                        "body": p.call.body,
                    })),
                )?;
                if approve {
                    tx.enqueue_now(JobKind::Execute {
                        proposal_id: p.id.clone(),
                    })?;
                }
                tx.enqueue_now(JobKind::UpdateMessage {
                    incident_id: p.incident_id.clone(),
                })?;
                Ok(if approve {
                    Decided::Approved
                } else {
                    Decided::Rejected
                })
            }
            Err(TransitionError::Expired(at)) => {
                p.expire(now).ok();
                tx.put_proposal(&p)?;
                tx.audit(
                    AuditEntry::system("proposal_expired")
                        .connector(Some(&p.connector_id))
                        .incident(&p.incident_id)
                        .proposal(&p.id),
                )?;
                tx.enqueue_now(JobKind::UpdateMessage {
                    incident_id: p.incident_id.clone(),
                })?;
                refuse(
                    format!(
                        "This proposal expired at {}; nothing was done.",
                        time_label(at)
                    ),
                    "decision_refused",
                    serde_json::json!({ "proposal_state": "expired" }),
                    channel,
                )
            }
            Err(TransitionError::AlreadyDecided { state: st, by, at }) => {
                let reason = match (st, by, at) {
                    (ProposalState::Expired, _, _) => {
                        "This proposal has expired; nothing was done.".to_string()
                    }
                    (ProposalState::Superseded, _, _) => format!(
                        "This proposal is no longer needed ({}); nothing was done.",
                        p.superseded_reason
                            .as_deref()
                            .unwrap_or("the connector recovered")
                    ),
                    (st, Some(by), Some(at)) => format!(
                        "Already {} by <@{}> at {}; nothing more was done.",
                        decided_word(st),
                        by,
                        time_label(at)
                    ),
                    (st, _, _) => format!(
                        "This proposal is already {}; nothing more was done.",
                        st.as_str()
                    ),
                };
                refuse(
                    reason,
                    "decision_refused",
                    serde_json::json!({ "proposal_state": st }),
                    channel,
                )
            }
            Err(e) => refuse(
                e.to_string(),
                "decision_refused",
                serde_json::Value::Null,
                channel,
            ),
        }
    })?;
    Ok(outcome)
}

fn clicked_on(click: &Click, messages: &[SlackRef]) -> bool {
    click.message_ts.as_deref().is_some_and(|ts| {
        messages
            .iter()
            .any(|m| m.ts == ts && click.channel_id.as_deref().is_none_or(|c| c == m.channel))
    })
}

/// Snooze 1h / 24h on an alert: anyone in the channel may snooze (it only holds back
/// messages, never runs anything); who and until when is shown on the alert and audited.
fn snooze_click(state: &SharedState, click: &Click) -> Result<Decided, StoreError> {
    let seconds = if click.action_id == ACTION_SNOOZE_1H {
        3600
    } else {
        24 * 3600
    };
    let now = state.now();
    state.store.transact(now, |tx| {
        let refuse = |reason: &str| -> crate::store::TxResult<Decided> {
            tx.audit(
                AuditEntry::by("snooze_refused", &click.user_id).detail(serde_json::json!({
                    "incident": click.value,
                    "reason": reason,
                })),
            )?;
            if let Some(channel) = &click.channel_id {
                tx.enqueue_now(JobKind::Ephemeral {
                    channel: channel.clone(),
                    user: click.user_id.clone(),
                    text: format!("{reason}; nothing was changed."),
                })?;
            }
            Ok(Decided::Refused(reason.to_string()))
        };
        let Some(incident) = tx.incident(&click.value)? else {
            return refuse("This alert does not exist (any more)");
        };
        if !clicked_on(click, &incident.messages) {
            return refuse("This button does not belong to the alert it was clicked on");
        }
        if !incident.is_open() {
            return refuse("The connector has recovered; there is nothing to snooze");
        }
        let until = now + chrono::Duration::seconds(seconds);
        snooze::snooze(
            tx,
            &Snooze {
                connector_id: incident.connector_id.clone(),
                connector_name: incident.connector_name.clone(),
                until,
                by: click.user_id.clone(),
                at: now,
            },
        )?;
        Ok(Decided::Snoozed)
    })
}

fn decided_word(state: ProposalState) -> &'static str {
    match state {
        ProposalState::Rejected => "rejected",
        _ => "approved",
    }
}
