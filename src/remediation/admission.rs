//! Applies the policy to a proposal the moment it is created, in the same transaction: the
//! connector's mode (how the message is drawn), how many approvers it needs, the job that
//! expires it, and in auto mode — budget and breaker permitting — approval on the spot by
//! `system`, after which the executor runs it like any approved proposal.

use super::action::Action;
use super::policy::ModeSource;
use super::policy::{Mode, Policy};
use super::proposal::{AutoRun, Proposal, ProposalState};
use crate::incidents::storm::is_storm_id;
use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::{Tx, TxResult};

/// Who auto mode decides as.
pub const AUTO_ACTOR: &str = "system";

/// The destination group a proposal's connectors are in: its incident's, or its storm's.
pub fn group_of(tx: &Tx<'_>, p: &Proposal) -> TxResult<Option<String>> {
    Ok(if is_storm_id(&p.incident_id) {
        tx.storm(&p.incident_id)?.map(|s| s.group_id)
    } else {
        tx.incident(&p.incident_id)?.and_then(|i| i.group_id)
    })
}

/// The effective mode for a proposal now: for a group proposal, the most restrictive of its
/// connectors' modes, and never auto (a group of calls always waits for an approver).
pub fn current_mode(
    tx: &Tx<'_>,
    policy: &Policy,
    p: &Proposal,
    group_id: Option<&str>,
) -> TxResult<(Mode, ModeSource)> {
    let mut strictest: Option<(Mode, ModeSource)> = None;
    for c in p.connector_ids() {
        let m = policy.mode(c, group_id, tx.mode_override(c)?.as_ref());
        if strictest.as_ref().is_none_or(|(s, _)| m.0 < *s) {
            strictest = Some(m);
        }
    }
    let (mut mode, source) = strictest.unwrap_or((policy.default_mode, ModeSource::Default));
    if p.is_batch() && mode == Mode::Auto {
        mode = Mode::Approve;
    }
    Ok((mode, source))
}

/// Stores a new single-connector proposal with its `proposal_created` audit record, by
/// `actor` (`system` or the Slack user who asked): the call it would make and when it
/// expires, plus `extra` fields (who asked, why, what it undoes). Admission is the caller's
/// next step, once the incident it may annotate is stored.
pub fn record_created(
    tx: &Tx<'_>,
    p: &Proposal,
    actor: &str,
    extra: serde_json::Value,
) -> TxResult<()> {
    tx.put_proposal(p)?;
    let mut detail = serde_json::json!({
        "action": p.action,
        "risk": p.risk,
        "method": p.call.method,
        "path": p.call.path,
        "body": p.call.body,
        "expires_at": p.expires_at,
    });
    if let (Some(d), serde_json::Value::Object(extra)) = (detail.as_object_mut(), extra) {
        d.extend(extra);
    }
    tx.audit(
        AuditEntry::by("proposal_created", actor)
            .connector(Some(&p.connector_id))
            .incident(&p.incident_id)
            .proposal(&p.id)
            .detail(detail),
    )?;
    Ok(())
}

/// Admits a storm's group proposal, if it has a new one.
pub fn admit_storm_proposal(tx: &Tx<'_>, policy: &Policy, storm_id: &str) -> TxResult<()> {
    match tx.storm(storm_id)?.and_then(|s| s.proposal_id) {
        Some(pid) => admit(tx, policy, &pid),
        None => Ok(()),
    }
}

pub fn admit(tx: &Tx<'_>, policy: &Policy, proposal_id: &str) -> TxResult<()> {
    let Some(mut p) = tx.proposal(proposal_id)? else {
        return Ok(());
    };
    // Once, at creation: a later call (a storm growing) leaves an admitted proposal alone.
    if p.governance.admitted || p.state != ProposalState::Proposed {
        return Ok(());
    }
    p.governance.admitted = true;
    let mut incident = tx.incident(&p.incident_id)?;
    let group = group_of(tx, &p)?;
    let (mode, source) = current_mode(tx, policy, &p, group.as_deref())?;
    p.governance.mode = mode;
    p.governance.required_approvals = policy.required_approvals(&p.action);
    let approvers = policy.approvers_for(&p.connector_id, group.as_deref());
    tx.audit(
        AuditEntry::system("proposal_governed")
            .connector(Some(&p.connector_id))
            .incident(&p.incident_id)
            .proposal(&p.id)
            .detail(serde_json::json!({
                "mode": mode,
                "mode_source": source.describe(),
                "required_approvals": p.governance.required_approvals,
                "approvers_from": approvers.scope,
                "call_sha256": p.call_hash(),
            })),
    )?;

    // Fixes people ask for with a slash command always wait for an approver.
    let automatic = mode == Mode::Auto && p.requested_by == AUTO_ACTOR;
    if automatic && Policy::auto_eligible(&p.action) {
        let mut breaker = tx.breaker(&p.connector_id)?;
        if breaker.tripped_at.is_some() {
            let replaced = p.action.name();
            let pause = Action::PauseConnector;
            p.call = pause.call(&p.connector_id);
            p.risk = pause.risk();
            p.governance.required_approvals = policy.required_approvals(&pause);
            p.action = pause;
            let note = format!(
                "Auto mode stopped fixing this connector: {} syncs in a row failed after automatic fixes. Instead of another `{replaced}`, this proposes pausing it, which needs an approver. A successful sync or `/fivetran mode` re-enables automatic fixes.",
                breaker.failures
            );
            if let Some(i) = incident.as_mut() {
                i.summary.next_step = note.clone();
                tx.put_incident(i)?;
            }
            p.governance.note = Some(note);
            tx.audit(
                AuditEntry::system("auto_breaker_open")
                    .connector(Some(&p.connector_id))
                    .incident(&p.incident_id)
                    .proposal(&p.id)
                    .detail(serde_json::json!({
                        "failures": breaker.failures,
                        "instead_of": replaced,
                        "proposed": p.action.name(),
                        "method": p.call.method,
                        "path": p.call.path,
                        "body": p.call.body,
                    })),
            )?;
        } else if p.governance.required_approvals == 1 {
            let day = tx.now.date_naive();
            let budget = policy.auto.max_per_connector_per_day;
            if tx.auto_runs(&p.connector_id, day)? < budget {
                let nth = tx.count_auto_run(&p.connector_id, day)?;
                p.approve(AUTO_ACTOR, tx.now).ok();
                if p.state == ProposalState::Approved {
                    p.governance.auto = Some(AutoRun { nth, budget });
                    breaker.armed = true;
                    tx.put_breaker(&p.connector_id, &breaker)?;
                    tx.audit(
                        AuditEntry::by("proposal_auto_approved", AUTO_ACTOR)
                            .connector(Some(&p.connector_id))
                            .incident(&p.incident_id)
                            .proposal(&p.id)
                            .detail(serde_json::json!({
                                "mode": "auto",
                                "nth_today": nth,
                                "budget": budget,
                                "action": p.action.name(),
                                "method": p.call.method,
                                "path": p.call.path,
                                "body": p.call.body,
                                "call_sha256": p.call_hash(),
                            })),
                    )?;
                    tx.enqueue_now(JobKind::Execute {
                        proposal_id: p.id.clone(),
                    })?;
                }
            } else {
                p.governance.note = Some(format!(
                    "Auto mode: today's budget of {budget} automatic fixes for this connector is used, so this one needs an approver."
                ));
                tx.audit(
                    AuditEntry::system("auto_budget_exhausted")
                        .connector(Some(&p.connector_id))
                        .incident(&p.incident_id)
                        .proposal(&p.id)
                        .detail(serde_json::json!({ "budget": budget, "day": day })),
                )?;
            }
        }
    }
    tx.put_proposal(&p)?;
    if p.state == ProposalState::Proposed {
        tx.enqueue(
            JobKind::ExpireProposal {
                proposal_id: p.id.clone(),
            },
            p.expires_at,
        )?;
    }
    Ok(())
}
