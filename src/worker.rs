//! The job worker: takes due jobs from the store and runs their handlers. Handlers finish
//! their job in the same transaction as the state they write; the worker only deals with
//! retries and giving up.

use crate::app::SharedState;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use std::time::Duration;

/// What a handler wants done with its job when it did not finish it.
#[derive(Debug)]
pub enum Outcome {
    /// The handler completed the job in its own transaction.
    Done,
    /// Try again after `after`. `count` says whether this attempt counts toward giving up
    /// (a rate-limit wait does not).
    Retry {
        after: Duration,
        error: String,
        count: bool,
    },
    /// The job cannot succeed.
    GiveUp(String),
}

pub const MAX_ATTEMPTS: u32 = 8;
/// Rate-limit waits are not failures, but a job that is throttled forever must still end.
pub const MAX_THROTTLED: u32 = 50;
const BATCH: usize = 64;

pub fn backoff(attempt: u32) -> Duration {
    let base = 2u64.saturating_pow(attempt.min(8)).min(300);
    // Jitter spreads retries of many jobs that failed together.
    let jitter = rand::random::<u64>() % (base / 2 + 1);
    Duration::from_secs(base + jitter)
}

async fn handle(state: &SharedState, job: &Job) -> anyhow::Result<Outcome> {
    match &job.kind {
        JobKind::Diagnose { event_id } => {
            crate::incidents::open::diagnose(state, job, *event_id).await
        }
        JobKind::Notify { incident_id } => crate::notify::post_alert(state, job, incident_id).await,
        JobKind::UpdateMessage { incident_id } => {
            crate::notify::update_alert(state, job, incident_id).await
        }
        JobKind::Ephemeral {
            channel,
            user,
            text,
        } => crate::notify::ephemeral(state, job, channel, user, text).await,
        JobKind::ChannelNotice { channel, text } => {
            crate::notices::post(state, job, channel, text).await
        }
        JobKind::Execute { proposal_id } => {
            crate::remediation::executor::execute(state, job, proposal_id).await
        }
        JobKind::Recover { event_id } => {
            crate::incidents::recover::recover(state, job, *event_id).await
        }
        JobKind::ThreadReply { incident_id, tag } => {
            crate::notify::thread_reply(state, job, incident_id, tag).await
        }
        JobKind::SnoozeEnd {
            connector_id,
            until,
        } => {
            state.store.transact(state.now(), |tx| {
                crate::incidents::snooze::snooze_ended(tx, connector_id, *until)?;
                tx.complete_job(job)?;
                Ok(())
            })?;
            Ok(Outcome::Done)
        }
        JobKind::StormMessage { storm_id } => {
            crate::notify::storm_message(state, job, storm_id).await
        }
        JobKind::ExpireProposal { proposal_id } => {
            crate::remediation::expiry::expire(state, job, proposal_id)
        }
        JobKind::AuditCheckpoint => crate::checkpoint::post(state, job).await,
    }
}

/// Runs one job and applies its outcome. Returns false if the store failed.
pub async fn run_job(state: &SharedState, job: Job) -> bool {
    let outcome = match handle(state, &job).await {
        Ok(o) => o,
        Err(e) => Outcome::Retry {
            after: backoff(job.attempts),
            error: format!("{e:#}"),
            count: true,
        },
    };
    let now = state.now();
    let result = match outcome {
        Outcome::Done => Ok(()),
        Outcome::Retry {
            after,
            error,
            count,
        } => {
            let attempts = job.attempts + u32::from(count);
            if attempts >= MAX_ATTEMPTS || job.attempts >= MAX_THROTTLED {
                dead_letter(state, &job, &error)
            } else {
                tracing::warn!(job = job.kind.name(), id = job.id, attempts, %error, "job will be retried");
                let due = now + chrono::Duration::from_std(after).unwrap_or_default();
                state
                    .store
                    .transact(now, |tx| tx.reschedule_job(&job, due, error.clone(), count))
                    .map(|_| ())
            }
        }
        Outcome::GiveUp(error) => dead_letter(state, &job, &error),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(job = job.kind.name(), id = job.id, error = %e, "store failed while finishing job");
            false
        }
    }
}

fn dead_letter(
    state: &SharedState,
    job: &Job,
    error: &str,
) -> Result<(), crate::store::StoreError> {
    tracing::error!(job = job.kind.name(), id = job.id, %error, "job failed for good");
    state.store.transact(state.now(), |tx| {
        tx.complete_job(job)?;
        tx.audit(AuditEntry::system("job_failed").detail(serde_json::json!({
            "job": job.kind,
            "attempts": job.attempts + 1,
            "error": error,
        })))?;
        Ok(())
    })
}

/// Runs every job that is due now, including jobs those jobs enqueue, until none is due.
/// Returns how many ran. Tests call this directly instead of sleeping.
pub async fn run_due_jobs(state: &SharedState) -> usize {
    let mut ran = 0;
    // Bounded so a handler that keeps enqueueing due work cannot spin forever.
    for _ in 0..1000 {
        let jobs = match state.store.due_jobs(state.now(), BATCH) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "cannot read jobs");
                break;
            }
        };
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            // Processed one by one, in due order: a message update never overtakes its post.
            run_job(state, job).await;
            ran += 1;
        }
    }
    ran
}

pub async fn run(state: SharedState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        run_due_jobs(&state).await;
        let wait = match state.store.next_due() {
            Ok(Some(due)) => (due - state.now()).to_std().unwrap_or(Duration::ZERO),
            _ => Duration::from_secs(5),
        }
        .clamp(Duration::from_millis(10), Duration::from_secs(5));
        tokio::select! {
            _ = state.jobs_ready.notified() => {},
            _ = tokio::time::sleep(wait) => {},
            _ = stop.changed() => {},
        }
    }
}
