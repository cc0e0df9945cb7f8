//! Auto mode's safety limits. A daily budget per connector caps how many low-risk fixes run
//! without a click; a breaker stops automatic fixes on a connector once
//! `policy.auto.breaker_failures` syncs in a row have failed after one, and the next
//! proposal becomes `pause_connector` (which needs an approver). A successful sync, or an
//! approver setting the mode again with `/fivetran mode`, re-arms it.

use super::action::Action;
use super::policy::Policy;
use super::proposal::{Proposal, ProposalState};
use crate::fivetran::webhook::{EventKind, WebhookEvent};
use crate::store::alerting::Streak;
use crate::store::audit::AuditEntry;
use crate::store::governance::Breaker;
use crate::store::jobs::JobKind;
use crate::store::{Tx, TxResult};

/// Counts a sync outcome from a webhook against the connector's breaker, in the ingest
/// transaction. Only connectors where auto mode acted have a breaker to move.
pub fn record_sync_outcome(tx: &Tx<'_>, policy: &Policy, event: &WebhookEvent) -> TxResult<()> {
    let Some(connector) = event.connector_id.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    let mut b = tx.breaker(connector)?;
    if b == Breaker::default() {
        return Ok(());
    }
    let succeeded = event.event == "sync_end"
        && event
            .status()
            .is_some_and(|s| s.eq_ignore_ascii_case("SUCCESSFUL"));
    if succeeded {
        if b.tripped_at.is_some() {
            tx.audit(
                AuditEntry::system("auto_breaker_reset")
                    .connector(Some(connector))
                    .detail(
                        serde_json::json!({ "why": "a sync succeeded", "failures": b.failures }),
                    ),
            )?;
        }
        return tx.put_breaker(connector, &Breaker::default());
    }
    if event.kind() != EventKind::Failure || !b.armed || b.tripped_at.is_some() {
        return Ok(());
    }
    b.failures += 1;
    let tripped = b.failures >= policy.auto.breaker_failures;
    if tripped {
        b.tripped_at = Some(tx.now);
        tx.audit(
            AuditEntry::system("auto_breaker_tripped")
                .connector(Some(connector))
                .detail(serde_json::json!({
                    "failures": b.failures,
                    "limit": policy.auto.breaker_failures,
                })),
        )?;
    }
    tx.put_breaker(connector, &b)?;
    if tripped {
        propose_pause(tx, policy, connector, b.failures)?;
    }
    Ok(())
}

/// The breaker just opened: the connector's open alert now proposes pausing it (for an
/// approver) instead of what it proposed before. Repeated failures of one streak make no new
/// proposals by themselves, so this is where "pause instead" comes from.
fn propose_pause(tx: &Tx<'_>, policy: &Policy, connector: &str, failures: u32) -> TxResult<()> {
    let Some(Streak::Open(incident_id)) = tx.streak(connector)? else {
        return Ok(());
    };
    let Some(mut incident) = tx.incident(&incident_id)? else {
        return Ok(());
    };
    if incident.storm_id.is_some() || !incident.is_open() {
        return Ok(());
    }
    if let Some(old) = &incident.proposal_id {
        if let Some(mut p) = tx.proposal(old)? {
            if p.action == Action::PauseConnector && p.state == ProposalState::Proposed {
                return Ok(());
            }
            if p.supersede("auto mode's breaker opened; pausing is proposed instead")
                .is_ok()
            {
                tx.put_proposal(&p)?;
                tx.audit(
                    AuditEntry::system("proposal_superseded")
                        .connector(Some(connector))
                        .incident(&incident.id)
                        .proposal(&p.id)
                        .detail(serde_json::json!({ "reason": "auto breaker" })),
                )?;
            }
        }
    }
    let mut pause = Proposal::new(
        &incident.id,
        connector,
        Action::PauseConnector,
        super::admission::AUTO_ACTOR,
        tx.now,
        policy.proposal_ttl,
    );
    pause.governance.note = Some(format!(
        "Auto mode stopped fixing this connector: {failures} syncs in a row failed after an automatic fix. This proposes pausing it instead, which needs an approver. A successful sync or `/fivetran mode` re-enables automatic fixes."
    ));
    super::admission::record_created(
        tx,
        &pause,
        "system",
        serde_json::json!({ "why": "auto breaker" }),
    )?;
    incident.proposal_id = Some(pause.id.clone());
    tx.put_incident(&incident)?;
    super::admission::admit(tx, policy, &pause.id)?;
    if !incident.messages.is_empty() {
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: incident.id.clone(),
        })?;
    }
    Ok(())
}

/// Re-arms the breaker (an approver chose the mode again).
pub fn reset_breaker(tx: &Tx<'_>, connector: &str) -> TxResult<bool> {
    let was = tx.breaker(connector)?;
    tx.put_breaker(connector, &Breaker::default())?;
    Ok(was.tripped_at.is_some())
}
