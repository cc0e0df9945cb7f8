//! Who may do what, decided before any state changes. Pure checks over the policy, the cached
//! user group members and the proposal; callers audit and explain every refusal.

use super::policy::{ApproverSet, Mode};
use super::proposal::Proposal;
use crate::app::AppState;

/// Longest a decision waits for Slack to list a stale user group.
pub const GROUP_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Why someone may not do what they tried. Never changes state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not in the approvers (users or groups) for this connector.
    NotApprover {
        ask: String,
        /// Groups that could not be read from Slack (so membership is unknown).
        unresolved: Vec<String>,
    },
    /// The connector is in monitor mode: nothing is decided or run.
    MonitorMode,
    /// The person who requested the fix cannot approve it.
    OwnRequest,
    /// This approver already approved; a different one is needed.
    AlreadyApprovedByYou { have: u8, need: u8 },
}

impl Refusal {
    /// A stable word for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotApprover { .. } => "not_approver",
            Refusal::MonitorMode => "monitor_mode",
            Refusal::OwnRequest => "own_request",
            Refusal::AlreadyApprovedByYou { .. } => "duplicate_approval",
        }
    }

    /// What the person is told, privately.
    pub fn message(&self) -> String {
        match self {
            Refusal::NotApprover { ask, unresolved } => {
                let groups = if unresolved.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (Slack could not list user group {} just now, so its members were not recognised)",
                        unresolved.join(", ")
                    )
                };
                format!("You can't decide on this fix: you are not an approver for this connector; ask one of: {ask}{groups}. Nothing was changed.")
            }
            Refusal::MonitorMode => "This connector is in monitor mode: syncwarden only reports on it, so nothing can be approved or run. An approver can change that with `/fivetran mode <connector> approve`. Nothing was changed.".into(),
            Refusal::OwnRequest => "You requested this fix, so someone else has to approve it (you can still reject it). Nothing was changed.".into(),
            Refusal::AlreadyApprovedByYou { have, need } => format!(
                "You already approved this ({have} of {need} approvals); it needs a different approver. Nothing more was done."
            ),
        }
    }
}

/// Whether `user` is an approver for the connector, by user ID or user group membership.
pub fn approver(
    state: &AppState,
    user: &str,
    connector_id: &str,
    group_id: Option<&str>,
) -> Result<ApproverSet, Refusal> {
    let set = state.policy.approvers_for(connector_id, group_id);
    if set.users.contains(user) || state.approver_groups.is_member_of_any(user, &set.groups) {
        return Ok(set);
    }
    Err(Refusal::NotApprover {
        ask: set.mentions(),
        unresolved: state
            .approver_groups
            .unresolved(&set.groups)
            .into_iter()
            .map(|(g, _)| g)
            .collect(),
    })
}

/// Whether `user` may approve (or, with `approve = false`, reject) `p` now.
pub fn may_decide(
    state: &AppState,
    user: &str,
    p: &Proposal,
    group_id: Option<&str>,
    mode_now: Mode,
    approve: bool,
) -> Result<(), Refusal> {
    if mode_now == Mode::Monitor || p.governance.mode == Mode::Monitor {
        return Err(Refusal::MonitorMode);
    }
    approver(state, user, &p.connector_id, group_id)?;
    if approve {
        if p.requested_by == user {
            return Err(Refusal::OwnRequest);
        }
        if p.governance.approvals.iter().any(|a| a.user == user) {
            return Err(Refusal::AlreadyApprovedByYou {
                have: u8::try_from(p.governance.approvals.len()).unwrap_or(u8::MAX),
                need: p.governance.required_approvals,
            });
        }
    }
    Ok(())
}

/// Makes sure the user groups that could admit `user` on this connector are fresh, reading
/// stale ones from Slack (bounded). Direct approvers need no lookup.
pub async fn refresh_groups_for(
    state: &AppState,
    user: &str,
    connector_id: &str,
    group_id: Option<&str>,
) {
    let set = state.policy.approvers_for(connector_id, group_id);
    if set.users.contains(user) || set.groups.is_empty() {
        return;
    }
    state
        .approver_groups
        .refresh_stale(&state.slack, &set.groups, state.now(), GROUP_READ_TIMEOUT)
        .await;
}

/// [`refresh_groups_for`] the connector of a stored proposal (for a click on its buttons).
pub async fn refresh_groups_for_proposal(state: &AppState, user: &str, proposal_id: &str) {
    let Ok(Some(p)) = state.store.proposal(proposal_id) else {
        return;
    };
    let group = state
        .store
        .incident(&p.incident_id)
        .ok()
        .flatten()
        .and_then(|i| i.group_id);
    refresh_groups_for(state, user, &p.connector_id, group.as_deref()).await;
}
