//! Undo for reversible actions (`pause_connector`, `resume_connector`, `set_sync_frequency`).
//! The value is captured by the pre-flight read just before the call runs; after a success
//! the alert offers **Undo**, which creates a new proposal restoring that value. The undo goes
//! through the same approval rules, and runs only if the connector still has the value the
//! original call set (otherwise someone changed it since, and the undo is skipped).

use super::action::{Action, SYNC_FREQUENCIES};
use super::policy::Mode;
use super::proposal::{ConnectorFacts, Proposal, ProposalState};

/// The action restoring what `p` changed, and what must still hold for it to run.
pub fn inverse(p: &Proposal) -> Option<(Action, ConnectorFacts)> {
    let prior = p.governance.prior.as_ref()?;
    match &p.action {
        Action::PauseConnector if prior.paused == Some(false) => Some((
            Action::ResumeConnector,
            ConnectorFacts {
                paused: Some(true),
                ..ConnectorFacts::default()
            },
        )),
        Action::ResumeConnector if prior.paused == Some(true) => Some((
            Action::PauseConnector,
            ConnectorFacts {
                paused: Some(false),
                ..ConnectorFacts::default()
            },
        )),
        Action::SetSyncFrequency { minutes } => {
            let before = prior.sync_frequency?;
            (before != *minutes && SYNC_FREQUENCIES.contains(&before)).then(|| {
                (
                    Action::SetSyncFrequency { minutes: before },
                    ConnectorFacts {
                        sync_frequency: Some(*minutes),
                        ..ConnectorFacts::default()
                    },
                )
            })
        }
        _ => None,
    }
}

/// The undo the message offers, if any: after a success, once.
pub fn offer(p: &Proposal) -> Option<Action> {
    if p.state != ProposalState::Succeeded
        || p.governance.undone_by.is_some()
        || p.governance.mode == Mode::Monitor
    {
        return None;
    }
    inverse(p).map(|(a, _)| a)
}
