//! The allowlist. Each action is exactly one Fivetran call; nothing else can be executed.

use crate::fivetran::api::ApiCall;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Fivetran's accepted `sync_frequency` values, in minutes.
pub const SYNC_FREQUENCIES: [u32; 11] = [1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440];

/// Every action name, as used in configuration (`policy.two_person_for`) and the audit log.
pub const ACTION_NAMES: [&str; 8] = [
    "retry_sync",
    "run_setup_tests",
    "reload_schema",
    "pause_connector",
    "resume_connector",
    "set_sync_frequency",
    "resync_tables",
    "resync_connector",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(&self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    pub schema: String,
    pub table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    RetrySync,
    RunSetupTests,
    ReloadSchema,
    PauseConnector,
    ResumeConnector,
    SetSyncFrequency { minutes: u32 },
    ResyncTables { tables: Vec<TableRef> },
    ResyncConnector,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("sync_frequency {0} is not one of Fivetran's values: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440")]
    BadFrequency(u32),
    #[error("resync_tables needs at least one schema.table")]
    NoTables,
    #[error("{0:?} is not a valid schema or table name")]
    BadName(String),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::RetrySync => "retry_sync",
            Action::RunSetupTests => "run_setup_tests",
            Action::ReloadSchema => "reload_schema",
            Action::PauseConnector => "pause_connector",
            Action::ResumeConnector => "resume_connector",
            Action::SetSyncFrequency { .. } => "set_sync_frequency",
            Action::ResyncTables { .. } => "resync_tables",
            Action::ResyncConnector => "resync_connector",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Action::RetrySync => "Retry the sync".into(),
            Action::RunSetupTests => "Run the setup tests".into(),
            Action::ReloadSchema => "Reload the schema".into(),
            Action::PauseConnector => "Pause the connector".into(),
            Action::ResumeConnector => "Resume the connector".into(),
            Action::SetSyncFrequency { minutes } => {
                format!("Set the sync frequency to {minutes} min")
            }
            Action::ResyncTables { tables } => format!("Re-sync {} table(s)", tables.len()),
            Action::ResyncConnector => "Re-sync the whole connection (historical)".into(),
        }
    }

    /// What the call does, in a sentence for the approver.
    pub fn effect(&self) -> &'static str {
        match self {
            Action::RetrySync => {
                "asks Fivetran to start a sync now; does nothing if one is already running"
            }
            Action::RunSetupTests => "re-runs the connection's setup tests",
            Action::ReloadSchema => {
                "refreshes the connection's schema from the source, keeping table selections"
            }
            Action::PauseConnector => "stops scheduled syncs until resumed",
            Action::ResumeConnector => "restarts scheduled syncs",
            Action::SetSyncFrequency { .. } => "changes how often the connection syncs",
            Action::ResyncTables { .. } => "re-reads the named tables from scratch (costly)",
            Action::ResyncConnector => "re-reads every table from scratch (costly, can take hours)",
        }
    }

    pub fn risk(&self) -> Risk {
        match self {
            Action::RetrySync | Action::RunSetupTests | Action::ReloadSchema => Risk::Low,
            Action::PauseConnector | Action::ResumeConnector | Action::SetSyncFrequency { .. } => {
                Risk::Medium
            }
            Action::ResyncTables { .. } | Action::ResyncConnector => Risk::High,
        }
    }

    /// Safe to send again if we cannot tell whether the first attempt took effect.
    pub fn idempotent(&self) -> bool {
        matches!(
            self,
            Action::RetrySync
                | Action::RunSetupTests
                | Action::PauseConnector
                | Action::ResumeConnector
                | Action::SetSyncFrequency { .. }
        )
    }

    pub fn validate(&self) -> Result<(), ActionError> {
        match self {
            Action::SetSyncFrequency { minutes } if !SYNC_FREQUENCIES.contains(minutes) => {
                Err(ActionError::BadFrequency(*minutes))
            }
            Action::ResyncTables { tables } if tables.is_empty() => Err(ActionError::NoTables),
            Action::ResyncTables { tables } => {
                for t in tables {
                    for name in [&t.schema, &t.table] {
                        if !is_valid_object_name(name) {
                            return Err(ActionError::BadName(name.clone()));
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The one Fivetran call this action makes. `connection_id` must already be validated.
    pub fn call(&self, connection_id: &str) -> ApiCall {
        let base = format!("/v1/connections/{connection_id}");
        let (method, path, body) = match self {
            Action::RetrySync => ("POST", format!("{base}/sync"), json!({"force": false})),
            Action::RunSetupTests => ("POST", format!("{base}/test"), json!({})),
            Action::ReloadSchema => (
                "POST",
                format!("{base}/schemas/reload"),
                json!({"exclude_mode": "PRESERVE"}),
            ),
            Action::PauseConnector => ("PATCH", base, json!({"paused": true})),
            Action::ResumeConnector => ("PATCH", base, json!({"paused": false})),
            Action::SetSyncFrequency { minutes } => {
                ("PATCH", base, json!({"sync_frequency": minutes}))
            }
            Action::ResyncTables { tables } => {
                let mut by_schema = serde_json::Map::new();
                for t in tables {
                    let entry = by_schema
                        .entry(t.schema.clone())
                        .or_insert_with(|| json!([]));
                    if let Some(list) = entry.as_array_mut() {
                        list.push(json!(t.table));
                    }
                }
                (
                    "POST",
                    format!("{base}/schemas/tables/resync"),
                    serde_json::Value::Object(by_schema),
                )
            }
            Action::ResyncConnector => ("POST", format!("{base}/resync"), json!({})),
        };
        ApiCall {
            method: method.into(),
            path,
            body: Some(body),
        }
    }
}

fn is_valid_object_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.chars().any(|c| c.is_control() || c == '/')
}

/// The next slower allowed frequency, for "reduce sync frequency".
pub fn slower_frequency(current: u32) -> Option<u32> {
    SYNC_FREQUENCIES.iter().copied().find(|&f| f > current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_match_the_design_table() {
        let id = "speak_inexpensive";
        let c = Action::RetrySync.call(id);
        assert_eq!(
            (c.method.as_str(), c.path.as_str()),
            ("POST", "/v1/connections/speak_inexpensive/sync")
        );
        assert_eq!(c.body, Some(json!({"force": false})));
        assert_eq!(Action::RunSetupTests.call(id).body, Some(json!({})));
        assert_eq!(Action::PauseConnector.call(id).method, "PATCH");
        assert_eq!(
            Action::SetSyncFrequency { minutes: 360 }.call(id).body,
            Some(json!({"sync_frequency": 360}))
        );
        let t = Action::ResyncTables {
            tables: vec![
                TableRef {
                    schema: "public".into(),
                    table: "orders".into(),
                },
                TableRef {
                    schema: "public".into(),
                    table: "users".into(),
                },
            ],
        };
        assert_eq!(
            t.call(id).body,
            Some(json!({"public": ["orders", "users"]}))
        );
        assert_eq!(
            t.call(id).path,
            "/v1/connections/speak_inexpensive/schemas/tables/resync"
        );
    }

    #[test]
    fn risk_and_validation() {
        assert_eq!(Action::RetrySync.risk(), Risk::Low);
        assert_eq!(Action::PauseConnector.risk(), Risk::Medium);
        assert_eq!(Action::ResyncConnector.risk(), Risk::High);
        assert!(Action::SetSyncFrequency { minutes: 7 }.validate().is_err());
        assert!(Action::SetSyncFrequency { minutes: 60 }.validate().is_ok());
        assert!(Action::ResyncTables { tables: vec![] }.validate().is_err());
        assert_eq!(slower_frequency(60), Some(120));
        assert_eq!(slower_frequency(1440), None);
    }
}
