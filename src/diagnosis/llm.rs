//! LLM summaries through any OpenAI-compatible endpoint (async-openai). The model only writes
//! prose and suggestions: it sees redacted context, its answer is validated, its suggestions
//! must be allowlisted actions with valid parameters, and it never chooses what runs, its risk
//! or who approves. Any failure (timeout, error, bad JSON, empty answer, budget) falls back to
//! the rules template.

use super::classify::{Category, Classification};
use super::redact::Redactor;
use crate::config::LlmSettings;
use crate::fivetran::model::Connection;
use crate::fivetran::webhook::WebhookEvent;
use crate::remediation::action::{Action, TableRef};
use crate::secret::Secret;
use crate::store::Store;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
};
use async_openai::types::chat::{ResponseFormat, ResponseFormatJsonSchema};
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

pub const MAX_ROOT_CAUSE: usize = 600;
const MAX_EVIDENCE: usize = 5;
const MAX_ITEM: usize = 300;

/// What the model must answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmAnswer {
    pub root_cause: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub confidence: f64,
    #[serde(default)]
    pub recommended_actions: Vec<Recommendation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub action: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub rationale: String,
}

/// A validated model contribution to the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub root_cause: String,
    pub evidence: Vec<String>,
    pub suggestions: Vec<(Action, String)>,
    /// Suggestions the guardrails dropped.
    pub dropped: usize,
    pub tokens: u64,
    pub cached: bool,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LlmOutcome {
    Used(Enrichment),
    /// Why the rules template stands.
    Fallback(String),
}

#[derive(Clone)]
pub struct LlmClient {
    client: async_openai::Client<OpenAIConfig>,
    settings: LlmSettings,
}

/// The failure as the model sees it: redacted, and with the classifier's verdict.
pub struct PromptInput<'a> {
    pub event: &'a WebhookEvent,
    pub details: Option<&'a Connection>,
    pub classification: &'a Classification,
    pub redactor: &'a Redactor,
}

const SYSTEM_PROMPT: &str = "You are syncwarden, an assistant that explains failed Fivetran syncs to data engineers. \
Given the redacted failure context and a deterministic classifier's verdict, answer with one JSON object: \
root_cause (at most 600 characters, plain language, what most probably broke and why), \
evidence (short strings quoting the signals that support it), category (one of the listed categories), \
confidence (0 to 1), and recommended_actions: a list of {action, params, rationale} using ONLY the allowed actions \
with the parameters described. Recommend nothing when a person must act (credentials, grants, settings). \
Never invent table names, ids or values that are not in the context. Answer with JSON only.";

fn response_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["root_cause", "evidence", "category", "confidence", "recommended_actions"],
        "properties": {
            "root_cause": {"type": "string", "maxLength": MAX_ROOT_CAUSE},
            "evidence": {"type": "array", "items": {"type": "string"}},
            "category": {"type": "string", "enum": Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "recommended_actions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["action", "params", "rationale"],
                    "properties": {
                        "action": {"type": "string", "enum": ALLOWED_ACTIONS},
                        "params": {"type": "object"},
                        "rationale": {"type": "string"}
                    }
                }
            }
        }
    })
}

/// The actions a model may suggest: every action syncwarden knows.
pub const ALLOWED_ACTIONS: [&str; 8] = crate::remediation::action::ACTION_NAMES;

fn allowed_actions_doc() -> Value {
    json!({
        "retry_sync": {},
        "run_setup_tests": {},
        "reload_schema": {},
        "pause_connector": {},
        "resume_connector": {},
        "set_sync_frequency": {"minutes": "one of 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440"},
        "resync_tables": {"tables": "list of \"schema.table\" strings that appear in the context"},
        "resync_connector": {}
    })
}

/// The redacted context sent as the user message.
pub fn prompt_context(input: &PromptInput<'_>) -> Value {
    let r = |s: &str| input.redactor.redact_strict(s);
    let e = input.event;
    let mut ctx = json!({
        "event": e.event,
        "connector_type": e.connector_type.as_deref().map(r),
        "connector_id": e.connector_id.as_deref().map(r),
        "status": e.status().map(r),
        "reason": e.reason().map(r),
        "task_type": e.task_type().map(r),
        "classifier": {
            "category": input.classification.category,
            "transient": input.classification.transient,
            "action": input.classification.action,
            "confidence": input.classification.confidence,
            "rule": input.classification.evidence.first().map(|ev| ev.rule.clone()),
        },
        "categories": Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "allowed_actions": allowed_actions_doc(),
    });
    if let Some(c) = input.details {
        let notices = |list: &[crate::fivetran::model::StatusNotice]| {
            list.iter()
                .map(|n| json!({"code": r(&n.code), "message": r(&n.message), "details": r(&n.details)}))
                .collect::<Vec<_>>()
        };
        ctx["connection"] = json!({
            "service": c.service.as_deref().map(r),
            "paused": c.paused,
            "sync_frequency": c.sync_frequency,
            "setup_state": c.status.setup_state,
            "sync_state": c.status.sync_state,
            "update_state": c.status.update_state,
            "tasks": notices(&c.status.tasks),
            "warnings": notices(&c.status.warnings),
            "failing_setup_tests": c.failing_setup_tests()
                .map(|t| json!({"title": r(&t.title), "message": r(&t.message)}))
                .collect::<Vec<_>>(),
            "succeeded_at": c.succeeded_at,
            "failed_at": c.failed_at,
        });
    }
    ctx
}

static NORMALISE: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?z?",
            "<ts>",
        ),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "<id>",
        ),
        (r"\b[0-9a-f]{8,}\b", "<id>"),
        (r"\d+", "<n>"),
        (r"\s+", " "),
    ]
    .into_iter()
    .map(|(p, r)| (Regex::new(p).expect("normalisation pattern compiles"), r))
    .collect()
});

/// Failures that differ only in ids, numbers and timestamps share one cached answer.
pub fn failure_signature(
    model: &str,
    connector_type: Option<&str>,
    category: Category,
    reason: &str,
) -> String {
    let mut text = reason.to_lowercase();
    for (re, with) in NORMALISE.iter() {
        text = re.replace_all(&text, *with).into_owned();
    }
    let mut h = Sha256::new();
    for part in [
        model,
        connector_type.unwrap_or(""),
        category.as_str(),
        text.trim(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Parses the model's message content into an answer: JSON, optionally in a code fence.
pub fn parse_answer(content: &str) -> Result<LlmAnswer, String> {
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Err("empty answer".into());
    }
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let answer: LlmAnswer =
        serde_json::from_str(body).map_err(|e| format!("answer is not the expected JSON: {e}"))?;
    if answer.root_cause.trim().is_empty() {
        return Err("answer has an empty root_cause".into());
    }
    Ok(answer)
}

/// Turns one recommendation into an allowlisted action, or explains why not.
pub fn validate_recommendation(rec: &Recommendation, context_text: &str) -> Result<Action, String> {
    let params = rec.params.as_object().cloned().unwrap_or_default();
    let action = match rec.action.as_str() {
        "retry_sync" => Action::RetrySync,
        "run_setup_tests" => Action::RunSetupTests,
        "reload_schema" => Action::ReloadSchema,
        "pause_connector" => Action::PauseConnector,
        "resume_connector" => Action::ResumeConnector,
        "resync_connector" => Action::ResyncConnector,
        "set_sync_frequency" => {
            let minutes = params
                .get("minutes")
                .or_else(|| params.get("sync_frequency"))
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .ok_or("set_sync_frequency needs `minutes`")?;
            Action::SetSyncFrequency {
                minutes: u32::try_from(minutes).map_err(|_| "minutes out of range")?,
            }
        }
        "resync_tables" => {
            let list = params
                .get("tables")
                .and_then(|v| v.as_array())
                .ok_or("resync_tables needs `tables`")?;
            let mut tables = Vec::new();
            for t in list {
                let name = t.as_str().ok_or("table names must be strings")?;
                // Only tables the failure itself names: the model may not invent targets.
                if !context_text.contains(name) {
                    return Err(format!("table {name:?} does not appear in the failure"));
                }
                let (schema, table) = name
                    .split_once('.')
                    .ok_or_else(|| format!("table {name:?} is not schema.table"))?;
                tables.push(TableRef {
                    schema: schema.to_string(),
                    table: table.to_string(),
                });
            }
            Action::ResyncTables { tables }
        }
        other => return Err(format!("{other:?} is not an allowed action")),
    };
    action.validate().map_err(|e| e.to_string())?;
    Ok(action)
}

fn enrichment_from(
    answer: &LlmAnswer,
    context_text: &str,
    redactor: &Redactor,
    tokens: u64,
    cached: bool,
    model: &str,
) -> Enrichment {
    let mut suggestions = Vec::new();
    let mut dropped = 0;
    for rec in &answer.recommended_actions {
        match validate_recommendation(rec, context_text) {
            Ok(a) => suggestions.push((a, clip(&redactor.redact(&rec.rationale), MAX_ITEM))),
            Err(why) => {
                dropped += 1;
                tracing::info!(action = %rec.action, %why, "dropped an LLM suggestion");
            }
        }
    }
    Enrichment {
        root_cause: clip(&redactor.redact(&answer.root_cause), MAX_ROOT_CAUSE),
        evidence: answer
            .evidence
            .iter()
            .take(MAX_EVIDENCE)
            .map(|e| clip(&redactor.redact(e), MAX_ITEM))
            .collect(),
        suggestions,
        dropped,
        tokens,
        cached,
        model: model.to_string(),
    }
}

impl LlmClient {
    pub fn new(settings: LlmSettings, key: Option<&Secret>) -> Self {
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.clone())
            .with_api_key(key.map(|k| k.expose().to_string()).unwrap_or_default());
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .unwrap_or_default();
        Self {
            client: async_openai::Client::build(http, config),
            settings,
        }
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    fn request(&self, context: &Value, format: ResponseFormat) -> CreateChatCompletionRequest {
        CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(
                    SYSTEM_PROMPT,
                )),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(
                    context.to_string(),
                )),
            ],
            temperature: Some(0.0),
            max_completion_tokens: Some(self.settings.max_tokens),
            response_format: Some(format),
            ..Default::default()
        }
    }

    async fn call(&self, context: &Value) -> Result<(LlmAnswer, u64), String> {
        let schema = ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                description: Some("syncwarden failure summary".into()),
                name: "failure_summary".into(),
                schema: response_schema(),
                strict: Some(false),
            },
        };
        let response = match self
            .client
            .chat()
            .create(self.request(context, schema))
            .await
        {
            Ok(r) => r,
            // Endpoints without structured outputs reject json_schema; JSON mode is the
            // widely supported fallback.
            Err(async_openai::error::OpenAIError::ApiError(e))
                if e.api_error
                    .message
                    .to_lowercase()
                    .contains("response_format")
                    || e.api_error.message.to_lowercase().contains("json_schema") =>
            {
                self.client
                    .chat()
                    .create(self.request(context, ResponseFormat::JsonObject))
                    .await
                    .map_err(|e| describe(&e))?
            }
            Err(e) => return Err(describe(&e)),
        };
        let tokens = response
            .usage
            .as_ref()
            .map(|u| u64::from(u.total_tokens))
            .unwrap_or(0);
        let content = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default();
        parse_answer(&content).map(|a| (a, tokens)).map_err(|e| {
            // Tokens were spent even if the answer is unusable.
            format!("{e} ({tokens} tokens)")
        })
    }

    /// Cached, budgeted, time-boxed enrichment. Never fails: the worst case is a fallback.
    pub async fn enrich(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        input: &PromptInput<'_>,
    ) -> LlmOutcome {
        let context = prompt_context(input);
        let context_text = context.to_string();
        let key = failure_signature(
            &self.settings.model,
            input.event.connector_type.as_deref(),
            input.classification.category,
            &input
                .redactor
                .redact_strict(input.event.reason().unwrap_or("")),
        );
        if let Ok(Some(cached)) = store.llm_cached(&key, now, self.settings.cache_ttl) {
            if let Ok(answer) = serde_json::from_value::<LlmAnswer>(cached) {
                return LlmOutcome::Used(enrichment_from(
                    &answer,
                    &context_text,
                    input.redactor,
                    0,
                    true,
                    &self.settings.model,
                ));
            }
        }
        let day = now.format("%Y-%m-%d").to_string();
        let (spent, _) = store.llm_usage_on(&day).unwrap_or((0, 0));
        if spent >= self.settings.daily_token_budget {
            return LlmOutcome::Fallback("daily LLM token budget reached".into());
        }
        let result = tokio::time::timeout(self.settings.timeout, self.call(&context)).await;
        let (answer, tokens) = match result {
            Err(_) => {
                return LlmOutcome::Fallback(format!(
                    "LLM timed out after {}s",
                    self.settings.timeout.as_secs()
                ))
            }
            Ok(Err(e)) => {
                if let Some(t) = e
                    .rsplit_once('(')
                    .and_then(|(_, t)| t.split_whitespace().next())
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    let _ = store.llm_record_usage(&day, t);
                }
                return LlmOutcome::Fallback(format!(
                    "LLM unavailable: {}",
                    clip(&input.redactor.redact(&e), 160)
                ));
            }
            Ok(Ok(v)) => v,
        };
        if let Err(e) = store.llm_record_usage(&day, tokens) {
            tracing::warn!(error = %e, "could not record LLM usage");
        }
        if let Ok(v) = serde_json::to_value(&answer) {
            let _ = store.llm_cache_put(&key, now, &v);
        }
        LlmOutcome::Used(enrichment_from(
            &answer,
            &context_text,
            input.redactor,
            tokens,
            false,
            &self.settings.model,
        ))
    }
}

fn describe(e: &async_openai::error::OpenAIError) -> String {
    match e {
        async_openai::error::OpenAIError::ApiError(api) => {
            format!("API error: {}", api.api_error.message)
        }
        async_openai::error::OpenAIError::Reqwest(r) if r.is_timeout() => "timed out".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_ignores_ids_numbers_and_timestamps() {
        let a = failure_signature("m", Some("postgres"), Category::Network, "Timeout after 30000 ms at 2026-01-01T10:00:00Z on host 10.0.0.5 (id 4107c213907114059a5544ad8fa66c52)");
        let b = failure_signature("m", Some("postgres"), Category::Network, "Timeout after 15000 ms at 2026-02-03T11:22:33Z on host 10.0.0.9 (id 9f07c213907114059a5544ad8fa66c00)");
        assert_eq!(a, b);
        let c = failure_signature(
            "m",
            Some("mysql"),
            Category::Network,
            "Timeout after 30000 ms",
        );
        assert_ne!(a, c);
    }

    #[test]
    fn answers_parse_with_or_without_fences_and_refuse_garbage() {
        let json = r#"{"root_cause":"x","evidence":[],"category":"network","confidence":0.5,"recommended_actions":[]}"#;
        assert!(parse_answer(json).is_ok());
        assert!(parse_answer(&format!("```json\n{json}\n```")).is_ok());
        assert!(parse_answer("").is_err());
        assert!(parse_answer("not json").is_err());
        assert!(parse_answer(r#"{"root_cause":"  "}"#).is_err());
    }

    #[test]
    fn guardrails_keep_only_allowlisted_valid_actions() {
        let ctx = r#"{"reason":"table public.orders has a primary key change"}"#;
        let rec = |action: &str, params: Value| Recommendation {
            action: action.into(),
            params,
            rationale: "r".into(),
        };
        assert_eq!(
            validate_recommendation(&rec("retry_sync", json!({})), ctx),
            Ok(Action::RetrySync)
        );
        assert_eq!(
            validate_recommendation(&rec("set_sync_frequency", json!({"minutes": 360})), ctx),
            Ok(Action::SetSyncFrequency { minutes: 360 })
        );
        assert!(
            validate_recommendation(&rec("set_sync_frequency", json!({"minutes": 7})), ctx)
                .is_err()
        );
        assert!(validate_recommendation(&rec("delete_connector", json!({})), ctx).is_err());
        assert!(validate_recommendation(&rec("drop_table", json!({})), ctx).is_err());
        assert!(validate_recommendation(
            &rec("resync_tables", json!({"tables": ["public.orders"]})),
            ctx
        )
        .is_ok());
        assert!(validate_recommendation(
            &rec("resync_tables", json!({"tables": ["public.users"]})),
            ctx
        )
        .is_err());
    }
}
