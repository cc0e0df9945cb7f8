//! Auto mode's safety limits. A daily budget per connector caps how many low-risk fixes run
//! without a click; a breaker stops automatic fixes on a connector once
//! `policy.auto.breaker_failures` syncs in a row have failed after one, and the next
//! proposal becomes `pause_connector` (which needs an approver). A successful sync, or an
//! approver setting the mode again with `/fivetran mode`, re-arms it.

use super::policy::Policy;
use crate::fivetran::webhook::{EventKind, WebhookEvent};
use crate::store::audit::AuditEntry;
use crate::store::governance::Breaker;
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
    if b.failures >= policy.auto.breaker_failures {
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
    tx.put_breaker(connector, &b)
}

/// Re-arms the breaker (an approver chose the mode again).
pub fn reset_breaker(tx: &Tx<'_>, connector: &str) -> TxResult<bool> {
    let was = tx.breaker(connector)?;
    tx.put_breaker(connector, &Breaker::default())?;
    Ok(was.tripped_at.is_some())
}
