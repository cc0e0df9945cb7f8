//! Slash commands. Until the full `/fivetran` grammar lands, every command gets the help text.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SlashCommand {
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub response_url: String,
}

pub fn parse(body: &[u8]) -> Result<SlashCommand, String> {
    serde_urlencoded::from_bytes(body).map_err(|e| format!("not a slash-command form: {e}"))
}

pub fn help_text(command: &str) -> String {
    let cmd = if command.trim().is_empty() {
        "/fivetran"
    } else {
        command.trim()
    };
    format!(
        "*syncwarden* watches your Fivetran connectors and posts failed syncs here with a proposed fix.\n\
         Approve or Reject right on the alert; only configured approvers can decide.\n\
         Subcommands of `{cmd}` (health, status, subscribe, …) are coming; for now: `{cmd} help`."
    )
}

/// The JSON body Slack expects for an ephemeral reply to a command.
pub fn ephemeral_reply(text: &str) -> serde_json::Value {
    serde_json::json!({ "response_type": "ephemeral", "text": text })
}
