//! Diagnose job: a failure event becomes an incident with a summary and, where one fits, a
//! proposal; the alert is queued for posting in the same transaction.

use super::{incident_id_for_event, Incident, IncidentStatus};
use crate::app::SharedState;
use crate::diagnosis::classify::{classify, Classification, SuggestedAction};
use crate::diagnosis::llm::{LlmOutcome, PromptInput};
use crate::diagnosis::summarize::{template, Summary, SummaryInput};
use crate::fivetran::api::is_valid_connection_id;
use crate::fivetran::model::Connection;
use crate::fivetran::webhook::WebhookEvent;
use crate::remediation::action::{slower_frequency, Action};
use crate::remediation::policy::Policy;
use crate::remediation::proposal::Proposal;
use crate::slack::blocks::dashboard_link;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::store::{Tx, TxResult};
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

/// What the failure adds to the connector's story.
enum Placement {
    /// No open incident: this failure opens one.
    New,
    /// It continues this open incident; `cause_changed` when the category differs.
    Continues {
        incident: Box<Incident>,
        cause_changed: bool,
    },
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
    let placement = match state.store.open_incident_id(&connector_id)? {
        Some(id) => match state.store.incident(&id)?.filter(|i| i.is_open()) {
            Some(open) => Placement::Continues {
                cause_changed: open.classification.category != classification.category,
                incident: Box::new(open),
            },
            None => Placement::New,
        },
        None => Placement::New,
    };
    let action = if id_ok {
        choose_action(&classification, details.as_ref())
    } else {
        None
    };
    let reason = state.redactor.redact(
        event
            .reason()
            .or(event.status())
            .unwrap_or(event.event.as_str()),
    );

    let now = state.now();
    let ttl = state.policy.proposal_ttl;
    let new_proposal = |incident_id: &str| {
        action.clone().map(|a| {
            let mut p = Proposal::new(incident_id, &connector_id, a, "system", now, ttl);
            // What the call was derived from, for the pre-flight check before it runs.
            p.governance = crate::remediation::preflight::basis(&p.action, details.as_ref());
            p
        })
    };

    match placement {
        Placement::Continues {
            incident,
            cause_changed,
        } => {
            // A repeat of the same failure needs no new summary (and no LLM call).
            let summary = if cause_changed {
                Some(
                    summarize(
                        state,
                        &event,
                        details.as_ref(),
                        details_error.as_deref(),
                        &classification,
                        action.as_ref(),
                    )
                    .await,
                )
            } else {
                None
            };
            let proposal = summary.as_ref().and_then(|_| new_proposal(&incident.id));
            state.store.transact(now, |tx| {
                continue_streak(
                    tx,
                    &state.policy,
                    &incident.id,
                    &Repeat {
                        event_id,
                        reason: &reason,
                        classification: &classification,
                        summary: summary.as_ref(),
                        proposal: proposal.as_ref(),
                    },
                )?;
                tx.complete_job(job)?;
                Ok(())
            })?;
            tracing::info!(incident = %incident.id, connector = %connector_id, "failure added to the open incident");
        }
        Placement::New => {
            let summary = summarize(
                state,
                &event,
                details.as_ref(),
                details_error.as_deref(),
                &classification,
                action.as_ref(),
            )
            .await;
            let proposal = new_proposal(&incident_id);
            let group_id = event
                .group()
                .map(str::to_string)
                .or_else(|| details.as_ref().and_then(|d| d.group_id.clone()));
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
                channels: super::routing::channels_for(state, &connector_id, group_id.as_deref()),
                group_id,
                event_id,
                event: event.event.clone(),
                opened_at: now,
                classification: classification.clone(),
                summary,
                proposal_id: proposal.as_ref().map(|p| p.id.clone()),
                messages: Vec::new(),
                posting: Vec::new(),
                status: IncidentStatus::Open,
                failures: 1,
                last_failure_at: Some(now),
                last_event_id: Some(event_id),
                recovered_at: None,
                replies: Vec::new(),
                storm_id: None,
                snooze_ended: None,
                last_reason: Some(reason.clone()),
            };
            state.store.transact(now, |tx| {
                if tx.incident(&incident.id)?.is_some() {
                    tx.complete_job(job)?;
                    return Ok(());
                }
                open_streak(state, tx, incident.clone(), proposal.as_ref(), &reason)?;
                tx.complete_job(job)?;
                Ok(())
            })?;
            tracing::info!(
                incident = %incident_id,
                connector = %connector_id,
                category = classification.category.as_str(),
                "incident opened"
            );
        }
    }
    Ok(Outcome::Done)
}

/// The rules summary, rewritten by the model when one is configured.
async fn summarize(
    state: &SharedState,
    event: &WebhookEvent,
    details: Option<&Connection>,
    details_error: Option<&str>,
    classification: &Classification,
    action: Option<&Action>,
) -> Summary {
    let link = dashboard_link(
        &state.settings.fivetran_dashboard_url,
        event.connector_id.as_deref().unwrap_or_default(),
    );
    let mut summary = template(&SummaryInput {
        event,
        details,
        details_error,
        classification,
        action,
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
                        event,
                        details,
                        classification,
                        redactor: &state.redactor,
                    },
                )
                .await;
            apply_llm(&mut summary, outcome);
        }
    }
    summary
}

/// When the new incident's alert may go out: after the grace for a transient failure, after
/// the storm debounce for one in a destination group, otherwise now.
fn alert_due(state: &SharedState, incident: &Incident) -> chrono::DateTime<chrono::Utc> {
    let alerts = &state.settings.alerts;
    let wait = if incident.classification.transient && !alerts.transient_grace.is_zero() {
        alerts.transient_grace
    } else if incident.group_id.is_some() {
        alerts.storm_debounce
    } else {
        std::time::Duration::ZERO
    };
    state.now() + chrono::Duration::from_std(wait).unwrap_or_default()
}

/// Stores a new proposal with its audit record and applies the policy to it (mode, approvals
/// needed, expiry, auto mode). Its incident must already be stored: admission may annotate it.
fn audit_proposal(tx: &Tx<'_>, policy: &Policy, p: &Proposal) -> TxResult<()> {
    crate::remediation::admission::record_created(tx, p, "system", serde_json::json!({}))?;
    crate::remediation::admission::admit(tx, policy, &p.id)
}

fn open_streak(
    state: &SharedState,
    tx: &Tx<'_>,
    mut incident: Incident,
    proposal: Option<&Proposal>,
    reason: &str,
) -> TxResult<()> {
    tx.audit(
        AuditEntry::system("incident_opened")
            .connector(Some(&incident.connector_id))
            .event(incident.event_id)
            .incident(&incident.id)
            .detail(serde_json::json!({
                "category": incident.classification.category,
                "transient": incident.classification.transient,
                "suggested": incident.classification.action,
                "confidence": (f64::from(incident.classification.confidence) * 100.0).round() / 100.0,
                "rule": incident.classification.evidence.first().map(|e| e.rule.clone()),
                "details_unavailable": incident.summary.details_unavailable,
            })),
    )?;
    let in_storm = super::storm::consider(
        tx,
        &state.settings.alerts,
        &mut incident,
        reason,
        state.policy.proposal_ttl,
    )?;
    if in_storm {
        // The storm's group proposal covers this connector.
        incident.proposal_id = None;
        if let Some(storm_id) = &incident.storm_id {
            crate::remediation::admission::admit_storm_proposal(tx, &state.policy, storm_id)?;
        }
    }
    tx.set_open_incident(&incident.connector_id, &incident.id)?;
    tx.put_incident(&incident)?;
    if !in_storm {
        if let Some(p) = proposal {
            audit_proposal(tx, &state.policy, p)?;
        }
        // A fix auto mode ran is reported at once, grace or not: people see what it did.
        let auto_ran = match proposal {
            Some(p) => tx
                .proposal(&p.id)?
                .is_some_and(|stored| stored.governance.auto.is_some()),
            None => false,
        };
        tx.enqueue(
            JobKind::Notify {
                incident_id: incident.id.clone(),
            },
            if auto_ran {
                tx.now
            } else {
                alert_due(state, &incident)
            },
        )?;
    }
    Ok(())
}

/// Another failure of an open incident: count it, refresh the summary if the cause changed,
/// and tell the thread (unless the connector is snoozed or part of a storm).
/// One more failure of an open incident, as diagnosed.
struct Repeat<'a> {
    event_id: u64,
    reason: &'a str,
    classification: &'a Classification,
    /// Present when the cause changed: the new summary and proposal.
    summary: Option<&'a Summary>,
    proposal: Option<&'a Proposal>,
}

fn continue_streak(
    tx: &Tx<'_>,
    policy: &Policy,
    incident_id: &str,
    failure: &Repeat<'_>,
) -> TxResult<()> {
    let Repeat {
        event_id,
        reason,
        classification,
        summary,
        proposal,
    } = *failure;
    let Some(mut incident) = tx.incident(incident_id)? else {
        return Ok(());
    };
    incident.failures += 1;
    incident.last_failure_at = Some(tx.now);
    incident.last_event_id = Some(event_id);
    incident.last_reason = Some(reason.to_string());
    let cause_changed = incident.classification.category != classification.category;
    if let (true, Some(summary)) = (cause_changed, summary) {
        incident.classification = classification.clone();
        incident.summary = summary.clone();
        if let Some(old) = incident.proposal_id.take() {
            let replaced = super::supersede_proposal(
                tx,
                &old,
                "the cause changed",
                "cause changed",
                serde_json::Value::Null,
            )?;
            if !replaced {
                // A decision on it stands; the message keeps showing it.
                incident.proposal_id = Some(old);
            }
        }
        if incident.proposal_id.is_none() && incident.storm_id.is_none() {
            if let Some(p) = proposal {
                let mut p = p.clone();
                p.incident_id = incident.id.clone();
                incident.proposal_id = Some(p.id.clone());
                tx.put_incident(&incident)?;
                audit_proposal(tx, policy, &p)?;
                // Admission may have annotated the incident.
                if let Some(current) = tx.incident(&incident.id)? {
                    incident.summary = current.summary;
                }
            }
        }
    }
    tx.audit(
        AuditEntry::system("incident_failed_again")
            .connector(Some(&incident.connector_id))
            .event(event_id)
            .incident(&incident.id)
            .detail(serde_json::json!({
                "failures": incident.failures,
                "category": incident.classification.category,
                "cause_changed": cause_changed,
            })),
    )?;
    let snoozed = super::snooze::active(tx, &incident.connector_id)?.is_some();
    if let Some(storm_id) = &incident.storm_id {
        tx.enqueue_now(JobKind::StormMessage {
            storm_id: storm_id.clone(),
        })?;
    } else if snoozed {
        // Counted, not posted: the end of the snooze says how it stands.
    } else if incident.messages.is_empty() {
        // Still held (grace or debounce): Fivetran's own retry failed too, so alert now.
        tx.enqueue_now(JobKind::Notify {
            incident_id: incident.id.clone(),
        })?;
    } else {
        tx.enqueue_now(JobKind::UpdateMessage {
            incident_id: incident.id.clone(),
        })?;
        tx.enqueue_now(JobKind::ThreadReply {
            incident_id: incident.id.clone(),
            tag: format!("failure_{}", incident.failures),
        })?;
    }
    tx.put_incident(&incident)?;
    Ok(())
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
