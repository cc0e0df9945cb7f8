//! Running a group proposal (a storm's "retry all"): one call per connector, each result
//! recorded before the next call, so a crash or a rate limit resumes where it stopped and a
//! finished call is never sent again. Group proposals are only made for idempotent actions.

use crate::app::SharedState;
use crate::fivetran::api::ApiError;
use crate::remediation::proposal::Proposal;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::worker::Outcome;

fn entry(kind: &str, p: &Proposal, connector: &str) -> AuditEntry {
    AuditEntry::system(kind)
        .connector(Some(connector))
        .incident(&p.incident_id)
        .proposal(&p.id)
}

/// The pre-flight for one member, just before its call: the reason not to send it, if the
/// re-read connection makes it pointless. A connection that cannot be read is retried anyway:
/// group proposals are only made for idempotent actions.
async fn pointless(state: &SharedState, p: &Proposal, connector_id: &str) -> Option<String> {
    let connection = match state.fivetran.get_connection(connector_id).await {
        Ok(c) => c,
        Err(ApiError::Refused { response }) if response.status == 404 => {
            return Some("the connector no longer exists in Fivetran".into())
        }
        Err(_) => return None,
    };
    let mut single = Proposal::new(
        &p.incident_id,
        connector_id,
        p.action.clone(),
        &p.requested_by,
        p.created_at,
        std::time::Duration::ZERO,
    );
    single.state = p.state;
    match super::preflight::check(&single, &connection) {
        super::preflight::Check::Skip(reason) => Some(reason),
        super::preflight::Check::Proceed(_) => None,
    }
}

/// Runs the remaining calls of an Executing group proposal.
pub async fn run(state: &SharedState, job: &Job, mut p: Proposal) -> anyhow::Result<Outcome> {
    for i in 0..p.batch.len() {
        if p.batch[i].is_done() {
            continue;
        }
        let item = p.batch[i].clone();
        if let Some(reason) = pointless(state, &p, &item.connector_id).await {
            p.batch[i].skipped = Some(reason.clone());
            let snapshot = p.clone();
            state.store.transact(state.now(), |tx| {
                tx.put_proposal(&snapshot)?;
                tx.audit(
                    entry("execution_item_skipped", &snapshot, &item.connector_id).detail(
                        serde_json::json!({
                            "method": item.call.method,
                            "path": item.call.path,
                            "reason": reason,
                        }),
                    ),
                )?;
                Ok(())
            })?;
            continue;
        }
        tracing::info!(proposal = %p.id, call = %item.call.display(), "executing group call");
        let result = state.fivetran.send(&item.call).await;
        let now = state.now();
        let (ok, status, message) = match result {
            Ok(resp) => (true, Some(resp.status), resp.message),
            Err(ApiError::RateLimited { retry_after, .. }) => {
                // Not sent: wait as Fivetran asks, then resume at this call.
                let due = now + chrono::Duration::from_std(retry_after).unwrap_or_default();
                let snapshot = p.clone();
                state.store.transact(now, |tx| {
                    tx.audit(
                        entry("execution_rate_limited", &snapshot, &item.connector_id).detail(
                            serde_json::json!({
                                "method": item.call.method,
                                "path": item.call.path,
                                "retry_at": due,
                            }),
                        ),
                    )?;
                    tx.reschedule_job(job, due, "Fivetran rate limit".into(), false)
                })?;
                return Ok(Outcome::Done);
            }
            Err(e) => {
                let status = e.status();
                (false, status, e.to_string())
            }
        };
        p.batch[i].ok = Some(ok);
        p.batch[i].status = status;
        p.batch[i].message = state
            .redactor
            .redact(&crate::slack::blocks::clip(&message, 300));
        let snapshot = p.clone();
        let done = p.batch[i].clone();
        state.store.transact(now, |tx| {
            tx.put_proposal(&snapshot)?;
            tx.audit(
                entry(
                    if ok {
                        "execution_item_succeeded"
                    } else {
                        "execution_item_failed"
                    },
                    &snapshot,
                    &done.connector_id,
                )
                .detail(serde_json::json!({
                    "method": done.call.method,
                    "path": done.call.path,
                    "body": done.call.body,
                    "status": done.status,
                    "message": done.message,
                })),
            )?;
            Ok(())
        })?;
    }

    let now = state.now();
    let succeeded = p.batch.iter().filter(|b| b.ok == Some(true)).count();
    let skipped = p.batch.iter().filter(|b| b.skipped.is_some()).count();
    let total = p.batch.len();
    let all_ok = succeeded + skipped == total;
    let mut summary = format!("{succeeded} of {total} calls succeeded");
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} not needed"));
    }
    p.finish(now, all_ok, None, None, summary).ok();
    let snapshot = p.clone();
    state.store.transact(now, |tx| {
        tx.put_proposal(&snapshot)?;
        tx.audit(
            AuditEntry::system(if all_ok {
                "execution_succeeded"
            } else {
                "execution_failed"
            })
            .incident(&snapshot.incident_id)
            .proposal(&snapshot.id)
            .detail(serde_json::json!({
                "action": snapshot.action.name(),
                "calls": total,
                "succeeded": succeeded,
            })),
        )?;
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: snapshot.incident_id.clone(),
        })?;
        tx.complete_job(job)?;
        Ok(())
    })?;
    tracing::info!(proposal = %p.id, succeeded, total, "group execution finished");
    Ok(Outcome::Done)
}
