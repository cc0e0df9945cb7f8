//! Resuming an approved call whose outcome is unknown (syncwarden stopped mid-call, or
//! Fivetran answered 5xx). An idempotent call may be sent again, but if the connection already
//! shows its effect the earlier attempt got through: record that instead of calling twice.

use super::action::Action;
use crate::fivetran::model::Connection;

/// What the connection shows that proves `action` already took effect, if anything. Actions
/// whose effect cannot be seen (setup tests, schema reload) return `None` and are re-sent.
pub fn already_in_effect(action: &Action, c: &Connection) -> Option<String> {
    match action {
        Action::RetrySync if c.status.sync_state.as_deref() == Some("syncing") => {
            Some("a sync is running".into())
        }
        Action::PauseConnector if c.paused == Some(true) => Some("the connector is paused".into()),
        Action::ResumeConnector if c.paused == Some(false) => {
            Some("the connector is not paused".into())
        }
        Action::SetSyncFrequency { minutes } if c.sync_frequency == Some(*minutes) => {
            Some(format!("the sync frequency is {minutes} min"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(paused: bool, freq: u32, sync_state: &str) -> Connection {
        let mut c = Connection {
            id: "c".into(),
            paused: Some(paused),
            sync_frequency: Some(freq),
            ..Connection::default()
        };
        c.status.sync_state = Some(sync_state.into());
        c
    }

    #[test]
    fn effects_that_show_are_recognised() {
        let running = conn(false, 360, "syncing");
        assert!(already_in_effect(&Action::RetrySync, &running).is_some());
        assert!(already_in_effect(&Action::RetrySync, &conn(false, 360, "scheduled")).is_none());
        assert!(already_in_effect(&Action::PauseConnector, &conn(true, 360, "paused")).is_some());
        assert!(already_in_effect(&Action::PauseConnector, &running).is_none());
        assert!(already_in_effect(&Action::ResumeConnector, &running).is_some());
        assert!(already_in_effect(&Action::SetSyncFrequency { minutes: 360 }, &running).is_some());
        assert!(already_in_effect(&Action::SetSyncFrequency { minutes: 720 }, &running).is_none());
        assert!(already_in_effect(&Action::RunSetupTests, &running).is_none());
    }
}
