//! Operator notices in `slack.default_channel`: Fivetran's API is down, and is back. Each is
//! a job written with its audit record, so a notice is posted late rather than lost, and the
//! breaker reports each change once, so a storm of failing alerts makes one notice, not one
//! per alert.

use crate::app::SharedState;
use crate::clock::SharedClock;
use crate::fivetran::gate::{BreakerChange, BreakerHook, BREAKER_COOLDOWN, BREAKER_MAX_COOLDOWN};
use crate::slack::blocks::escape;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::store::Store;
use crate::worker::Outcome;
use slack_morphism::prelude::SlackMessageContent;
use std::sync::Arc;

pub fn breaker_text(change: &BreakerChange, now: chrono::DateTime<chrono::Utc>) -> String {
    match change {
        BreakerChange::Opened {
            failures,
            last_error,
        } => format!(
            ":rotating_light: *Fivetran's API is not answering* ({failures} failures in a row; last: {}). \
             Alerts keep coming from the webhooks alone, without connection details; approved \
             actions wait and run when it is back. syncwarden checks again every {}s to {}s and \
             says here when it answers.",
            escape(&crate::slack::blocks::clip(last_error, 200)),
            BREAKER_COOLDOWN.as_secs(),
            BREAKER_MAX_COOLDOWN.as_secs(),
        ),
        BreakerChange::Closed { down_since } => format!(
            ":white_check_mark: *Fivetran's API answers again* (unavailable since {} UTC, {}). \
             Waiting actions run now.",
            down_since.format("%Y-%m-%d %H:%M:%S"),
            crate::duration::format_duration((now - *down_since).to_std().unwrap_or_default()),
        ),
    }
}

/// Queues one notice in `channel` for each breaker change, with an audit record.
pub fn breaker_hook(store: Store, clock: SharedClock, channel: String) -> BreakerHook {
    Arc::new(move |change: BreakerChange| {
        let now = clock.now();
        let (kind, detail) = match &change {
            BreakerChange::Opened {
                failures,
                last_error,
            } => (
                "fivetran_unavailable",
                serde_json::json!({ "failures": failures, "last_error": last_error }),
            ),
            BreakerChange::Closed { down_since } => (
                "fivetran_recovered",
                serde_json::json!({ "down_since": down_since }),
            ),
        };
        let text = breaker_text(&change, now);
        let queued = store.transact(now, |tx| {
            tx.audit(AuditEntry::system(kind).detail(detail.clone()))?;
            tx.enqueue_now(JobKind::ChannelNotice {
                channel: channel.clone(),
                text: text.clone(),
            })?;
            Ok(())
        });
        if let Err(e) = queued {
            tracing::error!(error = %e, kind, "could not queue the Fivetran notice");
        }
    })
}

pub async fn post(
    state: &SharedState,
    job: &Job,
    channel: &str,
    text: &str,
) -> anyhow::Result<Outcome> {
    let content = SlackMessageContent::new().with_text(text.to_string());
    if let Err(e) = state.slack.post_message(channel, content).await {
        return Ok(crate::notify::on_slack_error(job, e));
    }
    state
        .store
        .transact(state.now(), |tx| tx.complete_job(job))?;
    Ok(Outcome::Done)
}
