//! Which channels an incident's alert goes to.

use crate::app::AppState;

/// Channels for an alert about `connector_id` in `group_id`. Until subscriptions exist this is
/// the configured default channel.
pub fn channels_for(state: &AppState, _connector_id: &str, _group_id: Option<&str>) -> Vec<String> {
    vec![state.settings.slack_default_channel.clone()]
}
