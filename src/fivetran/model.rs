//! The parts of Fivetran's connection model syncwarden reads. Lenient on value shapes: the
//! official spec's examples send `sync_frequency` as a string in places and numbers elsewhere,
//! and unknown fields are ignored.

use serde::{Deserialize, Deserializer, Serialize};

/// The API envelope: `{code, message, data}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    pub data: Option<T>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusNotice {
    #[serde(default, deserialize_with = "string_like")]
    pub code: String,
    #[serde(default, deserialize_with = "string_like")]
    pub message: String,
    #[serde(default, deserialize_with = "string_like")]
    pub details: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConnectionStatus {
    #[serde(default, deserialize_with = "opt_string_like")]
    pub setup_state: Option<String>,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub sync_state: Option<String>,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub update_state: Option<String>,
    #[serde(default)]
    pub is_historical_sync: Option<bool>,
    #[serde(default, deserialize_with = "list_or_empty")]
    pub tasks: Vec<StatusNotice>,
    #[serde(default, deserialize_with = "list_or_empty")]
    pub warnings: Vec<StatusNotice>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SetupTest {
    #[serde(default, deserialize_with = "string_like")]
    pub title: String,
    #[serde(default, deserialize_with = "string_like")]
    pub status: String,
    #[serde(default, deserialize_with = "string_like")]
    pub message: String,
    #[serde(default, deserialize_with = "string_like")]
    pub details: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Connection {
    #[serde(deserialize_with = "string_like")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub service: Option<String>,
    /// The connection's name as people see it (the destination schema).
    #[serde(default, deserialize_with = "opt_string_like")]
    pub schema: Option<String>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default, deserialize_with = "opt_u32_like")]
    pub sync_frequency: Option<u32>,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub schedule_type: Option<String>,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub succeeded_at: Option<String>,
    #[serde(default, deserialize_with = "opt_string_like")]
    pub failed_at: Option<String>,
    #[serde(default)]
    pub status: ConnectionStatus,
    #[serde(default, deserialize_with = "list_or_empty")]
    pub setup_tests: Vec<SetupTest>,
}

impl Connection {
    pub fn failing_setup_tests(&self) -> impl Iterator<Item = &SetupTest> {
        self.setup_tests.iter().filter(|t| {
            matches!(
                t.status.to_ascii_uppercase().as_str(),
                "FAILED" | "JOB_FAILED" | "ERROR"
            )
        })
    }
}

fn value_to_string(v: serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_like<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(value_to_string(serde_json::Value::deserialize(d)?).unwrap_or_default())
}

fn opt_string_like<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_to_string(serde_json::Value::deserialize(d)?))
}

fn opt_u32_like<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn list_or_empty<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixture_details() {
        let body = include_str!("../../tests/data/fivetran/api/connection_details.json");
        let env: Envelope<Connection> = serde_json::from_str(body).unwrap();
        let c = env.data.unwrap();
        assert_eq!(c.id, "speak_inexpensive");
        assert_eq!(c.sync_frequency, Some(1440));
        assert_eq!(c.status.setup_state.as_deref(), Some("broken"));
        assert_eq!(c.status.tasks[0].code, "reconnect");
        assert_eq!(c.failing_setup_tests().count(), 1);
    }

    #[test]
    fn accepts_spec_example_shapes() {
        let c: Connection = serde_json::from_str(
            r#"{"id":"x","sync_frequency":"360","paused":false,"status":{"tasks":null,"warnings":[{"code":1}]}}"#,
        )
        .unwrap();
        assert_eq!(c.sync_frequency, Some(360));
        assert!(c.status.tasks.is_empty());
        assert_eq!(c.status.warnings[0].code, "1");
    }
}
