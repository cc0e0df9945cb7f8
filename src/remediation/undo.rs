//! Undo for reversible actions (`pause_connector`, `resume_connector`, `set_sync_frequency`).
//! The value is captured by the pre-flight read just before the call runs; after a success
//! the alert offers **Undo**, which creates a new proposal restoring that value. The undo goes
//! through the same approval rules, and runs only if the connector still has the value the
//! original call set (otherwise someone changed it since, and the undo is skipped).

use super::action::{Action, SYNC_FREQUENCIES};
use super::policy::Mode;
use super::proposal::{ConnectorFacts, Proposal, ProposalState};

/// The action restoring what `p` changed, and what must still hold for it to run.
pub fn inverse(p: &Proposal) -> Option<(Action, ConnectorFacts)> {
    let prior = p.governance.prior.as_ref()?;
    match &p.action {
        Action::PauseConnector if prior.paused == Some(false) => Some((
            Action::ResumeConnector,
            ConnectorFacts {
                paused: Some(true),
                ..ConnectorFacts::default()
            },
        )),
        Action::ResumeConnector if prior.paused == Some(true) => Some((
            Action::PauseConnector,
            ConnectorFacts {
                paused: Some(false),
                ..ConnectorFacts::default()
            },
        )),
        Action::SetSyncFrequency { minutes } => {
            let before = prior.sync_frequency?;
            (before != *minutes && SYNC_FREQUENCIES.contains(&before)).then(|| {
                (
                    Action::SetSyncFrequency { minutes: before },
                    ConnectorFacts {
                        sync_frequency: Some(*minutes),
                        ..ConnectorFacts::default()
                    },
                )
            })
        }
        _ => None,
    }
}

/// The undo the message offers, if any: after a success, once.
pub fn offer(p: &Proposal) -> Option<Action> {
    if p.state != ProposalState::Succeeded
        || p.governance.undone_by.is_some()
        || p.governance.mode == Mode::Monitor
    {
        return None;
    }
    inverse(p).map(|(a, _)| a)
}

/// A click on **Undo**: creates the undo proposal (requested by the clicker, so someone else
/// approves it), posts it in the channel, and marks the original so Undo is offered once.
pub fn request(
    state: &crate::app::SharedState,
    click: &crate::slack::interaction::Click,
) -> Result<super::decide::Decided, crate::store::StoreError> {
    use super::decide::Decided;
    use crate::incidents::requested::{requested, Request};
    use crate::store::audit::AuditEntry;
    use crate::store::jobs::JobKind;

    let now = state.now();
    state.store.transact(now, |tx| {
        let refuse = |reason: String, p: Option<&Proposal>| -> crate::store::TxResult<Decided> {
            let mut entry = AuditEntry::by("undo_refused", &click.user_id).detail(
                serde_json::json!({ "proposal": click.value, "reason": reason }),
            );
            if let Some(p) = p {
                entry = entry
                    .connector(Some(&p.connector_id))
                    .incident(&p.incident_id)
                    .proposal(&p.id);
            }
            tx.audit(entry)?;
            if let Some(channel) = &click.channel_id {
                tx.enqueue_now(JobKind::Ephemeral {
                    channel: channel.clone(),
                    user: click.user_id.clone(),
                    text: reason.clone(),
                })?;
            }
            Ok(Decided::Refused(reason))
        };
        let Some(mut original) = tx.proposal(&click.value)? else {
            return refuse(
                "This proposal does not exist (any more); nothing was done.".into(),
                None,
            );
        };
        let Some(incident) = tx.incident(&original.incident_id)? else {
            return refuse(
                "The alert for this proposal is gone; nothing was done.".into(),
                Some(&original),
            );
        };
        let shown_here = click
            .message_ts
            .as_deref()
            .is_some_and(|ts| incident.message_at(click.channel_id.as_deref(), ts).is_some());
        if !shown_here {
            return refuse(
                "This button does not belong to the alert it was clicked on; nothing was done."
                    .into(),
                Some(&original),
            );
        }
        if let Some(by) = &original.governance.undone_by {
            return refuse(
                format!("An undo was already requested (proposal `{by}`); nothing more was done."),
                Some(&original),
            );
        }
        let Some((action, precondition)) = inverse(&original)
            .filter(|_| original.state == ProposalState::Succeeded)
        else {
            return refuse(
                "There is nothing to undo for this proposal; nothing was done.".into(),
                Some(&original),
            );
        };
        let mode = super::admission::current_mode(
            tx,
            &state.policy,
            &original,
            incident.group_id.as_deref(),
        )?
        .0;
        if mode == Mode::Monitor {
            return refuse(
                super::authorize::Refusal::MonitorMode.message(),
                Some(&original),
            );
        }
        let channel = click
            .channel_id
            .clone()
            .or_else(|| incident.channels.first().cloned())
            .unwrap_or_else(|| state.settings.slack_default_channel.clone());
        let text = format!(
            "Undo of proposal {} ({}), restoring the value from just before it ran",
            original.id,
            original.action.name()
        );
        let (mut undo_incident, mut undo) = requested(&Request {
            user: &click.user_id,
            channel: &channel,
            command_text: &text,
            connector_id: &original.connector_id,
            connector_name: incident.connector_name.as_deref(),
            connector_type: incident.connector_type.as_deref(),
            group_id: incident.group_id.as_deref(),
            action,
            now,
            ttl: state.policy.proposal_ttl,
        });
        let ran_at = original
            .execution
            .as_ref()
            .and_then(|e| e.finished_at)
            .unwrap_or(now);
        undo_incident.summary.cause = format!(
            "<@{}> asked to undo proposal {} ({}), which ran at {}.",
            click.user_id,
            original.id,
            original.action.label(),
            ran_at.format("%Y-%m-%d %H:%M UTC")
        );
        undo_incident.summary.next_step = "An approver other than the person who asked decides; it runs only if the connector still has the value the original call set.".into();
        undo.governance.undo_of = Some(original.id.clone());
        undo.governance.precondition = Some(precondition);
        tx.put_incident(&undo_incident)?;
        tx.audit(
            AuditEntry::by("incident_opened", &click.user_id)
                .connector(Some(&undo_incident.connector_id))
                .incident(&undo_incident.id)
                .detail(serde_json::json!({ "undo_of": original.id, "channel": channel })),
        )?;
        super::admission::record_created(
            tx,
            &undo,
            &click.user_id,
            serde_json::json!({
                "requested_by": undo.requested_by,
                "undo_of": original.id,
                "requires": undo.governance.precondition,
            }),
        )?;
        super::admission::admit(tx, &state.policy, &undo.id)?;
        tx.enqueue_now(JobKind::Notify {
            incident_id: undo_incident.id.clone(),
        })?;
        original.governance.undone_by = Some(undo.id.clone());
        tx.put_proposal(&original)?;
        tx.audit(
            AuditEntry::by("undo_requested", &click.user_id)
                .connector(Some(&original.connector_id))
                .incident(&original.incident_id)
                .proposal(&original.id)
                .detail(serde_json::json!({
                    "undo_proposal": undo.id,
                    "restores": original.governance.prior,
                })),
        )?;
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: original.incident_id.clone(),
        })?;
        Ok(Decided::UndoRequested)
    })
}
