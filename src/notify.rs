//! Jobs that talk to Slack: post an alert (unless it is held), update it after a decision or
//! a change, reply in its thread, post or refresh a storm's grouped message, tell one person
//! something. Slack errors become retries (honouring `Retry-After`) or, for requests Slack
//! will always refuse, a dead letter.

use crate::app::SharedState;
use crate::incidents::storm::is_storm_id;
use crate::incidents::Incident;
use crate::slack::blocks::{incident_message, thread_reply as reply_content};
use crate::slack::client::SlackError;
use crate::slack::grouped::storm_message as storm_content;
use crate::store::audit::AuditEntry;
use crate::store::jobs::Job;
use crate::worker::{backoff, Outcome};

pub(crate) fn on_slack_error(job: &Job, e: SlackError) -> Outcome {
    match e {
        SlackError::RateLimited { retry_after } => Outcome::Retry {
            after: retry_after,
            error: e.to_string(),
            count: false,
        },
        // Slack down or failing: an alert is delivered late rather than lost, so this waits
        // (backing off to every 5 minutes) instead of counting toward giving up; the worker
        // still ends a job that has waited a whole day.
        e if e.is_retryable() => Outcome::Retry {
            after: backoff(job.throttled),
            error: e.to_string(),
            count: false,
        },
        e => Outcome::GiveUp(e.to_string()),
    }
}

fn complete(state: &SharedState, job: &Job) -> anyhow::Result<Outcome> {
    state
        .store
        .transact(state.now(), |tx| tx.complete_job(job))?;
    Ok(Outcome::Done)
}

/// The incident's alert as it should read now.
fn render(
    state: &SharedState,
    incident: &Incident,
) -> anyhow::Result<slack_morphism::prelude::SlackMessageContent> {
    let proposal = match &incident.proposal_id {
        Some(id) => state.store.proposal(id)?,
        None => None,
    };
    let snooze = state.store.snooze(&incident.connector_id)?;
    Ok(incident_message(
        incident,
        proposal.as_ref(),
        &state.settings.fivetran_dashboard_url,
        state.now(),
        snooze.as_ref(),
    ))
}

/// Why a failure's alert is not posted (yet), if it is held.
fn hold_reason(state: &SharedState, incident: &Incident) -> anyhow::Result<Option<String>> {
    if !incident.is_failure() {
        return Ok(None);
    }
    if !incident.is_open() && incident.messages.is_empty() {
        return Ok(Some("recovered before the alert went out".into()));
    }
    if let Some(storm) = &incident.storm_id {
        return Ok(Some(format!("part of {storm}")));
    }
    if let Some(z) = state
        .store
        .snooze(&incident.connector_id)?
        .filter(|z| z.is_active(state.now()))
    {
        return Ok(Some(format!("snoozed by {} until {}", z.by, z.until)));
    }
    Ok(None)
}

/// A top-level post that went out, or was found in the channel after a restart.
struct Posted {
    at: crate::incidents::SlackRef,
    found: bool,
}

/// Posts `id`'s message to `channel` at most once (see [`crate::post_once`]): `note` records
/// (true) or clears (false) the in-flight mark on the subject, in a transaction.
async fn post_once(
    state: &SharedState,
    channel: &str,
    id: &str,
    in_flight: bool,
    content: impl FnOnce() -> anyhow::Result<slack_morphism::prelude::SlackMessageContent>,
    note: impl Fn(&crate::store::Tx<'_>, bool) -> crate::store::TxResult<()>,
) -> anyhow::Result<Result<Posted, SlackError>> {
    use crate::post_once::{find_earlier, may_have_posted, tagged, Earlier};
    if in_flight {
        match find_earlier(state, channel, id).await {
            Earlier::Posted(at) => return Ok(Ok(Posted { at, found: true })),
            Earlier::NotPosted => {}
            Earlier::Unknown(why) => tracing::warn!(
                subject = %id, %channel, %why,
                "cannot tell whether an interrupted post reached Slack (channels:history / groups:history scope, bot in channel?); posting again"
            ),
        }
    } else {
        state.store.transact(state.now(), |tx| note(tx, true))?;
        state.store.durable().await?;
    }
    match state
        .slack
        .post_message(channel, tagged(content()?, id))
        .await
    {
        Ok(at) => Ok(Ok(Posted { at, found: false })),
        Err(e) => {
            // Slack answered, so nothing was posted: no history lookup next time.
            if !may_have_posted(&e) {
                state.store.transact(state.now(), |tx| note(tx, false))?;
            }
            Ok(Err(e))
        }
    }
}

pub async fn post_alert(
    state: &SharedState,
    job: &Job,
    incident_id: &str,
) -> anyhow::Result<Outcome> {
    let Some(incident) = state.store.incident(incident_id)? else {
        return Ok(Outcome::GiveUp(format!(
            "incident {incident_id} is missing"
        )));
    };
    if incident.unposted_channels().is_empty() {
        return complete(state, job);
    }
    if let Some(why) = hold_reason(state, &incident)? {
        tracing::info!(incident = %incident_id, %why, "alert held");
        state.store.transact(state.now(), |tx| {
            tx.audit(
                AuditEntry::system("alert_held")
                    .connector(Some(&incident.connector_id))
                    .incident(&incident.id)
                    .detail(serde_json::json!({ "reason": why })),
            )?;
            tx.complete_job(job)?;
            Ok(())
        })?;
        return Ok(Outcome::Done);
    }
    // Channels already posted to are skipped, so a retry never posts twice to one channel.
    for channel in incident.unposted_channels() {
        let in_flight = incident.posting.contains(&channel);
        let posted = match post_once(
            state,
            &channel,
            &incident.id,
            in_flight,
            || render(state, &incident),
            |tx, pending| {
                let Some(mut current) = tx.incident(incident_id)? else {
                    return Ok(());
                };
                current.posting.retain(|c| c != &channel);
                if pending {
                    current.posting.push(channel.clone());
                }
                tx.put_incident(&current)
            },
        )
        .await?
        {
            Ok(p) => p,
            Err(e) => return Ok(on_slack_error(job, e)),
        };
        state.store.transact(state.now(), |tx| {
            let Some(mut current) = tx.incident(incident_id)? else {
                return Ok(());
            };
            current.messages.retain(|m| m.channel != posted.at.channel);
            current.messages.push(posted.at.clone());
            current.posting.retain(|c| c != &posted.at.channel);
            tx.put_incident(&current)?;
            tx.audit(
                AuditEntry::system("message_posted")
                    .connector(Some(&current.connector_id))
                    .incident(&current.id)
                    .detail(serde_json::json!({
                        "channel": posted.at.channel,
                        "ts": posted.at.ts,
                        "found_after_restart": posted.found,
                    })),
            )?;
            Ok(())
        })?;
        // On disk before anything else happens: a restart must know this channel has its
        // alert.
        state.store.durable().await?;
        tracing::info!(incident = %incident_id, channel = %posted.at.channel, ts = %posted.at.ts, "alert posted");
    }
    complete(state, job)
}

pub async fn update_alert(
    state: &SharedState,
    job: &Job,
    incident_id: &str,
) -> anyhow::Result<Outcome> {
    // Group proposals belong to a storm: their message is the grouped one.
    if is_storm_id(incident_id) {
        return storm_message(state, job, incident_id).await;
    }
    let Some(incident) = state.store.incident(incident_id)? else {
        return Ok(Outcome::GiveUp(format!(
            "incident {incident_id} is missing"
        )));
    };
    if incident.messages.is_empty() {
        // Not posted yet: the pending post renders the current state anyway.
        return complete(state, job);
    }
    let content = render(state, &incident)?;
    // Several changes in a row (a decision, then its result) each queue an update; the later
    // ones often find the message already showing the current state.
    let shown = shown_fingerprint(&content, &incident)?;
    if state.store.shown(incident_id)?.as_deref() == Some(shown.as_str()) {
        return complete(state, job);
    }
    let proposal_state = match &incident.proposal_id {
        Some(id) => state.store.proposal(id)?.map(|p| p.state),
        None => None,
    };
    // chat.update is idempotent, so a retry after a partial failure re-sends all of them.
    for at in &incident.messages {
        if let Err(e) = state.slack.update_message(at, content.clone()).await {
            return Ok(on_slack_error(job, e));
        }
    }
    state.store.transact(state.now(), |tx| {
        for at in &incident.messages {
            tx.audit(
                AuditEntry::system("message_updated")
                    .connector(Some(&incident.connector_id))
                    .incident(&incident.id)
                    .detail(serde_json::json!({
                        "channel": at.channel,
                        "ts": at.ts,
                        "proposal_state": proposal_state,
                        "incident_status": incident.status,
                        "failures": incident.failures,
                    })),
            )?;
        }
        tx.set_shown(&incident.id, &shown)?;
        tx.complete_job(job)?;
        Ok(())
    })?;
    Ok(Outcome::Done)
}

/// What an update would make the incident's messages show, as a hash of the content and the
/// messages it goes to.
fn shown_fingerprint(
    content: &slack_morphism::prelude::SlackMessageContent,
    incident: &Incident,
) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(content)?);
    h.update(serde_json::to_vec(&incident.messages)?);
    Ok(hex::encode(h.finalize()))
}

/// Replies once per channel in the alert's thread. Each posted reply is recorded before the
/// next channel, so a retry only posts what is missing.
pub async fn thread_reply(
    state: &SharedState,
    job: &Job,
    incident_id: &str,
    tag: &str,
) -> anyhow::Result<Outcome> {
    let Some(incident) = state.store.incident(incident_id)? else {
        return complete(state, job);
    };
    let snoozed = state
        .store
        .snooze(&incident.connector_id)?
        .is_some_and(|z| z.is_active(state.now()));
    if snoozed && !tag.starts_with("snooze_end") {
        return complete(state, job);
    }
    let content = reply_content(&incident, tag);
    for parent in &incident.messages {
        if incident.has_replied(&parent.channel, tag) {
            continue;
        }
        let posted = match state.slack.post_reply(parent, content.clone()).await {
            Ok(r) => r,
            Err(e) => return Ok(on_slack_error(job, e)),
        };
        state.store.transact(state.now(), |tx| {
            let Some(mut current) = tx.incident(incident_id)? else {
                return Ok(());
            };
            current.replies.push(format!("{}:{tag}", parent.channel));
            tx.put_incident(&current)?;
            tx.audit(
                AuditEntry::system("thread_reply_posted")
                    .connector(Some(&current.connector_id))
                    .incident(&current.id)
                    .detail(serde_json::json!({
                        "channel": parent.channel,
                        "thread_ts": parent.ts,
                        "ts": posted.ts,
                        "tag": tag,
                    })),
            )?;
            Ok(())
        })?;
        state.store.durable().await?;
    }
    complete(state, job)
}

/// Posts the storm's grouped message where it is not posted yet (once its grace is over) and
/// refreshes it where it is.
pub async fn storm_message(
    state: &SharedState,
    job: &Job,
    storm_id: &str,
) -> anyhow::Result<Outcome> {
    let Some(storm) = state.store.storm(storm_id)? else {
        return complete(state, job);
    };
    let mut incidents = Vec::with_capacity(storm.members.len());
    for m in &storm.members {
        incidents.push(state.store.incident(&m.incident_id)?);
    }
    let proposal = match &storm.proposal_id {
        Some(id) => state.store.proposal(id)?,
        None => None,
    };
    let now = state.now();
    let content = storm_content(
        &storm,
        &incidents,
        proposal.as_ref(),
        &state.settings.fivetran_dashboard_url,
        now,
    );
    for at in &storm.messages {
        if let Err(e) = state.slack.update_message(at, content.clone()).await {
            return Ok(on_slack_error(job, e));
        }
    }
    let all_recovered = storm.closed_at.is_some();
    let may_post = now >= storm.post_after && !all_recovered;
    if storm.messages.is_empty() && all_recovered {
        state.store.transact(now, |tx| {
            tx.audit(
                AuditEntry::system("alert_held")
                    .incident(&storm.id)
                    .detail(serde_json::json!({ "reason": "every connector recovered before the grouped alert went out" })),
            )?;
            tx.complete_job(job)?;
            Ok(())
        })?;
        return Ok(Outcome::Done);
    }
    if may_post {
        for channel in storm.unposted_channels() {
            let in_flight = storm.posting.contains(&channel);
            let posted = match post_once(
                state,
                &channel,
                storm_id,
                in_flight,
                || Ok(content.clone()),
                |tx, pending| {
                    let Some(mut current) = tx.storm(storm_id)? else {
                        return Ok(());
                    };
                    current.posting.retain(|c| c != &channel);
                    if pending {
                        current.posting.push(channel.clone());
                    }
                    tx.put_storm(&current)
                },
            )
            .await?
            {
                Ok(p) => p,
                Err(e) => return Ok(on_slack_error(job, e)),
            };
            state.store.transact(now, |tx| {
                let Some(mut current) = tx.storm(storm_id)? else {
                    return Ok(());
                };
                current.messages.retain(|m| m.channel != posted.at.channel);
                current.messages.push(posted.at.clone());
                current.posting.retain(|c| c != &posted.at.channel);
                tx.put_storm(&current)?;
                tx.audit(
                    AuditEntry::system("message_posted")
                        .incident(&current.id)
                        .detail(serde_json::json!({
                            "channel": posted.at.channel,
                            "ts": posted.at.ts,
                            "storm_members": current.members.len(),
                            "found_after_restart": posted.found,
                        })),
                )?;
                Ok(())
            })?;
            state.store.durable().await?;
        }
    }
    state.store.transact(now, |tx| {
        for at in &storm.messages {
            tx.audit(
                AuditEntry::system("message_updated")
                    .incident(&storm.id)
                    .detail(serde_json::json!({
                        "channel": at.channel,
                        "ts": at.ts,
                        "storm_members": storm.members.len(),
                    })),
            )?;
        }
        tx.complete_job(job)?;
        Ok(())
    })?;
    Ok(Outcome::Done)
}

pub async fn ephemeral(
    state: &SharedState,
    job: &Job,
    channel: &str,
    user: &str,
    text: &str,
) -> anyhow::Result<Outcome> {
    if let Err(e) = state.slack.post_ephemeral(channel, user, text).await {
        return Ok(on_slack_error(job, e));
    }
    complete(state, job)
}
