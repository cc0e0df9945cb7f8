//! Diagnose job: a failure event becomes an incident with a summary and, where one fits, a
//! proposal; the alert is queued for posting in the same transaction.

use super::{incident_id_for_event, Incident};
use crate::app::SharedState;
use crate::diagnosis::classify::{classify, Classification, SuggestedAction};
use crate::diagnosis::llm::{LlmOutcome, PromptInput};
use crate::diagnosis::summarize::{template, SummaryInput};
use crate::fivetran::api::is_valid_connection_id;
use crate::fivetran::model::Connection;
use crate::fivetran::webhook::WebhookEvent;
use crate::remediation::action::{slower_frequency, Action};
use crate::remediation::proposal::{new_proposal_id, Proposal, ProposalState};
use crate::slack::blocks::dashboard_link;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::worker::Outcome;

/// The concrete fix for a diagnosis, if one can be run without a person changing something.
pub fn choose_action(c: &Classification, details: Option<&Connection>) -> Option<Action> {
    let paused = details.and_then(|d| d.paused).unwrap_or(false);
    let action = match c.action {
        // A paused connector will not sync; proposing a retry would only fail with 409.
        SuggestedAction::RetrySync | SuggestedAction::RetryAfterBackoff if !paused => {
            Action::RetrySync
        }
        SuggestedAction::ReduceSyncFrequency => {
            let current = details.and_then(|d| d.sync_frequency)?;
            Action::SetSyncFrequency {
                minutes: slower_frequency(current)?,
            }
        }
        SuggestedAction::PauseConnector if !paused => Action::PauseConnector,
        SuggestedAction::ReloadSchema => Action::ReloadSchema,
        // Which tables to re-sync is not known from the failure alone, and a whole-connection
        // re-sync is too costly to suggest by default: a person decides.
        _ => return None,
    };
    action.validate().ok()?;
    Some(action)
}

/// Merges the model's contribution into the rules summary. Facts (evidence from Fivetran) and
/// the proposal stay; the model rewrites the cause and may add suggestions that passed the
/// guardrails.
pub fn apply_llm(summary: &mut crate::diagnosis::summarize::Summary, outcome: LlmOutcome) {
    match outcome {
        LlmOutcome::Used(e) => {
            summary.cause = e.root_cause;
            summary
                .evidence
                .extend(e.evidence.into_iter().map(|x| format!("model: {x}")));
            if !e.suggestions.is_empty() {
                let list: Vec<String> = e
                    .suggestions
                    .iter()
                    .map(|(a, why)| format!("{} ({why})", a.name()))
                    .collect();
                summary
                    .next_step
                    .push_str(&format!(" The model also suggests: {}.", list.join("; ")));
            }
            summary.source = if e.cached {
                format!("model · {} · cached", e.model)
            } else {
                format!("model · {} · {} tokens", e.model, e.tokens)
            };
        }
        LlmOutcome::Fallback(why) => {
            tracing::warn!(%why, "LLM summary unavailable; using the rules template");
            summary.source = format!("rules ({why})");
        }
    }
}

pub async fn diagnose(state: &SharedState, job: &Job, event_id: u64) -> anyhow::Result<Outcome> {
    let incident_id = incident_id_for_event(event_id);
    if state.store.incident(&incident_id)?.is_some() {
        state
            .store
            .transact(state.now(), |tx| tx.complete_job(job))?;
        return Ok(Outcome::Done);
    }
    let Some(stored) = state.store.event(event_id)? else {
        return Ok(Outcome::GiveUp(format!("event {event_id} is missing")));
    };
    let event: WebhookEvent = serde_json::from_value(stored.payload.clone())?;
    let connector_id = event.connector_id.clone().unwrap_or_default();
    let id_ok = is_valid_connection_id(&connector_id);

    let (details, details_error) = if id_ok {
        match state.fivetran.get_connection(&connector_id).await {
            Ok(c) => (Some(c), None),
            Err(e) => {
                tracing::warn!(connector = %connector_id, error = %e, "connection details unavailable; alerting with the webhook alone");
                (None, Some(e.to_string()))
            }
        }
    } else {
        (
            None,
            Some(format!("connector id {connector_id:?} is not usable")),
        )
    };

    let signals = crate::diagnosis::signals(&event, details.as_ref());
    let classification = classify(&signals);
    let action = if id_ok {
        choose_action(&classification, details.as_ref())
    } else {
        None
    };
    let link = dashboard_link(&state.settings.fivetran_dashboard_url, &connector_id);
    let mut summary = template(&SummaryInput {
        event: &event,
        details: details.as_ref(),
        details_error: details_error.as_deref(),
        classification: &classification,
        action: action.as_ref(),
        dashboard_link: &link,
        redactor: &state.redactor,
    });
    match &state.llm {
        None => summary.source = "rules (no LLM configured)".into(),
        Some(llm) => {
            let outcome = llm
                .enrich(
                    &state.store,
                    state.now(),
                    &PromptInput {
                        event: &event,
                        details: details.as_ref(),
                        classification: &classification,
                        redactor: &state.redactor,
                    },
                )
                .await;
            apply_llm(&mut summary, outcome);
        }
    }

    let now = state.now();
    let proposal = action.map(|action| Proposal {
        id: new_proposal_id(),
        incident_id: incident_id.clone(),
        connector_id: connector_id.clone(),
        call: action.call(&connector_id),
        risk: action.risk(),
        governance: crate::remediation::preflight::basis(&action, details.as_ref()),
        action,
        state: ProposalState::Proposed,
        created_at: now,
        expires_at: now + chrono::Duration::from_std(state.policy.proposal_ttl).unwrap_or_default(),
        requested_by: "system".into(),
        decision: None,
        execution: None,
    });
    let incident = Incident {
        id: incident_id.clone(),
        connector_id: connector_id.clone(),
        connector_name: event
            .connector_name
            .clone()
            .or_else(|| details.as_ref().and_then(|d| d.schema.clone())),
        connector_type: event
            .connector_type
            .clone()
            .or_else(|| details.as_ref().and_then(|d| d.service.clone())),
        group_id: event
            .group()
            .map(str::to_string)
            .or_else(|| details.as_ref().and_then(|d| d.group_id.clone())),
        event_id,
        event: event.event.clone(),
        opened_at: now,
        classification: classification.clone(),
        summary,
        proposal_id: proposal.as_ref().map(|p| p.id.clone()),
        channels: Vec::new(),
        messages: Vec::new(),
    };
    let mut incident = incident;
    incident.channels =
        super::routing::channels_for(state, &incident.connector_id, incident.group_id.as_deref());

    state.store.transact(now, |tx| {
        if tx.incident(&incident.id)?.is_some() {
            tx.complete_job(job)?;
            return Ok(());
        }
        tx.put_incident(&incident)?;
        tx.audit(
            AuditEntry::system("incident_opened")
                .connector(Some(&incident.connector_id))
                .event(event_id)
                .incident(&incident.id)
                .detail(serde_json::json!({
                    "category": incident.classification.category,
                    "transient": incident.classification.transient,
                    "suggested": incident.classification.action,
                    "confidence": incident.classification.confidence,
                    "rule": incident.classification.evidence.first().map(|e| e.rule.clone()),
                    "details_unavailable": incident.summary.details_unavailable,
                })),
        )?;
        if let Some(p) = &proposal {
            tx.put_proposal(p)?;
            tx.audit(
                AuditEntry::system("proposal_created")
                    .connector(Some(&p.connector_id))
                    .incident(&incident.id)
                    .proposal(&p.id)
                    .detail(serde_json::json!({
                        "action": p.action,
                        "risk": p.risk,
                        "method": p.call.method,
                        "path": p.call.path,
                        "body": p.call.body,
                        "expires_at": p.expires_at,
                    })),
            )?;
            crate::remediation::admission::admit(tx, &state.policy, &p.id)?;
        }
        tx.enqueue_now(JobKind::Notify {
            incident_id: incident.id.clone(),
        })?;
        tx.complete_job(job)?;
        Ok(())
    })?;
    tracing::info!(
        incident = %incident.id,
        connector = %incident.connector_id,
        category = incident.classification.category.as_str(),
        proposal = ?incident.proposal_id,
        "incident opened"
    );
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::classify::classify_message;

    #[test]
    fn transient_failures_propose_a_retry_and_human_ones_nothing() {
        let timeout = classify_message("java.net.SocketTimeoutException: Read timed out", None);
        assert_eq!(choose_action(&timeout, None), Some(Action::RetrySync));
        let auth = classify_message(
            "FATAL: password authentication failed for user \"fivetran\"",
            Some("postgres"),
        );
        assert_eq!(choose_action(&auth, None), None);
    }

    #[test]
    fn paused_connectors_get_no_retry() {
        let timeout = classify_message("java.net.SocketTimeoutException: Read timed out", None);
        let paused = Connection {
            id: "x".into(),
            paused: Some(true),
            ..Connection::default()
        };
        assert_eq!(choose_action(&timeout, Some(&paused)), None);
    }
}
