//! Daily audit checkpoints (`audit.checkpoint_channel`): once a day, at
//! `audit.checkpoint_time` UTC, the bot posts the audit log's record count and head hash to a
//! channel. Slack keeps that history outside syncwarden's data directory, so a log that was
//! rewritten and re-hashed end to end still fails `syncwarden audit verify --checkpoint
//! SEQ:HASH` against an earlier post.
//!
//! The post is a durable job that schedules the next one when it finishes; start-up makes
//! sure exactly one is pending. The `audit_checkpoint_posted` record it appends comes after
//! the head it reports.

use crate::app::SharedState;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::store::{Store, StoreError};
use crate::worker::Outcome;
use chrono::{DateTime, NaiveTime, Utc};
use slack_morphism::prelude::*;

/// The next time of day `at` (UTC) strictly after `now`.
pub fn next_after(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

/// Queues the first checkpoint if checkpoints are configured and none is pending.
pub fn ensure_scheduled(
    store: &Store,
    checkpoint: Option<&(String, NaiveTime)>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some((_, at)) = checkpoint else {
        return Ok(());
    };
    let pending = store
        .jobs()?
        .iter()
        .any(|j| j.kind == JobKind::AuditCheckpoint);
    if !pending {
        store.transact(now, |tx| {
            tx.enqueue(JobKind::AuditCheckpoint, next_after(now, *at))
                .map(|_| ())
        })?;
    }
    Ok(())
}

fn message(
    records: u64,
    head: &str,
    verified: Result<(), String>,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let text = format!(
        "Audit checkpoint {}: {records} records, head {head}",
        now.format("%Y-%m-%d %H:%M UTC")
    );
    let status = match verified {
        Ok(()) => ":lock: Hash chain verified.".to_string(),
        Err(fault) => format!(":warning: The hash chain does NOT verify: {fault}"),
    };
    SlackMessageContent::new().with_text(text).with_blocks(vec![
        SlackSectionBlock::new()
            .with_text(md!(format!(
                "*Audit checkpoint* · {}\nRecords: *{records}*\nHead hash: `{head}`\n{status}",
                now.format("%Y-%m-%d %H:%M UTC")
            )))
            .into(),
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(format!(
                "Check the log against this post: `syncwarden audit verify --checkpoint {records}:{head}`"
            )),
        )])
        .into(),
    ])
}

pub async fn post(state: &SharedState, job: &Job) -> anyhow::Result<Outcome> {
    let Some((channel, at)) = state.settings.audit.checkpoint.clone() else {
        // Checkpoints were switched off since this was queued.
        state
            .store
            .transact(state.now(), |tx| tx.complete_job(job))?;
        return Ok(Outcome::Done);
    };
    let store = state.store.clone();
    let verified = tokio::task::spawn_blocking(move || store.verify_audit(None)).await??;
    let (records, head, ok) = match &verified {
        Ok(s) => (s.records, s.head.clone(), Ok(())),
        Err(fault) => {
            let (n, h) = state.store.audit_head()?.unwrap_or_default();
            (n, h, Err(fault.to_string()))
        }
    };
    let now = state.now();
    let posted = match state
        .slack
        .post_message(&channel, message(records, &head, ok.clone(), now))
        .await
    {
        Ok(p) => p,
        Err(e) => return Ok(crate::notify::on_slack_error(job, e)),
    };
    state.store.transact(now, |tx| {
        tx.audit(
            AuditEntry::system("audit_checkpoint_posted").detail(serde_json::json!({
                "records": records,
                "head": head,
                "chain_verified": ok.is_ok(),
                "channel": posted.channel,
                "ts": posted.ts,
            })),
        )?;
        tx.complete_job(job)?;
        tx.enqueue(JobKind::AuditCheckpoint, next_after(now, at))?;
        Ok(())
    })?;
    tracing::info!(records, head = %head, "audit checkpoint posted");
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_checkpoint_is_later_today_or_tomorrow() {
        let at = NaiveTime::from_hms_opt(9, 30, 0).unwrap();
        let morning = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
        assert_eq!(
            next_after(morning, at),
            Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap()
        );
        let exactly = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
        assert_eq!(
            next_after(exactly, at),
            Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).unwrap()
        );
    }
}
