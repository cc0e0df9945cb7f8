//! Expiry: every open proposal has a durable job due at its `expires_at`. When it runs the
//! proposal becomes Expired (if nobody decided meanwhile) and the alert is updated, so a
//! stale Approve button disappears by itself rather than on the next click.

use crate::app::SharedState;
use crate::remediation::policy::Mode;
use crate::remediation::proposal::ProposalState;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::worker::Outcome;

pub fn expire(state: &SharedState, job: &Job, proposal_id: &str) -> anyhow::Result<Outcome> {
    let now = state.now();
    state.store.transact(now, |tx| {
        tx.complete_job(job)?;
        let Some(mut p) = tx.proposal(proposal_id)? else {
            return Ok(());
        };
        if p.state != ProposalState::Proposed {
            return Ok(());
        }
        if !p.is_expired(now) {
            // Due early (a clock step): come back at the real time.
            tx.enqueue(
                JobKind::ExpireProposal {
                    proposal_id: p.id.clone(),
                },
                p.expires_at,
            )?;
            return Ok(());
        }
        if p.expire(now).is_err() {
            return Ok(());
        }
        tx.put_proposal(&p)?;
        tx.audit(
            AuditEntry::system("proposal_expired")
                .connector(Some(&p.connector_id))
                .incident(&p.incident_id)
                .proposal(&p.id)
                .detail(serde_json::json!({
                    "expires_at": p.expires_at,
                    "approvals": p.governance.approvals.len(),
                    "required": p.governance.required_approvals,
                })),
        )?;
        // A monitor-mode alert never had buttons: it stays as posted.
        if p.governance.mode != Mode::Monitor {
            tx.enqueue_now(JobKind::UpdateMessage {
                incident_id: p.incident_id.clone(),
            })?;
        }
        Ok(())
    })?;
    Ok(Outcome::Done)
}
