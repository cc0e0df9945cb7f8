//! Which channels an incident's alert goes to: every channel subscribed to the connector, to
//! its group, or to `all`, each once; with none, the configured default channel.

use crate::app::AppState;
use crate::store::subscriptions::Scope;
use crate::store::Store;

/// Subscribed channels for `connector_id` in `group_id`, in scope order (connector, group,
/// all), without duplicates. Empty when nobody subscribed.
pub fn subscribed_channels(
    store: &Store,
    connector_id: &str,
    group_id: Option<&str>,
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut scopes = vec![Scope::Connector(connector_id.to_string())];
    if let Some(g) = group_id.filter(|g| !g.is_empty()) {
        scopes.push(Scope::Group(g.to_string()));
    }
    scopes.push(Scope::All);
    let mut out: Vec<String> = Vec::new();
    for scope in &scopes {
        for channel in store.channels_subscribed_to(scope)? {
            if !out.contains(&channel) {
                out.push(channel);
            }
        }
    }
    Ok(out)
}

/// Channels for an alert about `connector_id` in `group_id`. If the subscriptions cannot be
/// read the alert still goes to the default channel rather than nowhere.
pub fn channels_for(state: &AppState, connector_id: &str, group_id: Option<&str>) -> Vec<String> {
    match subscribed_channels(&state.store, connector_id, group_id) {
        Ok(channels) if !channels.is_empty() => channels,
        Ok(_) => vec![state.settings.slack_default_channel.clone()],
        Err(e) => {
            tracing::error!(error = %e, "cannot read subscriptions; alerting the default channel");
            vec![state.settings.slack_default_channel.clone()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::subscriptions::Subscription;
    use chrono::Utc;

    #[test]
    fn connector_group_and_all_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        let add = |scope: Scope, channel: &str| {
            s.transact(now, |tx| {
                tx.subscribe(&Subscription {
                    scope: scope.clone(),
                    channel: channel.into(),
                    label: String::new(),
                    created_by: "U1".into(),
                    created_at: now,
                })
            })
            .unwrap();
        };
        assert!(subscribed_channels(&s, "c1", Some("g1"))
            .unwrap()
            .is_empty());
        add(Scope::Connector("c1".into()), "CTEAM");
        add(Scope::Group("g1".into()), "CTEAM");
        add(Scope::Group("g1".into()), "CGROUP");
        add(Scope::All, "CALL");
        add(Scope::Connector("c2".into()), "COTHER");
        assert_eq!(
            subscribed_channels(&s, "c1", Some("g1")).unwrap(),
            vec!["CTEAM", "CGROUP", "CALL"]
        );
        assert_eq!(subscribed_channels(&s, "c3", None).unwrap(), vec!["CALL"]);
    }
}
