//! Approve / Reject clicks: authorize the clicker, then compare-and-swap the proposal. Every
//! outcome, including refusals, is audited; people who cannot act are told why, privately,
//! and nothing changes for them.

use crate::app::SharedState;
use crate::incidents::snooze::{self, Snooze};
use crate::incidents::storm::is_storm_id;
use crate::incidents::{Incident, SlackRef};
use crate::remediation::authorize::{self, Refusal};
use crate::remediation::proposal::{
    short_hash, Approval, Proposal, ProposalState, TransitionError,
};
use crate::slack::blocks::{ACTION_APPROVE, ACTION_REJECT, ACTION_SNOOZE_1H, ACTION_SNOOZE_24H};
use crate::slack::interaction::Click;
use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::{StoreError, Tx, TxResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Approved with enough approvers: the call will run.
    Approved,
    /// One more approval recorded; `have` of `need`.
    ApprovalRecorded {
        have: u8,
        need: u8,
    },
    Rejected,
    /// The connector's alerts are snoozed.
    Snoozed,
    /// Reject is allowed: ask for a reason (a modal) before recording it.
    AskRejectReason(RejectPrompt),
    /// Nothing changed; the clicker was told why.
    Refused(String),
    /// Not a decision button (e.g. the dashboard link).
    Ignored,
}

/// What the reject modal needs to come back to the same proposal and message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectPrompt {
    pub proposal_id: String,
    pub channel: Option<String>,
    pub message_ts: Option<String>,
    /// What is being rejected, for the modal's text.
    pub summary: String,
}

/// What a click or a modal submission asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Approve,
    /// Check that a reject would be accepted, without recording it.
    CheckReject,
    Reject {
        reason: Option<String>,
    },
}

/// A decision as it arrives: from a button (value = proposal id, optionally `:call-hash`) or
/// from the reject modal.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub user: &'a str,
    pub value: &'a str,
    pub channel: Option<&'a str>,
    pub message_ts: Option<&'a str>,
    pub verb: Verb,
}

fn time_label(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M UTC on %Y-%m-%d").to_string()
}

/// Splits a button value into the proposal id and the short call hash it was drawn with.
pub fn parse_button_value(value: &str) -> (&str, Option<&str>) {
    match value.split_once(':') {
        Some((id, hash)) => (id, Some(hash)),
        None => (value, None),
    }
}

/// The value Approve / Reject buttons carry: the proposal id and the call it shows.
pub fn button_value(p: &Proposal) -> String {
    format!("{}:{}", p.id, short_hash(&p.call_hash()))
}

pub fn handle_click(state: &SharedState, click: &Click) -> Result<Decided, StoreError> {
    let verb = match click.action_id.as_str() {
        ACTION_APPROVE => Verb::Approve,
        ACTION_REJECT => Verb::CheckReject,
        ACTION_SNOOZE_1H | ACTION_SNOOZE_24H => return snooze_click(state, click),
        _ => return Ok(Decided::Ignored),
    };
    decide(
        state,
        &Request {
            user: &click.user_id,
            value: &click.value,
            channel: click.channel_id.as_deref(),
            message_ts: click.message_ts.as_deref(),
            verb,
        },
    )
}

/// Audits a refusal and tells the person privately; changes nothing else.
fn refuse(
    tx: &Tx<'_>,
    req: &Request<'_>,
    p: Option<&Proposal>,
    kind: &str,
    reason: String,
    extra: serde_json::Value,
    channel: Option<String>,
) -> TxResult<Decided> {
    let mut entry = AuditEntry::by(kind, req.user).detail(serde_json::json!({
        "proposal": parse_button_value(req.value).0,
        "verb": verb_name(&req.verb),
        "reason": reason,
        "extra": extra,
    }));
    if let Some(p) = p {
        entry = entry
            .connector(Some(&p.connector_id))
            .incident(&p.incident_id)
            .proposal(&p.id);
    }
    tx.audit(entry)?;
    if let Some(channel) = channel.or_else(|| req.channel.map(str::to_string)) {
        tx.enqueue_now(JobKind::Ephemeral {
            channel,
            user: req.user.to_string(),
            text: reason.clone(),
        })?;
    }
    Ok(Decided::Refused(reason))
}

fn verb_name(v: &Verb) -> &'static str {
    match v {
        Verb::Approve => "approve",
        Verb::CheckReject | Verb::Reject { .. } => "reject",
    }
}

fn deny(
    tx: &Tx<'_>,
    req: &Request<'_>,
    p: &Proposal,
    refusal: &Refusal,
    channel: Option<String>,
) -> TxResult<Decided> {
    tx.audit(
        AuditEntry::by("decision_denied", req.user)
            .connector(Some(&p.connector_id))
            .incident(&p.incident_id)
            .proposal(&p.id)
            .detail(serde_json::json!({
                "action": verb_name(&req.verb),
                "reason": refusal.code(),
                "message": refusal.message(),
            })),
    )?;
    let text = refusal.message();
    if let Some(channel) = channel.or_else(|| req.channel.map(str::to_string)) {
        tx.enqueue_now(JobKind::Ephemeral {
            channel,
            user: req.user.to_string(),
            text: text.clone(),
        })?;
    }
    Ok(Decided::Refused(text))
}

/// Authorizes and applies one decision as a compare-and-swap on the stored proposal.
pub fn decide(state: &SharedState, req: &Request<'_>) -> Result<Decided, StoreError> {
    let now = state.now();
    let (proposal_id, shown_hash) = parse_button_value(req.value);
    let outcome = state.store.transact(now, |tx| {
        let Some(mut p) = tx.proposal(proposal_id)? else {
            return refuse(
                tx,
                req,
                None,
                "decision_refused",
                "This proposal does not exist (any more); nothing was done.".into(),
                serde_json::Value::Null,
                None,
            );
        };
        let incident = tx.incident(&p.incident_id)?;
        // Where the proposal is shown: its incident's alert, or a storm's grouped message.
        let (messages, channels, storm_group) = if is_storm_id(&p.incident_id) {
            tx.storm(&p.incident_id)?
                .map(|s| (s.messages, s.channels, Some(s.group_id)))
                .unwrap_or_default()
        } else {
            incident
                .as_ref()
                .map(|i| (i.messages.clone(), i.channels.clone(), None))
                .unwrap_or_default()
        };
        // The button must come from the message that shows this proposal: a value copied
        // into another message must not act on a different connector.
        if !messages.is_empty() && !shown_on(req.channel, req.message_ts, &messages) {
            return refuse(
                tx,
                req,
                Some(&p),
                "decision_refused",
                "This button does not belong to the alert it was clicked on; nothing was done."
                    .into(),
                serde_json::json!({ "clicked_ts": req.message_ts, "alerts": messages }),
                None,
            );
        }
        let channel = req
            .channel
            .map(str::to_string)
            .or_else(|| channels.first().cloned());
        // An approval is for the call the message showed, and only that call.
        if let Some(shown) = shown_hash {
            let stored = p.call_hash();
            if shown != short_hash(&stored) {
                return refuse(
                    tx,
                    req,
                    Some(&p),
                    "decision_refused",
                    "The call shown on this message is not the one syncwarden would send; nothing was done.".into(),
                    serde_json::json!({ "shown_hash": shown, "stored_hash": stored }),
                    channel,
                );
            }
        }
        let group = incident
            .as_ref()
            .and_then(|i| i.group_id.clone())
            .or(storm_group);
        let mode_now = state
            .policy
            .mode(
                &p.connector_id,
                group.as_deref(),
                tx.mode_override(&p.connector_id)?.as_ref(),
            )
            .0;
        // Only an open proposal is worth authorizing; otherwise say what happened to it.
        if p.state == ProposalState::Proposed && !p.is_expired(now) {
            let approve = req.verb == Verb::Approve;
            if let Err(refusal) =
                authorize::may_decide(state, req.user, &p, group.as_deref(), mode_now, approve)
            {
                return deny(tx, req, &p, &refusal, channel);
            }
        }
        let result = match &req.verb {
            Verb::Approve => p.approve(req.user, now).map(Some),
            Verb::CheckReject => {
                // Validate only: the modal comes back as `Reject`.
                match p.clone().reject(req.user, now) {
                    Ok(()) => {
                        return Ok(Decided::AskRejectReason(RejectPrompt {
                            proposal_id: p.id.clone(),
                            channel: req.channel.map(str::to_string),
                            message_ts: req.message_ts.map(str::to_string),
                            summary: reject_summary(&p, incident.as_ref()),
                        }))
                    }
                    Err(e) => Err(e),
                }
            }
            Verb::Reject { reason } => p.reject(req.user, now).map(|()| {
                p.governance.reject_reason = reason.clone();
                None
            }),
        };
        match result {
            Ok(approval) => applied(tx, req, &p, approval),
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
                    tx,
                    req,
                    Some(&p),
                    "decision_refused",
                    format!(
                        "This proposal expired at {}; nothing was done.",
                        time_label(at)
                    ),
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
                    (st, Some(by), _) if by == "system" && p.governance.auto.is_some() => {
                        format!(
                            "Auto mode already ran this fix; it is {}. Nothing more was done.",
                            st.as_str()
                        )
                    }
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
                    tx,
                    req,
                    Some(&p),
                    "decision_refused",
                    reason,
                    serde_json::json!({ "proposal_state": st }),
                    channel,
                )
            }
            Err(e) => refuse(
                tx,
                req,
                Some(&p),
                "decision_refused",
                format!("{e}; nothing was done."),
                serde_json::Value::Null,
                channel,
            ),
        }
    })?;
    Ok(outcome)
}

fn shown_on(channel: Option<&str>, ts: Option<&str>, messages: &[SlackRef]) -> bool {
    ts.is_some_and(|ts| {
        messages
            .iter()
            .any(|m| m.ts == ts && channel.is_none_or(|c| c == m.channel))
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
        let refuse = |reason: &str| -> TxResult<Decided> {
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
        if !shown_on(
            click.channel_id.as_deref(),
            click.message_ts.as_deref(),
            &incident.messages,
        ) {
            return refuse("This button does not belong to the alert it was clicked on");
        }
        if !incident.is_open() {
            return refuse("The connector has recovered; there is nothing to snooze");
        }
        snooze::snooze(
            tx,
            &Snooze {
                connector_id: incident.connector_id.clone(),
                connector_name: incident.connector_name.clone(),
                until: now + chrono::Duration::seconds(seconds),
                by: click.user_id.clone(),
                at: now,
            },
        )?;
        Ok(Decided::Snoozed)
    })
}

fn reject_summary(p: &Proposal, incident: Option<&Incident>) -> String {
    let connector = incident
        .and_then(|i| i.connector_name.clone())
        .unwrap_or_else(|| p.connector_id.clone());
    format!("{} — {}", p.action.label(), connector)
}

/// Writes an accepted decision: the proposal, its audit record, the follow-up jobs.
fn applied(
    tx: &Tx<'_>,
    req: &Request<'_>,
    p: &Proposal,
    approval: Option<Approval>,
) -> TxResult<Decided> {
    tx.put_proposal(p)?;
    let call = serde_json::json!({
        "action": p.action.name(),
        "method": p.call.method,
        "path": p.call.path,
        "body": p.call.body,
        "call_sha256": p.call_hash(),
    });
    let (kind, decided, mut detail) = match approval {
        Some(Approval::Recorded { have, need }) => (
            "approval_recorded",
            Decided::ApprovalRecorded { have, need },
            serde_json::json!({ "approvals": have, "required": need }),
        ),
        Some(Approval::Complete) => (
            "proposal_approved",
            Decided::Approved,
            serde_json::json!({
                "approvers": p.governance.approvals.iter().map(|a| a.user.clone()).collect::<Vec<_>>(),
            }),
        ),
        None => (
            "proposal_rejected",
            Decided::Rejected,
            serde_json::json!({ "reason": p.governance.reject_reason }),
        ),
    };
    if let (Some(d), serde_json::Value::Object(c)) = (detail.as_object_mut(), call) {
        d.extend(c);
    }
    tx.audit(
        AuditEntry::by(kind, req.user)
            .connector(Some(&p.connector_id))
            .incident(&p.incident_id)
            .proposal(&p.id)
            .detail(detail),
    )?;
    if decided == Decided::Approved {
        tx.enqueue_now(JobKind::Execute {
            proposal_id: p.id.clone(),
        })?;
    }
    tx.enqueue_now(JobKind::UpdateMessage {
        incident_id: p.incident_id.clone(),
    })?;
    Ok(decided)
}

fn decided_word(state: ProposalState) -> &'static str {
    match state {
        ProposalState::Rejected => "rejected",
        _ => "approved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_values_carry_the_call_hash() {
        assert_eq!(parse_button_value("p_1"), ("p_1", None));
        assert_eq!(parse_button_value("p_1:abc"), ("p_1", Some("abc")));
    }
}
