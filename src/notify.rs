//! Jobs that talk to Slack: post an alert, update it after a decision, tell one person
//! something. Slack errors become retries (honouring `Retry-After`) or, for requests Slack
//! will always refuse, a dead letter.

use crate::app::SharedState;
use crate::slack::blocks::incident_message;
use crate::slack::client::SlackError;
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
        e if e.is_retryable() => Outcome::Retry {
            after: backoff(job.attempts),
            error: e.to_string(),
            count: true,
        },
        e => Outcome::GiveUp(e.to_string()),
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
    let proposal = match &incident.proposal_id {
        Some(id) => state.store.proposal(id)?,
        None => None,
    };
    // Channels already posted to are skipped, so a retry never posts twice to one channel.
    for channel in incident.unposted_channels() {
        let content = incident_message(
            &incident,
            proposal.as_ref(),
            &state.settings.fivetran_dashboard_url,
            state.now(),
        );
        let posted = match state.slack.post_message(&channel, content).await {
            Ok(r) => r,
            Err(e) => return Ok(on_slack_error(job, e)),
        };
        state.store.transact(state.now(), |tx| {
            let Some(mut current) = tx.incident(incident_id)? else {
                return Ok(());
            };
            current.messages.retain(|m| m.channel != posted.channel);
            current.messages.push(posted.clone());
            tx.put_incident(&current)?;
            tx.audit(
                AuditEntry::system("message_posted")
                    .connector(Some(&current.connector_id))
                    .incident(&current.id)
                    .detail(serde_json::json!({ "channel": posted.channel, "ts": posted.ts })),
            )?;
            Ok(())
        })?;
        tracing::info!(incident = %incident_id, channel = %posted.channel, ts = %posted.ts, "alert posted");
    }
    state
        .store
        .transact(state.now(), |tx| tx.complete_job(job))?;
    Ok(Outcome::Done)
}

pub async fn update_alert(
    state: &SharedState,
    job: &Job,
    incident_id: &str,
) -> anyhow::Result<Outcome> {
    let Some(incident) = state.store.incident(incident_id)? else {
        return Ok(Outcome::GiveUp(format!(
            "incident {incident_id} is missing"
        )));
    };
    if incident.messages.is_empty() {
        // Not posted yet: the pending post renders the current state anyway.
        state
            .store
            .transact(state.now(), |tx| tx.complete_job(job))?;
        return Ok(Outcome::Done);
    }
    let proposal = match &incident.proposal_id {
        Some(id) => state.store.proposal(id)?,
        None => None,
    };
    let content = incident_message(
        &incident,
        proposal.as_ref(),
        &state.settings.fivetran_dashboard_url,
        state.now(),
    );
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
                        "proposal_state": proposal.as_ref().map(|p| p.state),
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
    state
        .store
        .transact(state.now(), |tx| tx.complete_job(job))?;
    Ok(Outcome::Done)
}
