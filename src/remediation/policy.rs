//! The policy: per-connector rollout mode, who may approve what, how many approvers an action
//! needs, and the auto-mode budget. Built once from the configuration; the parts people change
//! at run time (`/fivetran mode`) live in the store and are passed in.
//!
//! Resolution, most specific first:
//! - **mode**: a `/fivetran mode` override → the connector's `[[policy.connector]]` rule →
//!   its group's rule → `policy.default_mode`.
//! - **approvers**: the connector's rule, if it names any approvers or approver groups → its
//!   group's rule, likewise → the global `policy.approvers` / `policy.approver_groups`. A rule
//!   that names approvers *replaces* the global list for its connectors: the owning team
//!   approves its own connectors.

use super::action::{Action, Risk};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// How much syncwarden may do on a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The summary only: no buttons, nothing runs.
    Monitor,
    /// Approve / Reject buttons; nothing runs without an approver.
    #[default]
    Approve,
    /// Low-risk fixes run at once within a daily budget; the rest as in `approve`.
    Auto,
}

impl Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Monitor => "monitor",
            Mode::Approve => "approve",
            Mode::Auto => "auto",
        }
    }

    pub fn parse(word: &str) -> Option<Mode> {
        match word.to_ascii_lowercase().as_str() {
            "monitor" => Some(Mode::Monitor),
            "approve" => Some(Mode::Approve),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }
}

/// What a `[[policy.connector]]` rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleScope {
    Connector(String),
    Group(String),
}

/// One `[[policy.connector]]` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scope: RuleScope,
    pub mode: Option<Mode>,
    pub approvers: BTreeSet<String>,
    pub approver_groups: BTreeSet<String>,
}

impl Rule {
    fn names_approvers(&self) -> bool {
        !self.approvers.is_empty() || !self.approver_groups.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPolicy {
    /// Automatic fixes per connector per UTC day.
    pub max_per_connector_per_day: u32,
    /// Consecutive failed syncs after an automatic fix that stop automatic fixes.
    pub breaker_failures: u32,
}

impl Default for AutoPolicy {
    fn default() -> Self {
        Self {
            max_per_connector_per_day: 3,
            breaker_failures: 3,
        }
    }
}

/// The checked `[policy]` settings beyond the flat approver list and the TTL.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySettings {
    pub approver_groups: Vec<String>,
    pub approver_groups_refresh: Duration,
    pub default_mode: Mode,
    pub two_person_for: Vec<String>,
    pub auto: AutoPolicy,
    pub rules: Vec<Rule>,
}

pub const DEFAULT_TWO_PERSON: [&str; 2] = ["resync_connector", "resync_tables"];

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            approver_groups: Vec::new(),
            approver_groups_refresh: Duration::from_secs(300),
            default_mode: Mode::Approve,
            two_person_for: DEFAULT_TWO_PERSON.iter().map(|s| s.to_string()).collect(),
            auto: AutoPolicy::default(),
            rules: Vec::new(),
        }
    }
}

/// Where a connector's mode comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSource {
    Default,
    ConnectorRule,
    GroupRule(String),
    /// `/fivetran mode`, by whom and when.
    Command {
        by: String,
        at: chrono::DateTime<chrono::Utc>,
    },
}

impl ModeSource {
    pub fn describe(&self) -> String {
        match self {
            ModeSource::Default => "policy.default_mode".into(),
            ModeSource::ConnectorRule => "its [[policy.connector]] rule".into(),
            ModeSource::GroupRule(g) => format!("the [[policy.connector]] rule for group {g}"),
            ModeSource::Command { by, at } => format!(
                "set by <@{by}> with /fivetran mode at {}",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }
}

/// A `/fivetran mode` override as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeOverride {
    pub mode: Mode,
    pub set_by: String,
    pub set_at: chrono::DateTime<chrono::Utc>,
}

/// Who may approve on one connector, and which part of the policy said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverSet {
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    /// `global`, `connector <id>` or `group <id>`: for explanations.
    pub scope: String,
}

impl ApproverSet {
    /// `<@U1>, <!subteam^S1>`: who to ask, as Slack renders it.
    pub fn mentions(&self) -> String {
        let mut v: Vec<String> = self.users.iter().map(|u| format!("<@{u}>")).collect();
        v.extend(self.groups.iter().map(|g| format!("<!subteam^{g}>")));
        if v.is_empty() {
            "nobody is configured".into()
        } else {
            v.join(", ")
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    approvers: BTreeSet<String>,
    approver_groups: BTreeSet<String>,
    pub proposal_ttl: Duration,
    pub approver_groups_refresh: Duration,
    pub default_mode: Mode,
    two_person_for: BTreeSet<String>,
    pub auto: AutoPolicy,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("you are not an approver for this connector; ask one of: {0}")]
    NotApprover(String),
}

impl Policy {
    /// A policy with global approvers only and every other setting at its default.
    pub fn new(approvers: impl IntoIterator<Item = String>, proposal_ttl: Duration) -> Self {
        Self::with_settings(approvers, proposal_ttl, &PolicySettings::default())
    }

    pub fn with_settings(
        approvers: impl IntoIterator<Item = String>,
        proposal_ttl: Duration,
        s: &PolicySettings,
    ) -> Self {
        Self {
            approvers: approvers.into_iter().collect(),
            approver_groups: s.approver_groups.iter().cloned().collect(),
            proposal_ttl,
            approver_groups_refresh: s.approver_groups_refresh,
            default_mode: s.default_mode,
            two_person_for: s.two_person_for.iter().cloned().collect(),
            auto: s.auto,
            rules: s.rules.clone(),
        }
    }

    fn connector_rule(&self, connector_id: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.scope == RuleScope::Connector(connector_id.to_string()))
    }

    fn group_rule(&self, group_id: Option<&str>) -> Option<&Rule> {
        let g = group_id.filter(|g| !g.is_empty())?;
        self.rules
            .iter()
            .find(|r| r.scope == RuleScope::Group(g.to_string()))
    }

    /// The mode the configuration gives a connector (before any `/fivetran mode` override).
    pub fn configured_mode(
        &self,
        connector_id: &str,
        group_id: Option<&str>,
    ) -> (Mode, ModeSource) {
        if let Some(m) = self.connector_rule(connector_id).and_then(|r| r.mode) {
            return (m, ModeSource::ConnectorRule);
        }
        if let Some(r) = self.group_rule(group_id) {
            if let (Some(m), RuleScope::Group(g)) = (r.mode, &r.scope) {
                return (m, ModeSource::GroupRule(g.clone()));
            }
        }
        (self.default_mode, ModeSource::Default)
    }

    /// The effective mode: a command override wins over the configuration.
    pub fn mode(
        &self,
        connector_id: &str,
        group_id: Option<&str>,
        overridden: Option<&ModeOverride>,
    ) -> (Mode, ModeSource) {
        match overridden {
            Some(o) => (
                o.mode,
                ModeSource::Command {
                    by: o.set_by.clone(),
                    at: o.set_at,
                },
            ),
            None => self.configured_mode(connector_id, group_id),
        }
    }

    /// Who may approve on this connector: the most specific rule that names anyone.
    pub fn approvers_for(&self, connector_id: &str, group_id: Option<&str>) -> ApproverSet {
        if let Some(r) = self
            .connector_rule(connector_id)
            .filter(|r| r.names_approvers())
        {
            return ApproverSet {
                users: r.approvers.clone(),
                groups: r.approver_groups.clone(),
                scope: format!("connector {connector_id}"),
            };
        }
        if let Some(r) = self.group_rule(group_id).filter(|r| r.names_approvers()) {
            return ApproverSet {
                users: r.approvers.clone(),
                groups: r.approver_groups.clone(),
                scope: format!("group {}", group_id.unwrap_or_default()),
            };
        }
        ApproverSet {
            users: self.approvers.clone(),
            groups: self.approver_groups.clone(),
            scope: "global".into(),
        }
    }

    /// Every user group the policy mentions anywhere (to resolve and cache).
    pub fn all_groups(&self) -> BTreeSet<String> {
        let mut all = self.approver_groups.clone();
        for r in &self.rules {
            all.extend(r.approver_groups.iter().cloned());
        }
        all
    }

    /// Distinct approvers an action needs: two for `policy.two_person_for`, else one.
    pub fn required_approvals(&self, action: &Action) -> u8 {
        if self.two_person_for.contains(action.name()) {
            2
        } else {
            1
        }
    }

    /// Whether auto mode may run this action without anyone clicking.
    pub fn auto_eligible(action: &Action) -> bool {
        action.risk() == Risk::Low
    }

    /// Global approvers only; kept for callers that have no connector at hand.
    pub fn may_decide(&self, user_id: &str) -> Result<(), Denial> {
        if self.approvers.contains(user_id) {
            Ok(())
        } else {
            Err(Denial::NotApprover(
                self.approvers
                    .iter()
                    .map(|u| format!("<@{u}>"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn policy() -> Policy {
        Policy::with_settings(
            ["U0ADMIN".to_string()],
            Duration::from_secs(3600),
            &PolicySettings {
                approver_groups: vec!["S0PLATFORM".into()],
                rules: vec![
                    Rule {
                        scope: RuleScope::Group("finance".into()),
                        mode: Some(Mode::Monitor),
                        approvers: BTreeSet::new(),
                        approver_groups: set(&["S0FINANCE"]),
                    },
                    Rule {
                        scope: RuleScope::Connector("pg_orders".into()),
                        mode: Some(Mode::Auto),
                        approvers: set(&["U0ORDERS"]),
                        approver_groups: BTreeSet::new(),
                    },
                    Rule {
                        scope: RuleScope::Connector("sf_leads".into()),
                        mode: None,
                        approvers: BTreeSet::new(),
                        approver_groups: BTreeSet::new(),
                    },
                ],
                ..PolicySettings::default()
            },
        )
    }

    #[test]
    fn only_listed_ids_may_decide() {
        let p = Policy::new(["U0APPROVER".to_string()], Duration::from_secs(60));
        assert!(p.may_decide("U0APPROVER").is_ok());
        let err = p.may_decide("U0INTRUDER").unwrap_err().to_string();
        assert!(err.contains("<@U0APPROVER>"));
        assert!(p.may_decide("u0approver").is_err());
    }

    #[test]
    fn mode_resolution_most_specific_first_and_a_command_wins() {
        let p = policy();
        assert_eq!(
            p.mode("x", None, None),
            (Mode::Approve, ModeSource::Default)
        );
        assert_eq!(
            p.mode("x", Some("finance"), None),
            (Mode::Monitor, ModeSource::GroupRule("finance".into()))
        );
        // The connector rule beats its group's rule.
        assert_eq!(p.mode("pg_orders", Some("finance"), None).0, Mode::Auto);
        // A rule without a mode falls through to the default.
        assert_eq!(p.mode("sf_leads", None, None).0, Mode::Approve);
        let o = ModeOverride {
            mode: Mode::Approve,
            set_by: "U0ORDERS".into(),
            set_at: chrono::Utc::now(),
        };
        assert!(matches!(
            p.mode("pg_orders", None, Some(&o)),
            (Mode::Approve, ModeSource::Command { .. })
        ));
    }

    #[test]
    fn approvers_come_from_the_most_specific_rule_that_names_any() {
        let p = policy();
        let global = p.approvers_for("x", None);
        assert_eq!(global.users, set(&["U0ADMIN"]));
        assert_eq!(global.groups, set(&["S0PLATFORM"]));
        let finance = p.approvers_for("x", Some("finance"));
        assert!(finance.users.is_empty());
        assert_eq!(finance.groups, set(&["S0FINANCE"]));
        assert_eq!(finance.scope, "group finance");
        let orders = p.approvers_for("pg_orders", Some("finance"));
        assert_eq!(orders.users, set(&["U0ORDERS"]));
        assert!(orders.groups.is_empty());
        // A rule that names nobody keeps the global list.
        assert_eq!(p.approvers_for("sf_leads", None).scope, "global");
        assert_eq!(p.all_groups(), set(&["S0FINANCE", "S0PLATFORM"]));
        assert_eq!(orders.mentions(), "<@U0ORDERS>");
        assert_eq!(finance.mentions(), "<!subteam^S0FINANCE>");
    }

    #[test]
    fn two_person_rule_by_action_name() {
        let p = policy();
        assert_eq!(p.required_approvals(&Action::ResyncConnector), 2);
        assert_eq!(p.required_approvals(&Action::PauseConnector), 1);
        assert!(Policy::auto_eligible(&Action::RetrySync));
        assert!(!Policy::auto_eligible(&Action::PauseConnector));
    }
}
