//! Interactivity payloads: Slack posts `payload=<json>` form-encoded. We read button clicks
//! from slack-morphism's `block_actions` model, and the reject-reason modal's
//! `view_submission`.

use crate::limits::{
    check_chars, json_depth, MAX_ACTION_ID_CHARS, MAX_ACTION_VALUE_CHARS, MAX_FORM_FIELDS,
    MAX_ID_CHARS, MAX_JSON_DEPTH, MAX_URL_CHARS,
};
use slack_morphism::prelude::*;

pub use crate::limits::MAX_ACTIONS;

/// One button click, reduced to what decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub user_id: String,
    pub action_id: String,
    pub value: String,
    pub channel_id: Option<String>,
    pub message_ts: Option<String>,
    pub response_url: Option<String>,
    /// Lets the app open a modal for this click, within 3 s.
    pub trigger_id: Option<String>,
}

/// A submitted modal, reduced to what syncwarden's modals need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub user_id: String,
    pub callback_id: String,
    pub private_metadata: String,
    /// Plain-text inputs by `(block_id, action_id)`.
    pub values: Vec<((String, String), Option<String>)>,
}

impl Submission {
    pub fn value(&self, block_id: &str, action_id: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|((b, a), _)| b == block_id && a == action_id)
            .and_then(|(_, v)| v.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("body is not a form with a `payload` field")]
    NoPayload,
    #[error("payload is not a Slack interaction: {0}")]
    BadPayload(String),
    #[error("payload exceeds a limit: {0}")]
    TooLarge(String),
}

pub enum Interaction {
    Click(Click),
    ViewSubmission(Submission),
    /// A payload type or action we do not handle (logged and acknowledged).
    Other(String),
}

pub fn parse(body: &[u8]) -> Result<Interaction, InteractionError> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| InteractionError::NoPayload)?;
    if form.len() > MAX_FORM_FIELDS {
        return Err(InteractionError::TooLarge(format!(
            "more than {MAX_FORM_FIELDS} form fields"
        )));
    }
    let mut payloads = form
        .into_iter()
        .filter(|(k, _)| k == "payload")
        .map(|(_, v)| v);
    let payload = payloads.next().ok_or(InteractionError::NoPayload)?;
    if payloads.next().is_some() {
        // Two payloads could be read differently by two readers; Slack sends one.
        return Err(InteractionError::BadPayload(
            "more than one `payload` field".into(),
        ));
    }
    let raw: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|e| InteractionError::BadPayload(short_error(&e)))?;
    if json_depth(&raw) > MAX_JSON_DEPTH {
        return Err(InteractionError::TooLarge(format!(
            "JSON nested deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    let kind = raw
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("")
        .chars()
        .take(64)
        .collect::<String>();
    if kind == "view_submission" {
        return view_submission(&raw).map(Interaction::ViewSubmission);
    }
    if kind != "block_actions" {
        return Ok(Interaction::Other(format!("payload type {kind:?}")));
    }
    if let Some(n) = raw.get("actions").and_then(|a| a.as_array()).map(Vec::len) {
        if n > MAX_ACTIONS {
            return Err(InteractionError::TooLarge(format!(
                "{n} actions; at most {MAX_ACTIONS}"
            )));
        }
    }
    match parse_click(&raw)? {
        Interaction::Click(c) => {
            check_limits(&c)?;
            Ok(Interaction::Click(c))
        }
        other => Ok(other),
    }
}

/// serde's messages can quote the input (an unknown variant, say): keep them short, since they
/// are logged and answered.
fn short_error(e: &serde_json::Error) -> String {
    crate::slack::blocks::clip(&e.to_string(), 200)
}

/// Every field a decision reads, within Slack's own limits.
fn check_limits(c: &Click) -> Result<(), InteractionError> {
    let fields = [
        ("user.id", Some(c.user_id.as_str()), MAX_ID_CHARS),
        (
            "actions[0].action_id",
            Some(&c.action_id),
            MAX_ACTION_ID_CHARS,
        ),
        ("actions[0].value", Some(&c.value), MAX_ACTION_VALUE_CHARS),
        ("channel", c.channel_id.as_deref(), MAX_ID_CHARS),
        ("message_ts", c.message_ts.as_deref(), MAX_ID_CHARS),
        ("response_url", c.response_url.as_deref(), MAX_URL_CHARS),
        ("trigger_id", c.trigger_id.as_deref(), MAX_ACTION_ID_CHARS),
    ];
    for (name, value, max) in fields {
        if let Some(v) = value {
            check_chars(name, v, max).map_err(InteractionError::TooLarge)?;
        }
    }
    if c.user_id.is_empty() || c.action_id.is_empty() {
        return Err(InteractionError::BadPayload(
            "a click needs a user id and an action_id".into(),
        ));
    }
    Ok(())
}

fn parse_click(raw: &serde_json::Value) -> Result<Interaction, InteractionError> {
    let kind = "block_actions".to_string();
    let event: SlackInteractionEvent = match serde_json::from_value(raw.clone()) {
        Ok(e) => e,
        // slack-morphism requires fields (team, api_app_id, trigger_id) that a click does not
        // need; accept a payload that still has everything a decision needs.
        Err(e) => {
            return lenient_click(raw)
                .map(Interaction::Click)
                .ok_or_else(|| InteractionError::BadPayload(short_error(&e)))
        }
    };
    let SlackInteractionEvent::BlockActions(ev) = event else {
        return Ok(Interaction::Other(kind));
    };
    let user_id = ev
        .user
        .as_ref()
        .map(|u| u.id.to_string())
        .ok_or_else(|| InteractionError::BadPayload("no user".into()))?;
    let actions = ev.actions.unwrap_or_default();
    // A button click carries exactly one action.
    let Some(action) = actions.into_iter().next() else {
        return Ok(Interaction::Other("block_actions without actions".into()));
    };
    let (channel_id, message_ts) = match &ev.container {
        SlackInteractionActionContainer::Message(m) => (
            m.channel_id.as_ref().map(|c| c.to_string()),
            Some(m.message_ts.to_string()),
        ),
        SlackInteractionActionContainer::MessageAttachment(m) => (
            m.channel_id.as_ref().map(|c| c.to_string()),
            Some(m.message_ts.to_string()),
        ),
        SlackInteractionActionContainer::View(_) => (None, None),
    };
    let channel_id = channel_id.or_else(|| ev.channel.as_ref().map(|c| c.id.to_string()));
    Ok(Interaction::Click(Click {
        user_id,
        action_id: action.action_id.to_string(),
        value: action.value.unwrap_or_default(),
        channel_id,
        message_ts,
        response_url: ev.response_url.map(|u| u.0.to_string()),
        trigger_id: Some(ev.trigger_id.to_string()),
    }))
}

/// Modal values are capped by the input's own `max_length`; this bounds what a forged
/// payload could make us keep.
const MAX_SUBMITTED_VALUE: usize = 3000;

fn view_submission(raw: &serde_json::Value) -> Result<Submission, InteractionError> {
    let text = |p: &str| raw.pointer(p).and_then(|v| v.as_str()).map(str::to_string);
    let user_id = text("/user/id").ok_or_else(|| InteractionError::BadPayload("no user".into()))?;
    let callback_id = text("/view/callback_id").unwrap_or_default();
    let private_metadata = text("/view/private_metadata").unwrap_or_default();
    // Slack's own limits for these fields.
    for (name, value, max) in [
        ("user.id", user_id.as_str(), MAX_ID_CHARS),
        (
            "view.callback_id",
            callback_id.as_str(),
            MAX_ACTION_ID_CHARS,
        ),
        (
            "view.private_metadata",
            private_metadata.as_str(),
            MAX_SUBMITTED_VALUE,
        ),
    ] {
        check_chars(name, value, max).map_err(InteractionError::TooLarge)?;
    }
    if user_id.is_empty() {
        return Err(InteractionError::BadPayload(
            "a submission needs a user id".into(),
        ));
    }
    let mut values = Vec::new();
    if let Some(blocks) = raw
        .pointer("/view/state/values")
        .and_then(|v| v.as_object())
    {
        for (block_id, actions) in blocks.iter().take(MAX_ACTIONS) {
            for (action_id, state) in actions.as_object().into_iter().flatten().take(MAX_ACTIONS) {
                let value = state
                    .get("value")
                    .and_then(|v| v.as_str())
                    .map(|v| v.chars().take(MAX_SUBMITTED_VALUE).collect());
                values.push(((block_id.clone(), action_id.clone()), value));
            }
        }
    }
    Ok(Submission {
        user_id,
        callback_id,
        private_metadata,
        values,
    })
}

fn lenient_click(raw: &serde_json::Value) -> Option<Click> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let user_id = text(raw.pointer("/user/id")?)?;
    let actions = raw.get("actions")?.as_array()?;
    if actions.len() > MAX_ACTIONS {
        return None;
    }
    let action = actions.first()?;
    Some(Click {
        user_id,
        action_id: text(action.get("action_id")?)?,
        value: action.get("value").and_then(text).unwrap_or_default(),
        channel_id: raw
            .pointer("/container/channel_id")
            .or_else(|| raw.pointer("/channel/id"))
            .and_then(text),
        message_ts: raw
            .pointer("/container/message_ts")
            .or_else(|| raw.pointer("/message/ts"))
            .and_then(text),
        response_url: raw.get("response_url").and_then(text),
        trigger_id: raw.get("trigger_id").and_then(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(json: &str) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", json)])
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn parses_the_fixture_click() {
        let json = include_str!("../../tests/data/slack/block_actions.json");
        let Interaction::Click(c) = parse(&form(json)).unwrap() else {
            panic!("expected a click")
        };
        assert_eq!(c.user_id, "U0APPROVER");
        assert_eq!(c.action_id, "approve");
        assert_eq!(c.value, "PROPOSAL_ID");
        assert_eq!(c.channel_id.as_deref(), Some("C0ALERTS01"));
        assert_eq!(c.message_ts.as_deref(), Some("1732500000.000100"));
        assert_eq!(
            c.trigger_id.as_deref(),
            Some("8210000000001.7000000000001.abcdef0123456789abcdef0123456789")
        );
    }

    #[test]
    fn parses_a_view_submission() {
        // Shaped like Slack's view_submission reference payload.
        let json = serde_json::json!({
            "type": "view_submission",
            "team": {"id": "T0TEAM0001", "domain": "acme-data"},
            "user": {"id": "U0APPROVER", "username": "jane", "name": "jane", "team_id": "T0TEAM0001"},
            "api_app_id": "A0APPID001",
            "token": "ignored",
            "trigger_id": "12466734323.1395872398",
            "view": {
                "id": "VNHU13V36", "team_id": "T0TEAM0001", "type": "modal",
                "blocks": [], "private_metadata": "{\"value\":\"p_1\"}",
                "callback_id": "reject_reason",
                "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "wrong connector"}}}},
                "hash": "156663117.cd33ad1f",
                "title": {"type": "plain_text", "text": "Reject fix"},
                "clear_on_close": false, "notify_on_close": false,
                "root_view_id": "VNHU13V36", "app_id": "A0APPID001", "bot_id": "B0BOTID001"
            },
            "response_urls": [],
            "is_enterprise_install": false,
            "enterprise": null
        });
        let Interaction::ViewSubmission(s) = parse(&form(&json.to_string())).unwrap() else {
            panic!("expected a submission")
        };
        assert_eq!(s.user_id, "U0APPROVER");
        assert_eq!(s.callback_id, "reject_reason");
        assert_eq!(s.private_metadata, r#"{"value":"p_1"}"#);
        assert_eq!(s.value("reason", "reason"), Some("wrong connector"));
        // An empty optional input arrives with a null value.
        let empty = json
            .to_string()
            .replace(r#""value": "wrong connector""#, r#""value": null"#);
        let empty = empty.replace(r#""value":"wrong connector""#, r#""value":null"#);
        let Interaction::ViewSubmission(s) = parse(&form(&empty)).unwrap() else {
            panic!("expected a submission")
        };
        assert_eq!(s.value("reason", "reason"), None);
    }

    #[test]
    fn accepts_a_minimal_click() {
        let json = r#"{"type":"block_actions","user":{"id":"U1"},"container":{"type":"message","message_ts":"1.2","channel_id":"C1"},"actions":[{"type":"button","action_id":"approve","value":"p_1"}]}"#;
        let Interaction::Click(c) = parse(&form(json)).unwrap() else {
            panic!("expected a click")
        };
        assert_eq!((c.user_id.as_str(), c.value.as_str()), ("U1", "p_1"));
        assert_eq!(c.message_ts.as_deref(), Some("1.2"));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(
            parse(b"nothing=here").err(),
            Some(InteractionError::NoPayload)
        );
        assert!(matches!(
            parse(&form("{not json")),
            Err(InteractionError::BadPayload(_))
        ));
        assert!(matches!(
            parse(&form(r#"{"type":"block_actions"}"#)),
            Err(InteractionError::BadPayload(_))
        ));
        assert!(matches!(
            parse(&form(r#"{"type":"view_closed"}"#)),
            Ok(Interaction::Other(_))
        ));
    }
}
