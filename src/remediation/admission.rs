//! Applies the policy to a proposal the moment it is created, in the same transaction: the
//! connector's mode (how the message is drawn), how many approvers it needs, the job that
//! expires it, and in auto mode — budget and breaker permitting — approval on the spot by
//! `system`, after which the executor runs it like any approved proposal.

use super::action::Action;
use super::policy::{Mode, Policy};
use super::proposal::{AutoRun, ProposalState};
use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::{Tx, TxResult};

/// Who auto mode decides as.
pub const AUTO_ACTOR: &str = "system";

pub fn admit(tx: &Tx<'_>, policy: &Policy, proposal_id: &str) -> TxResult<()> {
    let Some(mut p) = tx.proposal(proposal_id)? else {
        return Ok(());
    };
    let mut incident = tx.incident(&p.incident_id)?;
    let group = incident.as_ref().and_then(|i| i.group_id.clone());
    let (mode, source) = policy.mode(
        &p.connector_id,
        group.as_deref(),
        tx.mode_override(&p.connector_id)?.as_ref(),
    );
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
