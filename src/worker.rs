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
/// Waits (rate limits, held calls, a Slack outage) are not failures, but a job that waits
/// for ever must still end: after a day, or after this many waits.
pub const MAX_WAITING: chrono::Duration = chrono::Duration::hours(24);
pub const MAX_THROTTLED: u32 = 5_000;

pub fn backoff(attempt: u32) -> Duration {
    let base = 2u64.saturating_pow(attempt.min(8)).min(300);
    // Jitter spreads retries of many jobs that failed together.
    let jitter = rand::random::<u64>() % (base / 2 + 1);
    Duration::from_secs(base + jitter)
}

async fn handle(state: &SharedState, job: &Job) -> anyhow::Result<Outcome> {
    match &job.kind {
        JobKind::Diagnose { event_id, .. } => {
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
        JobKind::Recover { event_id, .. } => {
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

/// Runs one claimed job and applies its outcome. Returns false if the store failed.
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
            let throttled = job.throttled + u32::from(!count);
            let waited_too_long = !count && now - job.created_at >= MAX_WAITING;
            if attempts >= MAX_ATTEMPTS || throttled >= MAX_THROTTLED || waited_too_long {
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

/// At most one dead-letter notice per this long: a Slack outage that kills many jobs is one
/// message, not a flood (each job is still audited and listed).
const DEAD_NOTICE_EVERY: chrono::Duration = chrono::Duration::hours(1);
const META_DEAD_NOTICE_AT: &[u8] = b"dead_notice_at";

fn dead_letter(
    state: &SharedState,
    job: &Job,
    error: &str,
) -> Result<(), crate::store::StoreError> {
    tracing::error!(job = job.kind.name(), id = job.id, %error, "job failed for good");
    let now = state.now();
    let error = state.redactor.redact(error);
    state.store.transact(now, |tx| {
        tx.bury_job(job, &error)?;
        tx.audit(AuditEntry::system("job_failed").detail(serde_json::json!({
            "job_id": job.id,
            "job": job.kind,
            "attempts": job.attempts + 1,
            "error": error,
        })))?;
        // A notice about a failed notice could fail the same way, forever.
        let notices = matches!(
            job.kind,
            JobKind::ChannelNotice { .. } | JobKind::Ephemeral { .. }
        );
        let last = tx
            .meta_get(META_DEAD_NOTICE_AT)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        if !notices && last.is_none_or(|t| now - t >= DEAD_NOTICE_EVERY) {
            tx.meta_put(META_DEAD_NOTICE_AT, now.to_rfc3339().as_bytes())?;
            tx.enqueue_now(JobKind::ChannelNotice {
                channel: state.settings.slack_default_channel.clone(),
                text: format!(
                    ":warning: syncwarden gave up on a background job (`{}` #{}, {} attempts): {}. It is kept in the dead-letter list: `syncwarden jobs list --dead` shows it and `syncwarden jobs retry {}` runs it again. Further failures in the next hour are only logged and listed.",
                    job.kind.name(),
                    job.id,
                    job.attempts + 1,
                    crate::slack::blocks::escape(&crate::slack::blocks::clip(&error, 300)),
                    job.id
                ),
            })?;
        }
        Ok(())
    })
}

/// How long a claim holds a job; only a crash leaves one behind, and the next start
/// releases it at once, so this only needs to outlast the slowest handler.
pub const LEASE: Duration = Duration::from_secs(600);

/// Runs every job that is due now, one at a time in due order, including jobs those jobs
/// enqueue, until none is due. Returns how many ran. Tests call this instead of sleeping.
pub async fn run_due_jobs(state: &SharedState) -> usize {
    let mut ran = 0;
    // Bounded so a handler that keeps enqueueing due work cannot spin forever.
    while ran < 64_000 {
        match state.store.claim_due(state.now(), LEASE, |_| true) {
            Ok(Some(job)) => {
                run_job(state, job).await;
                ran += 1;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!(error = %e, "cannot read jobs");
                break;
            }
        }
    }
    ran
}

fn subject_of(job: &Job) -> String {
    job.kind
        .subject()
        .unwrap_or_else(|| format!("job:{}", job.id))
}

/// What the workers of one process are running, so two jobs with one subject never overlap.
#[derive(Default)]
struct InFlight {
    subjects: std::sync::Mutex<std::collections::HashSet<String>>,
    /// One claim at a time: checking the subjects and claiming must not interleave.
    claiming: tokio::sync::Mutex<()>,
}

impl InFlight {
    fn busy(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.subjects.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn claim(
        &self,
        state: &SharedState,
    ) -> Result<Option<(Job, String)>, crate::store::StoreError> {
        let _one = self.claiming.lock().await;
        let job = {
            let busy = self.busy().clone();
            state
                .store
                .claim_due(state.now(), LEASE, |j| !busy.contains(&subject_of(j)))?
        };
        Ok(job.map(|j| {
            let subject = subject_of(&j);
            self.busy().insert(subject.clone());
            (j, subject)
        }))
    }
}

/// `workers` tasks take due jobs until `stop` is set; each finishes its current job first.
/// Claims left by a previous process (it crashed) are released before the first one starts.
pub async fn run(state: SharedState, stop: tokio::sync::watch::Receiver<bool>, workers: usize) {
    match state.store.release_claims(state.now()) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            jobs = n,
            "released jobs claimed by a process that stopped mid-job"
        ),
        Err(e) => tracing::error!(error = %e, "cannot release old job claims"),
    }
    let in_flight = std::sync::Arc::new(InFlight::default());
    let tasks: Vec<_> = (0..workers.max(1))
        .map(|_| tokio::spawn(work(state.clone(), stop.clone(), in_flight.clone())))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

async fn work(
    state: SharedState,
    mut stop: tokio::sync::watch::Receiver<bool>,
    in_flight: std::sync::Arc<InFlight>,
) {
    loop {
        if *stop.borrow() {
            break;
        }
        match in_flight.claim(&state).await {
            Ok(Some((job, subject))) => {
                run_job(&state, job).await;
                in_flight.busy().remove(&subject);
                // Something waiting for this subject may be due now.
                state.jobs_ready.notify_one();
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read jobs"),
        }
        // Nothing claimable: sleep until the next job is due, or until a job is enqueued or
        // finished. Due jobs that wait for a busy subject are woken by that finish.
        let wait = match state.store.next_due() {
            Ok(Some(due)) => (due - state.now()).to_std().unwrap_or(Duration::ZERO),
            _ => Duration::from_secs(5),
        };
        let wait = if wait.is_zero() {
            Duration::from_secs(1)
        } else {
            wait.clamp(Duration::from_millis(10), Duration::from_secs(5))
        };
        tokio::select! {
            _ = state.jobs_ready.notified() => {},
            _ = tokio::time::sleep(wait) => {},
            _ = stop.changed() => {},
        }
    }
}
