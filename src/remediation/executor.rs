//! The only code that calls mutating Fivetran endpoints, and only for an approved proposal
//! (approved by people, or by auto mode within its budget) whose pre-flight re-read passed.
//! Executing is persisted (and flushed) before the call, so a crash mid-call is recognised on
//! restart: an idempotent call is resumed, anything else becomes Interrupted.

use crate::app::SharedState;
use crate::fivetran::api::{ApiError, ApiResponse};
use crate::remediation::proposal::{Proposal, ProposalState, TransitionError};
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::store::Tx;
use crate::worker::{backoff, Outcome};
use std::time::Duration;

/// Attempts for a call that failed with 5xx or a dropped connection.
pub const MAX_EXECUTION_ATTEMPTS: u32 = 5;

enum Claim {
    Run(Box<Proposal>),
    Nothing,
}

fn audit_call(kind: &str, p: &Proposal) -> AuditEntry {
    AuditEntry::system(kind)
        .connector(Some(&p.connector_id))
        .incident(&p.incident_id)
        .proposal(&p.id)
}

fn call_detail(p: &Proposal) -> serde_json::Value {
    serde_json::json!({
        "action": p.action.name(),
        "method": p.call.method,
        "path": p.call.path,
        "body": p.call.body,
        "call_sha256": p.call_hash(),
        "prior": p.governance.prior,
        "attempt": p.execution.as_ref().map(|e| e.attempts),
    })
}

fn finish_tx(
    tx: &Tx<'_>,
    job: &Job,
    p: &Proposal,
    kind: &str,
    extra: serde_json::Value,
) -> crate::store::TxResult<()> {
    let mut detail = call_detail(p);
    if let (Some(d), serde_json::Value::Object(x)) = (detail.as_object_mut(), extra) {
        d.extend(x);
    }
    tx.put_proposal(p)?;
    tx.audit(audit_call(kind, p).detail(detail))?;
    tx.enqueue_now(JobKind::UpdateMessage {
        incident_id: p.incident_id.clone(),
    })?;
    tx.complete_job(job)?;
    Ok(())
}

/// An idempotent call whose last attempt may have reached Fivetran (a crash mid-call, a 5xx):
/// if the connection already shows its effect, finish without sending it again.
async fn resume_if_done(
    state: &SharedState,
    job: &Job,
    proposal_id: &str,
) -> anyhow::Result<Option<Outcome>> {
    let Some(p) = state.store.proposal(proposal_id)? else {
        return Ok(None);
    };
    let maybe_sent = p.execution.as_ref().is_some_and(|e| !e.resumable);
    if p.state != ProposalState::Executing || !maybe_sent || !p.action.idempotent() || p.is_batch()
    {
        return Ok(None);
    }
    let Ok(connection) = state.fivetran.get_connection(&p.connector_id).await else {
        return Ok(None);
    };
    let Some(seen) = super::resume::already_in_effect(&p.action, &connection) else {
        return Ok(None);
    };
    let now = state.now();
    let mut p = p;
    p.finish(
        now,
        true,
        None,
        None,
        format!("already in effect ({seen}): the earlier attempt reached Fivetran, so it was not sent again"),
    )
    .ok();
    state.store.transact(now, |tx| {
        finish_tx(
            tx,
            job,
            &p,
            "execution_succeeded",
            serde_json::json!({ "resent": false, "observed": seen }),
        )
    })?;
    tracing::info!(proposal = %p.id, %seen, "approved call already in effect; not re-sent");
    Ok(Some(Outcome::Done))
}

pub async fn execute(state: &SharedState, job: &Job, proposal_id: &str) -> anyhow::Result<Outcome> {
    if let Some(outcome) = super::preflight::gate(state, job, proposal_id).await? {
        return Ok(outcome);
    }
    if let Some(outcome) = resume_if_done(state, job, proposal_id).await? {
        return Ok(outcome);
    }
    let now = state.now();
    let claim = state.store.transact(now, |tx| {
        let Some(mut p) = tx.proposal(proposal_id)? else {
            tx.complete_job(job)?;
            return Ok(Claim::Nothing);
        };
        match p.claim(now) {
            Ok(()) => {
                tx.put_proposal(&p)?;
                tx.audit(audit_call("execution_started", &p).detail(call_detail(&p)))?;
                Ok(Claim::Run(Box::new(p)))
            }
            Err(TransitionError::Invalid {
                from: ProposalState::Executing,
                ..
            }) => {
                // Crashed while a non-idempotent call was in flight: never send it twice.
                p.interrupt(
                    now,
                    "syncwarden stopped while the call was in flight; its outcome is unknown"
                        .into(),
                )
                .ok();
                finish_tx(tx, job, &p, "execution_interrupted", serde_json::json!({}))?;
                Ok(Claim::Nothing)
            }
            Err(_) => {
                // Not approved (or already finished): nothing to run.
                tx.complete_job(job)?;
                Ok(Claim::Nothing)
            }
        }
    })?;
    let Claim::Run(p) = claim else {
        return Ok(Outcome::Done);
    };
    let mut p = *p;
    state.store.flush().await?;
    if p.is_batch() {
        return super::batch::run(state, job, p).await;
    }

    tracing::info!(proposal = %p.id, call = %p.call.display(), "executing approved call");
    let result = state.fivetran.send(&p.call).await;
    let now = state.now();
    let attempts = p.execution.as_ref().map(|e| e.attempts).unwrap_or(1);

    let retry = |p: &mut Proposal,
                 after: Duration,
                 error: String,
                 kind: &str,
                 count: bool|
     -> anyhow::Result<Outcome> {
        if let Some(e) = p.execution.as_mut() {
            e.resumable = true;
            e.message = error.clone();
        }
        let p = p.clone();
        let due = now + chrono::Duration::from_std(after).unwrap_or_default();
        state.store.transact(now, |tx| {
            tx.put_proposal(&p)?;
            tx.audit(audit_call(kind, &p).detail(serde_json::json!({
                "error": error,
                "retry_at": due,
            })))?;
            tx.reschedule_job(job, due, error.clone(), count)
        })?;
        Ok(Outcome::Done)
    };

    let finish = |p: &mut Proposal,
                  ok: bool,
                  resp: Option<&ApiResponse>,
                  message: String|
     -> anyhow::Result<Outcome> {
        p.finish(
            now,
            ok,
            resp.map(|r| r.status),
            resp.map(|r| r.code.clone()),
            state.redactor.redact(&message),
        )
        .ok();
        let p = p.clone();
        let kind = if ok {
            "execution_succeeded"
        } else {
            "execution_failed"
        };
        let extra = serde_json::json!({
            "status": resp.map(|r| r.status),
            "code": resp.map(|r| r.code.clone()),
            "message": p.execution.as_ref().map(|e| e.message.clone()),
        });
        state
            .store
            .transact(now, |tx| finish_tx(tx, job, &p, kind, extra.clone()))?;
        tracing::info!(proposal = %p.id, state = p.state.as_str(), "execution finished");
        Ok(Outcome::Done)
    };

    match result {
        Ok(resp) => {
            let msg = resp.message.clone();
            finish(&mut p, true, Some(&resp), msg)
        }
        Err(ApiError::RateLimited { retry_after, .. }) => retry(
            &mut p,
            retry_after,
            format!(
                "Fivetran rate limit; waiting {}s (Retry-After)",
                retry_after.as_secs()
            ),
            "execution_rate_limited",
            false,
        ),
        // Held by our own gate (Retry-After, budget, breaker): nothing was sent, so any
        // action may simply wait.
        Err(e @ ApiError::Deferred { wait, .. }) => {
            retry(&mut p, wait, e.to_string(), "execution_deferred", false)
        }
        Err(ApiError::Transport {
            message,
            sent: false,
        }) if attempts < MAX_EXECUTION_ATTEMPTS => {
            retry(&mut p, backoff(attempts), message, "execution_retry", true)
        }
        Err(e @ (ApiError::Server { .. } | ApiError::Transport { sent: true, .. }))
            if p.action.idempotent() && attempts < MAX_EXECUTION_ATTEMPTS =>
        {
            // Safe to repeat, but not known to be unsent: keep `resumable` off.
            let error = e.to_string();
            let after = backoff(attempts);
            let due = now + chrono::Duration::from_std(after).unwrap_or_default();
            let snapshot = p.clone();
            state.store.transact(now, |tx| {
                tx.audit(
                    audit_call("execution_retry", &snapshot).detail(serde_json::json!({
                        "error": error,
                        "status": e.status(),
                        "retry_at": due,
                    })),
                )?;
                tx.reschedule_job(job, due, error.clone(), true)
            })?;
            Ok(Outcome::Done)
        }
        Err(ApiError::Transport {
            message,
            sent: true,
        }) if !p.action.idempotent() => {
            p.interrupt(
                now,
                format!("connection lost mid-call ({message}); outcome unknown, not re-sent"),
            )
            .ok();
            let snapshot = p.clone();
            state.store.transact(now, |tx| {
                finish_tx(
                    tx,
                    job,
                    &snapshot,
                    "execution_interrupted",
                    serde_json::json!({}),
                )
            })?;
            Ok(Outcome::Done)
        }
        Err(e) => {
            let resp = match &e {
                ApiError::RateLimited { response, .. }
                | ApiError::Server { response }
                | ApiError::Refused { response } => Some(response.clone()),
                _ => None,
            };
            finish(&mut p, false, resp.as_ref(), e.to_string())
        }
    }
}
