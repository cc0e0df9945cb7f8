//! Recover job: a successful sync ends the connector's failure streak. The incident closes, its
//! open proposal is superseded (nothing left to fix), and the alert says how long it lasted. A
//! failure that recovered inside its grace period was never posted: the pair is only recorded.

use super::storm;
use super::IncidentStatus;
use crate::app::SharedState;
use crate::store::alerting::Streak;
use crate::store::audit::AuditEntry;
use crate::store::jobs::{Job, JobKind};
use crate::worker::Outcome;
use std::time::Duration;

/// How long to wait for a failure that has been received but not yet diagnosed.
const PENDING_RETRY: Duration = Duration::from_secs(30);
/// A diagnosis that has not happened by then has failed for good (it is in the job log).
const PENDING_GIVE_UP: Duration = Duration::from_secs(15 * 60);

enum Step {
    Done,
    WaitForDiagnosis,
}

pub async fn recover(state: &SharedState, job: &Job, event_id: u64) -> anyhow::Result<Outcome> {
    let Some(event) = state.store.event(event_id)? else {
        return Ok(Outcome::GiveUp(format!("event {event_id} is missing")));
    };
    let Some(connector_id) = event.connector_id.clone() else {
        state
            .store
            .transact(state.now(), |tx| tx.complete_job(job))?;
        return Ok(Outcome::Done);
    };
    let now = state.now();
    let step = state.store.transact(now, |tx| {
        let incident_id = match tx.streak(&connector_id)? {
            None => {
                tx.complete_job(job)?;
                return Ok(Step::Done);
            }
            // Jobs run in order, so this only happens when the diagnosis was retried: let it
            // open the incident first.
            Some(Streak::Pending)
                if now - job.created_at
                    < chrono::Duration::from_std(PENDING_GIVE_UP).unwrap_or_default() =>
            {
                return Ok(Step::WaitForDiagnosis)
            }
            Some(Streak::Pending) => {
                tx.clear_streak(&connector_id)?;
                tx.complete_job(job)?;
                return Ok(Step::Done);
            }
            Some(Streak::Open(id)) => id,
        };
        let Some(mut incident) = tx.incident(&incident_id)?.filter(|i| i.is_open()) else {
            tx.clear_streak(&connector_id)?;
            tx.complete_job(job)?;
            return Ok(Step::Done);
        };
        // A passing connection test does not mean syncs work again.
        if event.event == "connection_successful" && incident.event != "connection_failure" {
            tx.complete_job(job)?;
            return Ok(Step::Done);
        }
        incident.status = IncidentStatus::Recovered;
        incident.recovered_at = Some(now);
        if let Some(pid) = &incident.proposal_id {
            super::supersede_proposal(
                tx,
                pid,
                "the connector recovered",
                "recovered",
                serde_json::Value::Null,
            )?;
        }
        tx.put_incident(&incident)?;
        tx.clear_streak(&connector_id)?;
        let alerted = !incident.messages.is_empty();
        tx.audit(
            AuditEntry::system("incident_recovered")
                .connector(Some(&connector_id))
                .event(event_id)
                .incident(&incident.id)
                .detail(serde_json::json!({
                    "failures": incident.failures,
                    "first_failure_event": incident.event_id,
                    "recovery_event": event_id,
                    "seconds": (now - incident.opened_at).num_seconds(),
                    "alerted": alerted,
                    "storm": incident.storm_id,
                })),
        )?;
        if let Some(storm_id) = &incident.storm_id {
            storm::member_recovered(tx, storm_id)?;
        } else if alerted {
            tx.enqueue_now(JobKind::UpdateMessage {
                incident_id: incident.id.clone(),
            })?;
        }
        tx.complete_job(job)?;
        Ok(Step::Done)
    })?;
    Ok(match step {
        Step::Done => Outcome::Done,
        Step::WaitForDiagnosis => Outcome::Retry {
            after: PENDING_RETRY,
            error: "the failure before this success is not diagnosed yet".into(),
            count: false,
        },
    })
}
