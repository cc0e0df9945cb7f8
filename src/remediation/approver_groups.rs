//! Members of the Slack user groups the policy names, from `usergroups.users.list`, cached in
//! memory and re-read every `policy.approver_groups_refresh`. The cache is refreshed in the
//! background by the server and, when stale, just before a decision needs it (bounded by a
//! short timeout so a click is still answered within Slack's 3 s). If Slack cannot be
//! reached the last known members stay in force; a group never read grants nobody.

use crate::slack::client::SlackWebClient;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// After a failed read, wait this long before asking Slack about that group again.
const RETRY_AFTER_FAILURE: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Debug, Clone, Default)]
struct Entry {
    users: Option<BTreeSet<String>>,
    fetched_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

pub struct ApproverGroups {
    refresh: chrono::Duration,
    cache: Mutex<HashMap<String, Entry>>,
}

impl ApproverGroups {
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh: chrono::Duration::from_std(refresh).unwrap_or(chrono::Duration::minutes(5)),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn needs_read(&self, group: &str, now: DateTime<Utc>) -> bool {
        let cache = self.lock();
        let Some(e) = cache.get(group) else {
            return true;
        };
        if e.failed_at.is_some_and(|f| now < f + RETRY_AFTER_FAILURE) {
            return false;
        }
        e.fetched_at.is_none_or(|f| now >= f + self.refresh)
    }

    /// Re-reads every group in `groups` whose members are missing or older than the refresh
    /// interval. Each read is bounded by `timeout`.
    pub async fn refresh_stale(
        &self,
        slack: &SlackWebClient,
        groups: &BTreeSet<String>,
        now: DateTime<Utc>,
        timeout: Duration,
    ) {
        for group in groups {
            if !self.needs_read(group, now) {
                continue;
            }
            let result = match tokio::time::timeout(timeout, slack.usergroup_members(group)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {}ms", timeout.as_millis())),
            };
            let mut cache = self.lock();
            let entry = cache.entry(group.clone()).or_default();
            match result {
                Ok(users) => {
                    tracing::info!(group = %group, members = users.len(), "approver group read");
                    entry.users = Some(users.into_iter().collect());
                    entry.fetched_at = Some(now);
                    entry.failed_at = None;
                    entry.error = None;
                }
                Err(error) => {
                    tracing::warn!(group = %group, %error, "cannot read approver group; keeping the last known members");
                    entry.failed_at = Some(now);
                    entry.error = Some(error);
                }
            }
        }
    }

    /// Whether `user` is in any of `groups`, by the cached members.
    pub fn is_member_of_any(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        let cache = self.lock();
        groups.iter().any(|g| {
            cache
                .get(g)
                .and_then(|e| e.users.as_ref())
                .is_some_and(|u| u.contains(user))
        })
    }

    /// Groups among `groups` whose members were never read, with the last error.
    pub fn unresolved(&self, groups: &BTreeSet<String>) -> Vec<(String, String)> {
        let cache = self.lock();
        groups
            .iter()
            .filter_map(|g| match cache.get(g) {
                Some(Entry { users: Some(_), .. }) => None,
                Some(e) => Some((g.clone(), e.error.clone().unwrap_or_default())),
                None => Some((g.clone(), "not read yet".into())),
            })
            .collect()
    }
}

/// Keeps every group the policy names fresh, until `stop` changes.
pub async fn refresh_loop(
    state: crate::app::SharedState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let groups = state.policy.all_groups();
    if groups.is_empty() {
        return;
    }
    let every = state.policy.approver_groups_refresh;
    loop {
        state
            .approver_groups
            .refresh_stale(
                &state.slack,
                &groups,
                state.now(),
                state.settings.slack_timeout,
            )
            .await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
}
