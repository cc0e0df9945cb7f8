//! Pre-flight: just before an approved call is sent, re-read the connection. If the call has
//! become pointless (already paused, sync already running, frequency already that value) or
//! the connector changed so that the approved call would now do something else, it is not
//! sent: the proposal becomes Skipped with the reason, the alert says so, and it is audited.
//! Otherwise the settings the call will change are captured, for Undo.

use super::action::Action;
use super::proposal::{ConnectorFacts, Governance, Proposal, ProposalState};
use crate::app::SharedState;
use crate::fivetran::api::ApiError;
use crate::fivetran::model::Connection;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::worker::{backoff, Outcome};

/// What a proposal's call depends on, recorded when it is made from the connection's details:
/// a slower frequency is only slower than the frequency it was computed from.
pub fn basis(action: &Action, details: Option<&Connection>) -> Governance {
    let precondition = match action {
        Action::SetSyncFrequency { .. } => {
            details
                .and_then(|d| d.sync_frequency)
                .map(|current| ConnectorFacts {
                    sync_frequency: Some(current),
                    ..ConnectorFacts::default()
                })
        }
        _ => None,
    };
    Governance {
        precondition,
        ..Governance::default()
    }
}

/// The verdict on sending `p`'s call to a connector that looks like `c` now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Send it; these are the settings before the call.
    Proceed(ConnectorFacts),
    /// Do not send it, because…
    Skip(String),
}

fn paused_word(p: Option<bool>) -> &'static str {
    match p {
        Some(true) => "paused",
        Some(false) => "not paused",
        None => "in an unknown pause state",
    }
}

pub fn check(p: &Proposal, c: &Connection) -> Check {
    if let Some(pre) = &p.governance.precondition {
        if let Some(want) = pre.paused {
            if c.paused != Some(want) {
                return Check::Skip(format!(
                    "the connector changed since this was proposed: it is {} now, not {}, so the approved call would not do what was approved",
                    paused_word(c.paused),
                    paused_word(Some(want))
                ));
            }
        }
        if let Some(want) = pre.sync_frequency {
            if c.sync_frequency != Some(want) {
                return Check::Skip(format!(
                    "the connector changed since this was proposed: its sync frequency is {} now, not {want} min, so the approved call would not do what was approved",
                    c.sync_frequency
                        .map(|f| format!("{f} min"))
                        .unwrap_or_else(|| "unknown".into())
                ));
            }
        }
    }
    let paused = c.paused == Some(true);
    let syncing = c
        .status
        .sync_state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("syncing"));
    let skip = match &p.action {
        Action::PauseConnector if paused => Some("the connector is already paused".to_string()),
        Action::ResumeConnector if c.paused == Some(false) => {
            Some("the connector is not paused, so there is nothing to resume".into())
        }
        Action::SetSyncFrequency { minutes } if c.sync_frequency == Some(*minutes) => {
            Some(format!("the sync frequency is already {minutes} min"))
        }
        Action::RetrySync if paused => {
            Some("the connector is paused, so a sync cannot start".into())
        }
        Action::RetrySync if syncing => Some("a sync is already running".into()),
        Action::ResyncConnector | Action::ResyncTables { .. } if paused => {
            Some("the connector is paused, so a re-sync cannot be scheduled".into())
        }
        _ => None,
    };
    match skip {
        Some(reason) => Check::Skip(reason),
        None => Check::Proceed(ConnectorFacts {
            paused: c.paused,
            sync_frequency: c.sync_frequency,
        }),
    }
}

fn observed(c: Option<&Connection>) -> serde_json::Value {
    match c {
        Some(c) => serde_json::json!({
            "paused": c.paused,
            "sync_frequency": c.sync_frequency,
            "sync_state": c.status.sync_state,
            "setup_state": c.status.setup_state,
        }),
        None => serde_json::Value::Null,
    }
}

fn skip(
    state: &SharedState,
    job: &Job,
    proposal_id: &str,
    reason: &str,
    seen: Option<&Connection>,
) -> anyhow::Result<Option<Outcome>> {
    let now = state.now();
    state.store.transact(now, |tx| {
        tx.complete_job(job)?;
        let Some(mut p) = tx.proposal(proposal_id)? else {
            return Ok(());
        };
        if p.skip(reason.to_string()).is_err() {
            return Ok(());
        }
        tx.put_proposal(&p)?;
        tx.audit(
            AuditEntry::system("execution_skipped")
                .connector(Some(&p.connector_id))
                .incident(&p.incident_id)
                .proposal(&p.id)
                .detail(serde_json::json!({
                    "reason": reason,
                    "observed": observed(seen),
                    "action": p.action.name(),
                    "method": p.call.method,
                    "path": p.call.path,
                    "body": p.call.body,
                })),
        )?;
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: p.incident_id.clone(),
        })?;
        Ok(())
    })?;
    tracing::info!(proposal = %proposal_id, %reason, "approved call not sent");
    Ok(Some(Outcome::Done))
}

/// Runs the pre-flight for an Approved proposal. `None`: go ahead and claim it (the prior
/// settings are stored). `Some`: the job was finished or rescheduled here.
pub async fn gate(
    state: &SharedState,
    job: &Job,
    proposal_id: &str,
) -> anyhow::Result<Option<Outcome>> {
    let Some(p) = state.store.proposal(proposal_id)? else {
        return Ok(None);
    };
    // Executing means a call may already have gone out (a crash or a rate limit mid-way):
    // the executor's own rules apply, and the pre-flight already ran.
    if p.state != ProposalState::Approved {
        return Ok(None);
    }
    // A group proposal checks each connector just before its own call (see `batch`).
    if p.is_batch() {
        return Ok(None);
    }
    if !p.approvals_match_call() {
        return skip(
            state,
            job,
            proposal_id,
            "the stored call is not the call that was approved (its SHA-256 differs)",
            None,
        );
    }
    let connection = match state.fivetran.get_connection(&p.connector_id).await {
        Ok(c) => c,
        Err(ApiError::Refused { response }) if response.status == 404 => {
            return skip(
                state,
                job,
                proposal_id,
                "the connector no longer exists in Fivetran",
                None,
            )
        }
        Err(ApiError::RateLimited { retry_after, .. }) => {
            return Ok(Some(Outcome::Retry {
                after: retry_after,
                error: "rate limited while re-reading the connector before running".into(),
                count: false,
            }))
        }
        // Held by our own gate (Retry-After, budget, breaker): wait without counting, so an
        // approval outlives a Fivetran outage.
        Err(ApiError::Deferred { wait, hold }) => {
            return Ok(Some(Outcome::Retry {
                after: wait,
                error: format!("waiting to re-read the connector before running: {hold}"),
                count: false,
            }));
        }
        Err(e) if job.attempts + 1 < super::executor::MAX_EXECUTION_ATTEMPTS => {
            return Ok(Some(Outcome::Retry {
                after: backoff(job.attempts),
                error: format!("could not re-read the connector before running: {e}"),
                count: true,
            }))
        }
        Err(e) => {
            return skip(
                state,
                job,
                proposal_id,
                &format!(
                    "could not re-read the connector before running it ({e}), so nothing was sent"
                ),
                None,
            )
        }
    };
    match check(&p, &connection) {
        Check::Skip(reason) => skip(state, job, proposal_id, &reason, Some(&connection)),
        Check::Proceed(prior) => {
            let now = state.now();
            state.store.transact(now, |tx| {
                let Some(mut p) = tx.proposal(proposal_id)? else {
                    return Ok(());
                };
                if p.state != ProposalState::Approved {
                    return Ok(());
                }
                p.governance.prior = Some(prior.clone());
                tx.put_proposal(&p)?;
                tx.audit(
                    AuditEntry::system("preflight_passed")
                        .connector(Some(&p.connector_id))
                        .incident(&p.incident_id)
                        .proposal(&p.id)
                        .detail(serde_json::json!({
                            "observed": observed(Some(&connection)),
                            "call_sha256": p.call_hash(),
                        })),
                )?;
                Ok(())
            })?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn proposal(action: Action) -> Proposal {
        let now = Utc::now();
        let mut p = Proposal::new("i", "c", action, "system", now, std::time::Duration::ZERO);
        p.state = ProposalState::Approved;
        p
    }

    fn conn(paused: bool, freq: u32, sync_state: &str) -> Connection {
        let mut c = Connection {
            id: "c".into(),
            paused: Some(paused),
            sync_frequency: Some(freq),
            ..Connection::default()
        };
        c.status.sync_state = Some(sync_state.into());
        c
    }

    fn skipped(p: &Proposal, c: &Connection) -> String {
        match check(p, c) {
            Check::Skip(r) => r,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn pointless_calls_are_skipped() {
        let idle = conn(false, 360, "scheduled");
        let paused = conn(true, 360, "scheduled");
        let syncing = conn(false, 360, "syncing");
        assert!(skipped(&proposal(Action::PauseConnector), &paused).contains("already paused"));
        assert!(skipped(&proposal(Action::ResumeConnector), &idle).contains("not paused"));
        assert!(skipped(&proposal(Action::RetrySync), &syncing).contains("already running"));
        assert!(skipped(&proposal(Action::RetrySync), &paused).contains("paused"));
        assert!(skipped(&proposal(Action::ResyncConnector), &paused).contains("re-sync"));
        assert!(
            skipped(&proposal(Action::SetSyncFrequency { minutes: 360 }), &idle)
                .contains("already 360")
        );
        assert_eq!(
            check(&proposal(Action::PauseConnector), &idle),
            Check::Proceed(ConnectorFacts {
                paused: Some(false),
                sync_frequency: Some(360)
            })
        );
        assert!(matches!(
            check(&proposal(Action::ReloadSchema), &paused),
            Check::Proceed(_)
        ));
    }

    #[test]
    fn a_changed_connector_stops_a_call_derived_from_its_old_settings() {
        let mut p = proposal(Action::SetSyncFrequency { minutes: 480 });
        let details = conn(false, 360, "scheduled");
        p.governance = basis(&p.action, Some(&details));
        assert!(matches!(check(&p, &details), Check::Proceed(_)));
        // Someone set 720 meanwhile: "one step slower" would now make it faster.
        let changed = conn(false, 720, "scheduled");
        let why = skipped(&p, &changed);
        assert!(why.contains("720 min now, not 360 min"), "{why}");
        assert_eq!(basis(&Action::RetrySync, Some(&details)).precondition, None);
    }
}
