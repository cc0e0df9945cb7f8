//! A proposed fix and its state machine. Transitions are pure functions on a copy; the store
//! applies them inside a transaction, which makes each one a compare-and-swap.
//!
//! ```text
//! Proposed ─approve (×required)─▶ Approved ─pre-flight─▶ Executing ─▶ Succeeded | Failed
//!    │  └─reject─▶ Rejected            └─pointless/changed─▶ Skipped
//!    ├─ttl─▶ Expired                                  └─crash─▶ Interrupted
//!    └─incident recovered─▶ Superseded
//! ```
//!
//! Each approval is pinned to the SHA-256 of the exact call shown ([`call_hash`]); the
//! executor refuses a call whose hash differs from what was approved.

use super::action::{Action, Risk};
use super::policy::Mode;
use crate::fivetran::api::ApiCall;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    Proposed,
    Approved,
    Executing,
    Succeeded,
    Failed,
    Rejected,
    Expired,
    Interrupted,
    Superseded,
    /// Approved, but not sent: the pre-flight re-read showed it pointless or changed.
    Skipped,
}

impl ProposalState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProposalState::Proposed => "proposed",
            ProposalState::Approved => "approved",
            ProposalState::Executing => "executing",
            ProposalState::Succeeded => "succeeded",
            ProposalState::Failed => "failed",
            ProposalState::Rejected => "rejected",
            ProposalState::Expired => "expired",
            ProposalState::Interrupted => "interrupted",
            ProposalState::Superseded => "superseded",
            ProposalState::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub user: String,
    pub at: DateTime<Utc>,
    /// For approvals: the [`call_hash`] of the call the approver saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_hash: Option<String>,
}

/// The SHA-256 (hex) of a call's method, path and body, as JSON with sorted keys.
pub fn call_hash(call: &ApiCall) -> String {
    let canonical = serde_json::json!({
        "method": call.method,
        "path": call.path,
        "body": call.body,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// The short form shown in messages and carried by buttons.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Connector settings an action depends on: captured before running (for undo), and
/// required to still hold when an undo runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_frequency: Option<u32>,
}

/// An action auto mode ran without a click: the `nth` of `budget` today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRun {
    pub nth: u32,
    pub budget: u32,
}

/// What the policy decided about a proposal, and what happened to it beyond the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Governance {
    /// The connector's mode when the proposal was made (how its message is drawn).
    #[serde(default)]
    pub mode: Mode,
    /// Distinct approvers needed (two for `policy.two_person_for`).
    #[serde(default = "one")]
    pub required_approvals: u8,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    #[serde(default)]
    pub auto: Option<AutoRun>,
    /// Why the policy changed the usual course (budget used, breaker open), for the message.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub reject_reason: Option<String>,
    #[serde(default)]
    pub skip_reason: Option<String>,
    /// Must still be true of the connector when the call runs (else it is skipped).
    #[serde(default)]
    pub precondition: Option<ConnectorFacts>,
    /// The connector's settings just before the call ran: what an undo restores.
    #[serde(default)]
    pub prior: Option<ConnectorFacts>,
    /// This proposal undoes that one.
    #[serde(default)]
    pub undo_of: Option<String>,
    /// The proposal that undoes this one, once someone asked.
    #[serde(default)]
    pub undone_by: Option<String>,
}

fn one() -> u8 {
    1
}

impl Default for Governance {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            required_approvals: 1,
            approvals: Vec::new(),
            auto: None,
            note: None,
            reject_reason: None,
            skip_reason: None,
            precondition: None,
            prior: None,
            undo_of: None,
            undone_by: None,
        }
    }
}

/// What an approval click achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Recorded; more approvers are needed.
    Recorded { have: u8, need: u8 },
    /// Enough approvers: the proposal is Approved.
    Complete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    /// The last attempt is known not to have reached Fivetran (429, connect error), so the
    /// next one is safe even for a non-idempotent action.
    #[serde(default)]
    pub resumable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    pub incident_id: String,
    pub connector_id: String,
    pub action: Action,
    /// The exact call shown to the approver; the executor sends this and nothing else.
    pub call: ApiCall,
    pub risk: Risk,
    pub state: ProposalState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub requested_by: String,
    pub decision: Option<Decision>,
    pub execution: Option<Execution>,
    /// Why the proposal was set aside without a decision (recovered, cause changed, folded
    /// into a storm's group proposal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_reason: Option<String>,
    /// A group proposal (storm "retry all"): one call per connector, each with its result.
    /// Empty for an ordinary proposal, whose single call is `call`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<BatchItem>,
    #[serde(default)]
    pub governance: Governance,
}

/// One connector's call in a group proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    pub connector_id: String,
    pub call: ApiCall,
    /// HTTP status once the call was answered.
    pub status: Option<u16>,
    pub ok: Option<bool>,
    #[serde(default)]
    pub message: String,
    /// Why this connector's call was not sent (the pre-flight found it pointless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl BatchItem {
    pub fn is_done(&self) -> bool {
        self.ok.is_some() || self.skipped.is_some()
    }
}

/// Why a transition did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("already {} by {}{}", state.as_str(), by.as_deref().unwrap_or("syncwarden"), at.map(|t| format!(" at {t}")).unwrap_or_default())]
    AlreadyDecided {
        state: ProposalState,
        by: Option<String>,
        at: Option<DateTime<Utc>>,
    },
    #[error("expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("{0} already approved this; it needs a different second approver")]
    DuplicateApprover(String),
    #[error("cannot go from {from} to {to}", from = from.as_str(), to = to.as_str())]
    Invalid {
        from: ProposalState,
        to: ProposalState,
    },
}

pub fn new_proposal_id() -> String {
    format!("p_{}", hex::encode(rand::random::<[u8; 12]>()))
}

impl Proposal {
    /// A fresh proposal for `action` on `connector_id`, open for `ttl`.
    pub fn new(
        incident_id: &str,
        connector_id: &str,
        action: Action,
        requested_by: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Self {
        Proposal {
            id: new_proposal_id(),
            incident_id: incident_id.to_string(),
            connector_id: connector_id.to_string(),
            call: action.call(connector_id),
            risk: action.risk(),
            action,
            state: ProposalState::Proposed,
            created_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
            requested_by: requested_by.to_string(),
            decision: None,
            execution: None,
            superseded_reason: None,
            batch: Vec::new(),
            governance: Governance::default(),
        }
    }

    /// A group proposal: the same action for each of `connector_ids`, one call each.
    pub fn batch(
        incident_id: &str,
        action: Action,
        connector_ids: &[String],
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Self {
        let first = connector_ids.first().map(String::as_str).unwrap_or("");
        let mut p = Proposal::new(incident_id, first, action, "system", now, ttl);
        p.batch = connector_ids
            .iter()
            .map(|c| BatchItem {
                connector_id: c.clone(),
                call: p.action.call(c),
                status: None,
                ok: None,
                message: String::new(),
                skipped: None,
            })
            .collect();
        p
    }

    pub fn is_batch(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Proposed → Superseded: nobody decided, and the proposal no longer fits.
    pub fn supersede(&mut self, reason: &str) -> Result<(), TransitionError> {
        if self.state != ProposalState::Proposed {
            return Err(TransitionError::Invalid {
                from: self.state,
                to: ProposalState::Superseded,
            });
        }
        self.state = ProposalState::Superseded;
        self.superseded_reason = Some(reason.to_string());
        Ok(())
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    fn require_open(&self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.state != ProposalState::Proposed {
            return Err(TransitionError::AlreadyDecided {
                state: self.state,
                by: self.decision.as_ref().map(|d| d.user.clone()),
                at: self.decision.as_ref().map(|d| d.at),
            });
        }
        if self.is_expired(now) {
            return Err(TransitionError::Expired(self.expires_at));
        }
        Ok(())
    }

    /// The SHA-256 of the call this proposal will send.
    pub fn call_hash(&self) -> String {
        call_hash(&self.call)
    }

    /// Records `user`'s approval of the call they saw. With enough distinct approvers the
    /// proposal becomes Approved; until then it stays Proposed.
    pub fn approve(&mut self, user: &str, now: DateTime<Utc>) -> Result<Approval, TransitionError> {
        self.require_open(now)?;
        if self.governance.approvals.iter().any(|a| a.user == user) {
            return Err(TransitionError::DuplicateApprover(user.to_string()));
        }
        let decision = Decision {
            user: user.to_string(),
            at: now,
            call_hash: Some(self.call_hash()),
        };
        self.governance.approvals.push(decision.clone());
        let have = u8::try_from(self.governance.approvals.len()).unwrap_or(u8::MAX);
        let need = self.governance.required_approvals.max(1);
        if have < need {
            return Ok(Approval::Recorded { have, need });
        }
        self.state = ProposalState::Approved;
        self.decision = Some(decision);
        Ok(Approval::Complete)
    }

    pub fn reject(&mut self, user: &str, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.require_open(now)?;
        self.state = ProposalState::Rejected;
        self.decision = Some(Decision {
            user: user.to_string(),
            at: now,
            call_hash: None,
        });
        Ok(())
    }

    /// Whether every approval was given for exactly the call that would be sent now.
    pub fn approvals_match_call(&self) -> bool {
        let hash = self.call_hash();
        self.governance
            .approvals
            .iter()
            .chain(self.decision.iter())
            .all(|d| d.call_hash.as_deref().is_none_or(|h| h == hash))
    }

    /// Approved → Skipped: the call is not sent, for `reason`.
    pub fn skip(&mut self, reason: String) -> Result<(), TransitionError> {
        if self.state != ProposalState::Approved {
            return Err(TransitionError::Invalid {
                from: self.state,
                to: ProposalState::Skipped,
            });
        }
        self.state = ProposalState::Skipped;
        self.governance.skip_reason = Some(reason);
        Ok(())
    }

    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.state != ProposalState::Proposed || !self.is_expired(now) {
            return Err(TransitionError::Invalid {
                from: self.state,
                to: ProposalState::Expired,
            });
        }
        self.state = ProposalState::Expired;
        Ok(())
    }

    /// Approved → Executing. Also accepts Executing when repeating the call is safe (an
    /// idempotent action, or an attempt known not to have reached Fivetran): that is how a
    /// crashed or rate-limited attempt is resumed.
    pub fn claim(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        match self.state {
            ProposalState::Approved => {
                self.state = ProposalState::Executing;
                self.execution = Some(Execution {
                    started_at: now,
                    finished_at: None,
                    attempts: 1,
                    status: None,
                    code: None,
                    message: String::new(),
                    resumable: false,
                });
                Ok(())
            }
            ProposalState::Executing => {
                let safe = self.action.idempotent()
                    || self.execution.as_ref().is_some_and(|e| e.resumable);
                if !safe {
                    return Err(TransitionError::Invalid {
                        from: self.state,
                        to: ProposalState::Executing,
                    });
                }
                if let Some(e) = self.execution.as_mut() {
                    e.attempts += 1;
                    e.resumable = false;
                }
                Ok(())
            }
            from => Err(TransitionError::Invalid {
                from,
                to: ProposalState::Executing,
            }),
        }
    }

    pub fn finish(
        &mut self,
        now: DateTime<Utc>,
        success: bool,
        status: Option<u16>,
        code: Option<String>,
        message: String,
    ) -> Result<(), TransitionError> {
        let to = if success {
            ProposalState::Succeeded
        } else {
            ProposalState::Failed
        };
        if self.state != ProposalState::Executing {
            return Err(TransitionError::Invalid {
                from: self.state,
                to,
            });
        }
        self.state = to;
        if let Some(e) = self.execution.as_mut() {
            e.finished_at = Some(now);
            e.status = status;
            e.code = code;
            e.message = message;
        }
        Ok(())
    }

    /// Executing → Interrupted: the outcome of a non-idempotent call is unknown, so it is not
    /// sent again without a fresh approval.
    pub fn interrupt(&mut self, now: DateTime<Utc>, why: String) -> Result<(), TransitionError> {
        if self.state != ProposalState::Executing {
            return Err(TransitionError::Invalid {
                from: self.state,
                to: ProposalState::Interrupted,
            });
        }
        self.state = ProposalState::Interrupted;
        if let Some(e) = self.execution.as_mut() {
            e.finished_at = Some(now);
            e.message = why;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn proposal(now: DateTime<Utc>) -> Proposal {
        Proposal::new(
            "i1",
            "c1",
            Action::RetrySync,
            "system",
            now,
            std::time::Duration::from_secs(4 * 3600),
        )
    }

    #[test]
    fn approve_then_second_click_is_refused_with_who_and_when() {
        let now = Utc::now();
        let mut p = proposal(now);
        p.approve("U1", now).unwrap();
        let err = p.clone().approve("U2", now).unwrap_err();
        assert_eq!(
            err,
            TransitionError::AlreadyDecided {
                state: ProposalState::Approved,
                by: Some("U1".into()),
                at: Some(now)
            }
        );
        assert_eq!(p.decision.as_ref().unwrap().call_hash, Some(p.call_hash()));
        assert!(p.clone().reject("U2", now).is_err());
    }

    #[test]
    fn two_person_rule_needs_two_distinct_approvers() {
        let now = Utc::now();
        let mut p = proposal(now);
        p.governance.required_approvals = 2;
        assert_eq!(
            p.approve("U1", now),
            Ok(Approval::Recorded { have: 1, need: 2 })
        );
        assert_eq!(p.state, ProposalState::Proposed);
        assert_eq!(
            p.approve("U1", now),
            Err(TransitionError::DuplicateApprover("U1".into()))
        );
        assert_eq!(p.approve("U2", now), Ok(Approval::Complete));
        assert_eq!(p.state, ProposalState::Approved);
        assert_eq!(p.decision.as_ref().unwrap().user, "U2");
        assert_eq!(p.governance.approvals.len(), 2);
    }

    #[test]
    fn approvals_are_pinned_to_the_call() {
        let now = Utc::now();
        let mut p = proposal(now);
        p.approve("U1", now).unwrap();
        assert!(p.approvals_match_call());
        // Whatever changed the stored call, it is no longer the call that was approved.
        p.call = Action::ResyncConnector.call("c1");
        assert!(!p.approvals_match_call());
        assert_eq!(short_hash(&p.call_hash()).len(), 12);
        p.skip("changed".into()).unwrap();
        assert_eq!(p.state, ProposalState::Skipped);
        assert!(p.skip("again".into()).is_err());
    }

    #[test]
    fn proposals_stored_before_governance_still_load() {
        let now = Utc::now();
        let mut v = serde_json::to_value(proposal(now)).unwrap();
        v.as_object_mut().unwrap().remove("governance");
        let p: Proposal = serde_json::from_value(v).unwrap();
        assert_eq!(p.governance.required_approvals, 1);
        assert_eq!(p.governance.mode, Mode::Approve);
    }

    #[test]
    fn expired_proposals_cannot_be_approved() {
        let now = Utc::now();
        let mut p = proposal(now);
        let later = now + Duration::hours(5);
        assert_eq!(
            p.approve("U1", later),
            Err(TransitionError::Expired(p.expires_at))
        );
        p.expire(later).unwrap();
        assert_eq!(p.state, ProposalState::Expired);
    }

    #[test]
    fn execution_path() {
        let now = Utc::now();
        let mut p = proposal(now);
        assert!(p.claim(now).is_err(), "cannot execute before approval");
        p.approve("U1", now).unwrap();
        p.claim(now).unwrap();
        p.claim(now).unwrap();
        assert_eq!(p.execution.as_ref().unwrap().attempts, 2);
        p.finish(now, true, Some(200), Some("Success".into()), "ok".into())
            .unwrap();
        assert_eq!(p.state, ProposalState::Succeeded);
        assert!(
            p.claim(now).is_err(),
            "a finished proposal never runs again"
        );
    }

    #[test]
    fn only_open_proposals_can_be_superseded() {
        let now = Utc::now();
        let mut p = proposal(now);
        p.supersede("recovered").unwrap();
        assert_eq!(p.state, ProposalState::Superseded);
        assert_eq!(p.superseded_reason.as_deref(), Some("recovered"));
        assert!(p.clone().approve("U1", now).is_err());
        let mut q = proposal(now);
        q.approve("U1", now).unwrap();
        assert!(q.supersede("recovered").is_err(), "a decision stands");
    }

    #[test]
    fn batch_has_one_call_per_connector() {
        let now = Utc::now();
        let ids = vec!["a_b".to_string(), "c_d".to_string()];
        let p = Proposal::batch(
            "s1",
            Action::RetrySync,
            &ids,
            now,
            std::time::Duration::from_secs(60),
        );
        assert!(p.is_batch());
        assert_eq!(p.batch.len(), 2);
        assert_eq!(p.batch[1].call.path, "/v1/connections/c_d/sync");
        assert_eq!(p.call, p.batch[0].call);
    }

    #[test]
    fn non_idempotent_in_flight_call_is_not_repeated() {
        let now = Utc::now();
        let mut p = proposal(now);
        p.action = Action::ResyncConnector;
        p.approve("U1", now).unwrap();
        p.claim(now).unwrap();
        assert!(p.claim(now).is_err(), "outcome unknown: must not re-send");
        p.execution.as_mut().unwrap().resumable = true;
        p.claim(now).unwrap();
        p.interrupt(now, "x".into()).unwrap();
        assert_eq!(p.state, ProposalState::Interrupted);
    }
}
