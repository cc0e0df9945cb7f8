//! Configuration: a TOML file, overridden key by key from the environment
//! (`SYNCWARDEN_<SECTION>__<KEY>`), validated up front. Every error names the key at fault.
//! Secrets never live in the file: they come from their own environment variables.

use crate::duration::parse_duration;
use crate::remediation::action::ACTION_NAMES;
use crate::remediation::policy::{AutoPolicy, Mode, PolicySettings, Rule, RuleScope};
use crate::secret::Secret;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const ENV_PREFIX: &str = "SYNCWARDEN_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

fn key_error(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub fivetran: FivetranConfig,
    pub slack: SlackConfig,
    pub policy: PolicyConfig,
    pub alerts: AlertsConfig,
    pub audit: AuditConfig,
    /// Optional: an OpenAI-compatible endpoint for richer summaries.
    pub llm: Option<LlmConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// API base including the version path, e.g. `https://api.openai.com/v1`,
    /// `http://localhost:11434/v1` (Ollama), `http://vllm:8000/v1`.
    pub base_url: String,
    pub model: String,
    /// Environment variable holding the API key; `""` for endpoints without keys.
    #[serde(default = "default_llm_key_env")]
    pub api_key_env: String,
    #[serde(default = "default_llm_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_llm_max_tokens")]
    pub max_tokens: u32,
    /// Tokens per UTC day; past it, summaries fall back to the rules template.
    #[serde(default = "default_llm_budget")]
    pub daily_token_budget: u64,
    /// How long an answer is reused for the same failure signature.
    #[serde(default = "default_llm_cache_ttl")]
    pub cache_ttl: String,
}

fn default_llm_key_env() -> String {
    "OPENAI_API_KEY".into()
}
fn default_llm_timeout() -> u64 {
    20
}
fn default_llm_max_tokens() -> u32 {
    700
}
fn default_llm_budget() -> u64 {
    200_000
}
fn default_llm_cache_ttl() -> String {
    "24h".into()
}

/// Checked LLM settings.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub base_url: String,
    pub model: String,
    pub api_key_env: String,
    pub timeout: Duration,
    pub max_tokens: u32,
    pub daily_token_budget: u64,
    pub cache_ttl: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Directory of the embedded sled store.
    pub data_dir: PathBuf,
    /// The URL Slack and Fivetran reach this service at (used in the app manifest and docs).
    pub public_url: Option<String>,
    /// Memory for the store's page cache, in MiB. Records are written far more often than
    /// read back, so a small cache keeps memory flat as the store grows.
    pub cache_mb: u64,
    /// Background workers running jobs (posts, calls, diagnoses) side by side; jobs about the
    /// same message, connector or proposal still run one at a time, in order.
    pub workers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FivetranConfig {
    pub api_base: String,
    /// Where the "Open in Fivetran" button points: `{dashboard_url}/{connection_id}/status`.
    pub dashboard_url: String,
    pub request_timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub api_base: String,
    pub default_channel: String,
    pub request_timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Slack user IDs allowed to approve or reject.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub approvers: Vec<String>,
    /// Slack user group IDs (`S…`) whose members may approve or reject.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub approver_groups: Vec<String>,
    /// How often user group members are re-read from Slack.
    pub approver_groups_refresh: String,
    /// How long a proposal stays actionable.
    pub proposal_ttl: String,
    /// `monitor`, `approve` or `auto` for connectors no rule names.
    pub default_mode: Mode,
    /// Actions that need two distinct approvers.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub two_person_for: Vec<String>,
    pub auto: AutoConfig,
    /// `[[policy.connector]]`: per connector or per group mode and approvers.
    pub connector: Vec<ConnectorRuleConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AutoConfig {
    pub max_per_connector_per_day: u32,
    pub breaker_failures: u32,
}

impl Default for AutoConfig {
    fn default() -> Self {
        let d = AutoPolicy::default();
        Self {
            max_per_connector_per_day: d.max_per_connector_per_day,
            breaker_failures: d.breaker_failures,
        }
    }
}

/// One `[[policy.connector]]` table: exactly one of `id` (a connection id) or `group` (a
/// destination group id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectorRuleConfig {
    pub id: Option<String>,
    pub group: Option<String>,
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "list_or_comma_string")]
    pub approvers: Vec<String>,
    #[serde(default, deserialize_with = "list_or_comma_string")]
    pub approver_groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Channel ID where the head hash and record count are posted once a day.
    pub checkpoint_channel: Option<String>,
    /// UTC time of day for the checkpoint post, `HH:MM`.
    pub checkpoint_time: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_channel: None,
            checkpoint_time: "00:00".into(),
        }
    }
}

/// Checked `[audit]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditSettings {
    /// Daily checkpoint posts, when configured: the channel and the UTC time of day.
    pub checkpoint: Option<(String, chrono::NaiveTime)>,
}

/// Alert noise control: grace for transient failures, storm grouping.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// How long a transient failure waits for Fivetran's own retry before alerting; "0s" alerts
    /// at once.
    pub transient_grace: String,
    /// Connectors of one destination group failing with the same category that make a storm.
    pub storm_threshold: usize,
    /// How close together those failures must be.
    pub storm_window: String,
    /// How long a non-transient alert in a destination group waits to see whether it is part
    /// of a storm; "0s" alerts at once.
    pub storm_debounce: String,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            transient_grace: "10m".into(),
            storm_threshold: 5,
            storm_window: "5m".into(),
            storm_debounce: "15s".into(),
        }
    }
}

/// Checked alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub transient_grace: Duration,
    pub storm_threshold: usize,
    pub storm_window: Duration,
    pub storm_debounce: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertsConfig::default()
            .check()
            .expect("the default alert settings are valid")
    }
}

impl AlertsConfig {
    fn check(&self) -> Result<AlertSettings, ConfigError> {
        let duration = |key: &str, value: &str| {
            parse_duration(value).map_err(|message| key_error(key, message))
        };
        let transient_grace = duration("alerts.transient_grace", &self.transient_grace)?;
        let storm_window = duration("alerts.storm_window", &self.storm_window)?;
        let storm_debounce = duration("alerts.storm_debounce", &self.storm_debounce)?;
        if transient_grace > Duration::from_secs(24 * 3600) {
            return Err(key_error("alerts.transient_grace", "must be at most 1d"));
        }
        if storm_debounce > Duration::from_secs(600) {
            return Err(key_error("alerts.storm_debounce", "must be at most 10m"));
        }
        if storm_window.is_zero() || storm_window > Duration::from_secs(24 * 3600) {
            return Err(key_error(
                "alerts.storm_window",
                "must be between 1s and 1d",
            ));
        }
        if self.storm_threshold < 2 || self.storm_threshold > 1000 {
            return Err(key_error(
                "alerts.storm_threshold",
                "must be between 2 and 1000 connectors",
            ));
        }
        Ok(AlertSettings {
            transient_grace,
            storm_threshold: self.storm_threshold,
            storm_window,
            storm_debounce,
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./syncwarden-data"),
            public_url: None,
            cache_mb: crate::store::DEFAULT_CACHE_MB,
            workers: DEFAULT_WORKERS,
        }
    }
}

/// `server.workers` when the config does not say.
pub const DEFAULT_WORKERS: usize = 4;

impl Default for FivetranConfig {
    fn default() -> Self {
        Self {
            api_base: "https://api.fivetran.com".into(),
            dashboard_url: "https://fivetran.com/dashboard/connections".into(),
            request_timeout: "15s".into(),
        }
    }
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            api_base: "https://slack.com/api".into(),
            default_channel: String::new(),
            request_timeout: "10s".into(),
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let d = PolicySettings::default();
        Self {
            approvers: Vec::new(),
            approver_groups: Vec::new(),
            approver_groups_refresh: "5m".into(),
            proposal_ttl: "4h".into(),
            default_mode: d.default_mode,
            two_person_for: d.two_person_for,
            auto: AutoConfig::default(),
            connector: Vec::new(),
        }
    }
}

fn list_or_comma_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrString::deserialize(d)? {
        ListOrString::List(list) => list,
        ListOrString::Text(text) => text
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

/// The parsed, checked values the service runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The store's page cache, in MiB (`server.cache_mb`).
    pub cache_mb: u64,
    pub workers: usize,
    pub public_url: Option<String>,
    pub fivetran_api_base: String,
    pub fivetran_dashboard_url: String,
    pub fivetran_timeout: Duration,
    pub slack_api_base: String,
    pub slack_default_channel: String,
    pub slack_timeout: Duration,
    pub approvers: Vec<String>,
    pub proposal_ttl: Duration,
    pub alerts: AlertSettings,
    /// Modes, approver groups and rules, the two-person rule, the auto budget.
    pub policy: PolicySettings,
    pub audit: AuditSettings,
    pub llm: Option<LlmSettings>,
}

/// Secrets, from the environment only.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub fivetran_api_key: Secret,
    pub fivetran_api_secret: Secret,
    pub fivetran_webhook_secret: Secret,
    pub slack_bot_token: Secret,
    pub slack_signing_secret: Secret,
    /// The LLM endpoint's key, when `[llm]` is configured with a key variable.
    pub llm_api_key: Option<Secret>,
}

pub const SECRET_VARS: [&str; 5] = [
    "FIVETRAN_API_KEY",
    "FIVETRAN_API_SECRET",
    "FIVETRAN_WEBHOOK_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
];

impl Secrets {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| -> Result<Secret, ConfigError> {
            match lookup(var) {
                Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
                _ => Err(ConfigError::Env {
                    var: var.to_string(),
                    message: "is not set; secrets come only from the environment".into(),
                }),
            }
        };
        Ok(Self {
            fivetran_api_key: get("FIVETRAN_API_KEY")?,
            fivetran_api_secret: get("FIVETRAN_API_SECRET")?,
            fivetran_webhook_secret: get("FIVETRAN_WEBHOOK_SECRET")?,
            slack_bot_token: get("SLACK_BOT_TOKEN")?,
            slack_signing_secret: get("SLACK_SIGNING_SECRET")?,
            llm_api_key: None,
        })
    }

    /// Reads the LLM key from the variable `[llm].api_key_env` names.
    pub fn with_llm_key(
        mut self,
        llm: Option<&LlmSettings>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        self.llm_api_key = match llm {
            Some(l) if !l.api_key_env.is_empty() => match lookup(&l.api_key_env) {
                Some(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_string())),
                _ => {
                    return Err(ConfigError::Env {
                        var: l.api_key_env.clone(),
                        message: "is not set but [llm] is configured (set llm.api_key_env = \"\" for endpoints without keys)".into(),
                    })
                }
            },
            _ => None,
        };
        Ok(self)
    }

    /// Every secret value, for redaction.
    pub fn values(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.all().iter().map(|s| s.expose()).collect();
        if let Some(k) = &self.llm_api_key {
            v.push(k.expose());
        }
        v
    }

    pub fn all(&self) -> [&Secret; 5] {
        [
            &self.fivetran_api_key,
            &self.fivetran_api_secret,
            &self.fivetran_webhook_secret,
            &self.slack_bot_token,
            &self.slack_signing_secret,
        ]
    }
}

impl Config {
    /// Reads the file (a missing file is an error only when `required`), applies
    /// `SYNCWARDEN_*` overrides from the process environment, and checks every key.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::from_toml_and_env(&text, path, &env)
    }

    pub fn from_toml_and_env(
        text: &str,
        path: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        apply_env_overrides(&mut table, env)?;
        let merged = toml::to_string(&table).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let de = toml::Deserializer::new(&merged);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            // toml's message carries a snippet of the regenerated document; the first line is
            // the useful part.
            let message = inner
                .message()
                .lines()
                .next()
                .unwrap_or("invalid")
                .to_string();
            key_error(if key == "." { "(top level)" } else { &key }, message)
        })
    }

    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let listen: SocketAddr = self.server.listen.parse().map_err(|_| {
            key_error(
                "server.listen",
                format!(
                    "{:?} is not an address such as \"0.0.0.0:8080\"",
                    self.server.listen
                ),
            )
        })?;
        if self.server.data_dir.as_os_str().is_empty() {
            return Err(key_error("server.data_dir", "must not be empty"));
        }
        if let Some(url) = &self.server.public_url {
            check_http_url("server.public_url", url)?;
        }
        if !(1..=65_536).contains(&self.server.cache_mb) {
            return Err(key_error(
                "server.cache_mb",
                "must be between 1 and 65536 (MiB)",
            ));
        }
        if !(1..=64).contains(&self.server.workers) {
            return Err(key_error("server.workers", "must be between 1 and 64"));
        }
        check_http_url("fivetran.api_base", &self.fivetran.api_base)?;
        check_http_url("fivetran.dashboard_url", &self.fivetran.dashboard_url)?;
        check_http_url("slack.api_base", &self.slack.api_base)?;
        let channel = self.slack.default_channel.trim();
        if channel.is_empty() {
            return Err(key_error(
                "slack.default_channel",
                "is required: the Slack channel ID alerts go to, e.g. \"C0123ALERTS\"",
            ));
        }
        if self.policy.approvers.is_empty() && self.policy.approver_groups.is_empty() {
            return Err(key_error(
                "policy.approvers",
                "is required (or policy.approver_groups): the Slack user IDs allowed to approve fixes, e.g. [\"U0123ABCD\"]",
            ));
        }
        check_user_ids("policy.approvers", &self.policy.approvers)?;
        check_group_ids("policy.approver_groups", &self.policy.approver_groups)?;
        let duration = |key: &str, value: &str| {
            parse_duration(value).map_err(|message| key_error(key, message))
        };
        let proposal_ttl = duration("policy.proposal_ttl", &self.policy.proposal_ttl)?;
        if proposal_ttl.is_zero() {
            return Err(key_error("policy.proposal_ttl", "must be longer than 0s"));
        }
        let policy = self.policy_settings()?;
        let audit = self.audit_settings()?;
        let fivetran_timeout =
            duration("fivetran.request_timeout", &self.fivetran.request_timeout)?;
        let slack_timeout = duration("slack.request_timeout", &self.slack.request_timeout)?;
        for (key, d) in [
            ("fivetran.request_timeout", fivetran_timeout),
            ("slack.request_timeout", slack_timeout),
        ] {
            if d.is_zero() || d > Duration::from_secs(120) {
                return Err(key_error(key, "must be between 1s and 2m"));
            }
        }
        Ok(Settings {
            listen,
            data_dir: self.server.data_dir.clone(),
            cache_mb: self.server.cache_mb,
            workers: self.server.workers,
            public_url: self
                .server
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            fivetran_api_base: self.fivetran.api_base.trim_end_matches('/').to_string(),
            fivetran_dashboard_url: self
                .fivetran
                .dashboard_url
                .trim_end_matches('/')
                .to_string(),
            fivetran_timeout,
            slack_api_base: self.slack.api_base.trim_end_matches('/').to_string(),
            slack_default_channel: channel.to_string(),
            slack_timeout,
            approvers: self.policy.approvers.clone(),
            proposal_ttl,
            alerts: self.alerts.check()?,
            policy,
            audit,
            llm: self.llm.as_ref().map(check_llm).transpose()?,
        })
    }

    fn policy_settings(&self) -> Result<PolicySettings, ConfigError> {
        let p = &self.policy;
        let refresh = parse_duration(&p.approver_groups_refresh)
            .map_err(|m| key_error("policy.approver_groups_refresh", m))?;
        if refresh < Duration::from_secs(30) || refresh > Duration::from_secs(24 * 3600) {
            return Err(key_error(
                "policy.approver_groups_refresh",
                "must be between 30s and 1d",
            ));
        }
        for name in &p.two_person_for {
            if !ACTION_NAMES.contains(&name.as_str()) {
                return Err(key_error(
                    "policy.two_person_for",
                    format!(
                        "{name:?} is not an action; use any of: {}",
                        ACTION_NAMES.join(", ")
                    ),
                ));
            }
        }
        if p.auto.max_per_connector_per_day > 1000 {
            return Err(key_error(
                "policy.auto.max_per_connector_per_day",
                "must be at most 1000",
            ));
        }
        if p.auto.breaker_failures == 0 || p.auto.breaker_failures > 100 {
            return Err(key_error(
                "policy.auto.breaker_failures",
                "must be between 1 and 100",
            ));
        }
        let mut rules: Vec<Rule> = Vec::new();
        for (i, r) in p.connector.iter().enumerate() {
            let key = |field: &str| format!("policy.connector[{i}].{field}");
            let scope = match (&r.id, &r.group) {
                (Some(id), None) => RuleScope::Connector(id.trim().to_string()),
                (None, Some(g)) => RuleScope::Group(g.trim().to_string()),
                _ => {
                    return Err(key_error(
                        &format!("policy.connector[{i}]"),
                        "needs exactly one of `id` (a connection id) or `group` (a group id)",
                    ))
                }
            };
            let (RuleScope::Connector(v) | RuleScope::Group(v)) = &scope;
            let field = if matches!(scope, RuleScope::Connector(_)) {
                "id"
            } else {
                "group"
            };
            if !crate::fivetran::api::is_valid_connection_id(v) {
                return Err(key_error(
                    &key(field),
                    format!("{v:?} is not a Fivetran id (letters, digits, _ and -)"),
                ));
            }
            if rules.iter().any(|x| x.scope == scope) {
                return Err(key_error(
                    &key(field),
                    format!("{v:?} already has a [[policy.connector]] rule; merge them"),
                ));
            }
            check_user_ids(&key("approvers"), &r.approvers)?;
            check_group_ids(&key("approver_groups"), &r.approver_groups)?;
            rules.push(Rule {
                scope,
                mode: r.mode,
                approvers: r.approvers.iter().cloned().collect(),
                approver_groups: r.approver_groups.iter().cloned().collect(),
            });
        }
        Ok(PolicySettings {
            approver_groups: p.approver_groups.clone(),
            approver_groups_refresh: refresh,
            default_mode: p.default_mode,
            two_person_for: p.two_person_for.clone(),
            auto: AutoPolicy {
                max_per_connector_per_day: p.auto.max_per_connector_per_day,
                breaker_failures: p.auto.breaker_failures,
            },
            rules,
        })
    }

    fn audit_settings(&self) -> Result<AuditSettings, ConfigError> {
        let time = chrono::NaiveTime::parse_from_str(self.audit.checkpoint_time.trim(), "%H:%M")
            .map_err(|_| {
                key_error(
                    "audit.checkpoint_time",
                    format!(
                        "{:?} is not a UTC time of day such as \"00:00\" or \"09:30\"",
                        self.audit.checkpoint_time
                    ),
                )
            })?;
        let checkpoint = match self.audit.checkpoint_channel.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) if crate::slack::command::parse_channel(c).as_deref() == Some(c) => {
                Some((c.to_string(), time))
            }
            Some(c) => {
                return Err(key_error(
                    "audit.checkpoint_channel",
                    format!("{c:?} is not a Slack channel ID (like \"C0123AUDIT\")"),
                ))
            }
        };
        Ok(AuditSettings { checkpoint })
    }
}

fn check_user_ids(key: &str, users: &[String]) -> Result<(), ConfigError> {
    for user in users {
        if !is_slack_user_id(user) {
            return Err(key_error(
                key,
                format!("{user:?} is not a Slack user ID (like \"U0123ABCD\"); use IDs, not names"),
            ));
        }
    }
    Ok(())
}

fn check_group_ids(key: &str, groups: &[String]) -> Result<(), ConfigError> {
    for g in groups {
        if !is_slack_usergroup_id(g) {
            return Err(key_error(
                key,
                format!("{g:?} is not a Slack user group ID (like \"S0123ABCD\"; find it in the group's profile or with usergroups.list)"),
            ));
        }
    }
    Ok(())
}

/// Slack user group ("subteam") ids start with `S`.
pub fn is_slack_usergroup_id(s: &str) -> bool {
    s.len() >= 3
        && s.len() <= 32
        && s.starts_with('S')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn check_llm(l: &LlmConfig) -> Result<LlmSettings, ConfigError> {
    check_http_url("llm.base_url", &l.base_url)?;
    if l.model.trim().is_empty() {
        return Err(key_error("llm.model", "is required when [llm] is present"));
    }
    if l.timeout_secs == 0 || l.timeout_secs > 300 {
        return Err(key_error("llm.timeout_secs", "must be between 1 and 300"));
    }
    if l.max_tokens < 50 || l.max_tokens > 16_000 {
        return Err(key_error("llm.max_tokens", "must be between 50 and 16000"));
    }
    let cache_ttl = parse_duration(&l.cache_ttl).map_err(|m| key_error("llm.cache_ttl", m))?;
    Ok(LlmSettings {
        base_url: l.base_url.trim_end_matches('/').to_string(),
        model: l.model.trim().to_string(),
        api_key_env: l.api_key_env.trim().to_string(),
        timeout: Duration::from_secs(l.timeout_secs),
        max_tokens: l.max_tokens,
        daily_token_budget: l.daily_token_budget,
        cache_ttl,
    })
}

pub fn is_slack_user_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('U') | Some('W'))
        && s.len() >= 3
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn check_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(()),
        _ => Err(key_error(key, format!("{value:?} is not an http(s) URL"))),
    }
}

/// `SYNCWARDEN_SLACK__DEFAULT_CHANNEL=C123` sets `slack.default_channel`. A value that parses as
/// a TOML value (number, bool, array) is taken as that; anything else is a string.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let mut overrides: BTreeMap<Vec<String>, toml::Value> = BTreeMap::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // SECTION__KEY, or SECTION__SUBSECTION__KEY for nested tables (policy.auto.*).
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.len() < 2 {
            return Err(ConfigError::Env {
                var: name.clone(),
                message: "must look like SYNCWARDEN_<SECTION>__<KEY>, e.g. SYNCWARDEN_SLACK__DEFAULT_CHANNEL".into(),
            });
        }
        if path.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Env {
                var: name.clone(),
                message: "must look like SYNCWARDEN_<SECTION>__<KEY>".into(),
            });
        }
        overrides.insert(path, parse_env_value(raw));
    }
    for (path, value) in overrides {
        let Some((key, tables)) = path.split_last() else {
            continue;
        };
        let mut current = &mut *table;
        for (depth, part) in tables.iter().enumerate() {
            let entry = current
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => current = t,
                _ => return Err(key_error(&tables[..=depth].join("."), "is not a section")),
            }
        }
        current.insert(key.clone(), value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    #[derive(Deserialize)]
    struct Wrapper {
        v: toml::Value,
    }
    match toml::from_str::<Wrapper>(&format!("v = {raw}")) {
        Ok(w) if !matches!(w.v, toml::Value::Table(_)) => w.v,
        _ => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_toml_and_env(text, Path::new("test.toml"), &env)
    }

    const MINIMAL: &str = r#"
[slack]
default_channel = "C0ALERTS01"
[policy]
approvers = ["U0APPROVER"]
"#;

    #[test]
    fn minimal_file_gets_defaults() {
        let s = load(MINIMAL, &[]).unwrap().settings().unwrap();
        assert_eq!(s.fivetran_api_base, "https://api.fivetran.com");
        assert_eq!(s.slack_api_base, "https://slack.com/api");
        assert_eq!(s.proposal_ttl, Duration::from_secs(4 * 3600));
        assert_eq!(s.listen.port(), 8080);
        assert_eq!(s.cache_mb, crate::store::DEFAULT_CACHE_MB);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load("[server]\nlisten_addr = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        let err = load("[slak]\n", &[]).unwrap_err().to_string();
        assert!(err.contains("slak"), "{err}");
    }

    #[test]
    fn env_overrides_file() {
        let cfg = load(
            MINIMAL,
            &[
                ("SYNCWARDEN_SLACK__DEFAULT_CHANNEL", "C0OTHER"),
                ("SYNCWARDEN_POLICY__APPROVERS", "U1AAA, U2BBB"),
                ("SYNCWARDEN_SERVER__LISTEN", "0.0.0.0:9000"),
                ("SYNCWARDEN_FIVETRAN__API_BASE", "http://127.0.0.1:1234"),
            ],
        )
        .unwrap();
        let s = cfg.settings().unwrap();
        assert_eq!(s.slack_default_channel, "C0OTHER");
        assert_eq!(s.approvers, vec!["U1AAA", "U2BBB"]);
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.fivetran_api_base, "http://127.0.0.1:1234");
    }

    #[test]
    fn env_typo_is_an_error() {
        let err = load(MINIMAL, &[("SYNCWARDEN_SLACK__DEFAULT_CHANEL", "C1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("default_chanel"), "{err}");
        let err = load(MINIMAL, &[("SYNCWARDEN_SLACK", "C1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SYNCWARDEN_SLACK"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let required = [
            ("SYNCWARDEN_SLACK__DEFAULT_CHANNEL", "C0ALERTS01"),
            ("SYNCWARDEN_POLICY__APPROVERS", "U0APPROVER"),
        ];
        let cases = [
            ("[server]\nlisten = \"nope\"\n", "server.listen"),
            ("[server]\ncache_mb = 0\n", "server.cache_mb"),
            ("[fivetran]\napi_base = \"ftp://x\"\n", "fivetran.api_base"),
            (
                "[slack]\nrequest_timeout = \"0s\"\n",
                "slack.request_timeout",
            ),
        ];
        for (text, key) in cases {
            let err = load(text, &required)
                .unwrap()
                .settings()
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = load("[policy]\nproposal_ttl = \"4 hours\"\n", &required)
            .unwrap()
            .settings()
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.proposal_ttl"), "{err}");
        let err = load("[policy]\napprovers = [\"jane\"]\n", &[required[0]])
            .unwrap()
            .settings()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("policy.approvers") && err.contains("jane"),
            "{err}"
        );
        let err = load("[policy]\nproposal_ttl = 5\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.proposal_ttl"), "{err}");
    }

    #[test]
    fn missing_required_keys_are_named() {
        let err = load("", &[]).unwrap().settings().unwrap_err().to_string();
        assert!(err.contains("slack.default_channel"), "{err}");
        let err = load("[slack]\ndefault_channel = \"C1\"\n", &[])
            .unwrap()
            .settings()
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.approvers"), "{err}");
    }

    #[test]
    fn policy_defaults() {
        let s = load(MINIMAL, &[]).unwrap().settings().unwrap();
        assert_eq!(s.policy, PolicySettings::default());
        assert_eq!(s.policy.default_mode, Mode::Approve);
        assert_eq!(
            s.policy.two_person_for,
            vec!["resync_connector", "resync_tables"]
        );
        assert_eq!(s.policy.auto.max_per_connector_per_day, 3);
        assert_eq!(s.policy.auto.breaker_failures, 3);
        assert_eq!(s.policy.approver_groups_refresh, Duration::from_secs(300));
        assert_eq!(s.audit.checkpoint, None);
    }

    const GOVERNED: &str = r#"
[slack]
default_channel = "C0ALERTS01"
[policy]
approvers = ["U0ADMIN01"]
approver_groups = ["S0PLATFORM"]
default_mode = "monitor"
two_person_for = ["resync_connector"]
[policy.auto]
max_per_connector_per_day = 5
breaker_failures = 2
[[policy.connector]]
group = "finance_wh"
mode = "approve"
approver_groups = ["S0FINANCE"]
[[policy.connector]]
id = "speak_inexpensive"
mode = "auto"
approvers = ["U0ORDERS1"]
[audit]
checkpoint_channel = "C0AUDIT01"
checkpoint_time = "09:30"
"#;

    #[test]
    fn policy_rules_and_audit_checkpoint() {
        let s = load(GOVERNED, &[]).unwrap().settings().unwrap();
        assert_eq!(s.policy.default_mode, Mode::Monitor);
        assert_eq!(s.policy.approver_groups, vec!["S0PLATFORM"]);
        assert_eq!(s.policy.two_person_for, vec!["resync_connector"]);
        assert_eq!(s.policy.auto.max_per_connector_per_day, 5);
        assert_eq!(s.policy.rules.len(), 2);
        assert_eq!(
            s.policy.rules[0].scope,
            RuleScope::Group("finance_wh".into())
        );
        assert_eq!(
            s.policy.rules[1].scope,
            RuleScope::Connector("speak_inexpensive".into())
        );
        assert_eq!(s.policy.rules[1].mode, Some(Mode::Auto));
        assert_eq!(
            s.audit.checkpoint,
            Some((
                "C0AUDIT01".into(),
                chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap()
            ))
        );
        // Groups alone are enough approvers.
        let groups_only =
            "[slack]\ndefault_channel = \"C1\"\n[policy]\napprover_groups = [\"S0DATA\"]\n";
        assert!(load(groups_only, &[]).unwrap().settings().is_ok());
    }

    #[test]
    fn nested_env_overrides_reach_policy_auto() {
        let s = load(
            GOVERNED,
            &[
                ("SYNCWARDEN_POLICY__AUTO__BREAKER_FAILURES", "7"),
                ("SYNCWARDEN_POLICY__DEFAULT_MODE", "auto"),
                ("SYNCWARDEN_POLICY__APPROVER_GROUPS", "S0ONE,S0TWO"),
                ("SYNCWARDEN_AUDIT__CHECKPOINT_CHANNEL", "C0OTHER01"),
            ],
        )
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(s.policy.auto.breaker_failures, 7);
        assert_eq!(s.policy.auto.max_per_connector_per_day, 5);
        assert_eq!(s.policy.default_mode, Mode::Auto);
        assert_eq!(s.policy.approver_groups, vec!["S0ONE", "S0TWO"]);
        assert_eq!(s.audit.checkpoint.unwrap().0, "C0OTHER01");
        let err = load(GOVERNED, &[("SYNCWARDEN_POLICY__AUTO__MAX_PER_DAY", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_per_day"), "{err}");
        let err = load(GOVERNED, &[("SYNCWARDEN_POLICY__PROPOSAL_TTL__X", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.proposal_ttl"), "{err}");
    }

    #[test]
    fn bad_policy_values_name_their_key() {
        let with = |extra: &str| format!("{MINIMAL}{extra}");
        let settings_err = |text: String| {
            load(&text, &[])
                .unwrap()
                .settings()
                .unwrap_err()
                .to_string()
        };
        let load_err = |text: String| load(&text, &[]).unwrap_err().to_string();
        let e = load_err(with("default_mode = \"watch\"\n"));
        assert!(
            e.contains("policy.default_mode") && e.contains("monitor"),
            "{e}"
        );
        let e = settings_err(with("two_person_for = [\"resync_everything\"]\n"));
        assert!(
            e.contains("policy.two_person_for") && e.contains("resync_connector"),
            "{e}"
        );
        let e = settings_err(with("approver_groups = [\"data-team\"]\n"));
        assert!(
            e.contains("policy.approver_groups") && e.contains("data-team"),
            "{e}"
        );
        let e = settings_err(with("approver_groups_refresh = \"1s\"\n"));
        assert!(e.contains("policy.approver_groups_refresh"), "{e}");
        let e = settings_err(with("[policy.auto]\nbreaker_failures = 0\n"));
        assert!(e.contains("policy.auto.breaker_failures"), "{e}");
        let e = load_err(with("[policy.auto]\nbudget = 3\n"));
        assert!(e.contains("budget"), "{e}");
        let e = settings_err(with("[[policy.connector]]\nid = \"a\"\ngroup = \"b\"\n"));
        assert!(
            e.contains("policy.connector[0]") && e.contains("exactly one"),
            "{e}"
        );
        let e = settings_err(with("[[policy.connector]]\nmode = \"auto\"\n"));
        assert!(e.contains("policy.connector[0]"), "{e}");
        let e = settings_err(with(
            "[[policy.connector]]\nid = \"a\"\n[[policy.connector]]\nid = \"a\"\nmode = \"auto\"\n",
        ));
        assert!(
            e.contains("policy.connector[1].id") && e.contains("already"),
            "{e}"
        );
        let e = settings_err(with("[[policy.connector]]\nid = \"a/b\"\n"));
        assert!(e.contains("policy.connector[0].id"), "{e}");
        let e = settings_err(with(
            "[[policy.connector]]\nid = \"a\"\napprovers = [\"bob\"]\n",
        ));
        assert!(
            e.contains("policy.connector[0].approvers") && e.contains("bob"),
            "{e}"
        );
        let e = load_err(with("[[policy.connector]]\nid = \"a\"\nmode = \"yolo\"\n"));
        assert!(e.contains("policy.connector[0].mode"), "{e}");
        let e = load_err(with("[[policy.connector]]\nid = \"a\"\nowner = \"x\"\n"));
        assert!(e.contains("owner"), "{e}");
        let e = settings_err(format!(
            "{MINIMAL}[audit]\ncheckpoint_channel = \"#audit\"\n"
        ));
        assert!(e.contains("audit.checkpoint_channel"), "{e}");
        let e = settings_err(format!("{MINIMAL}[audit]\ncheckpoint_time = \"9am\"\n"));
        assert!(e.contains("audit.checkpoint_time"), "{e}");
    }

    #[test]
    fn llm_section_is_optional_and_checked() {
        let s = load(MINIMAL, &[]).unwrap().settings().unwrap();
        assert!(s.llm.is_none());
        let text = format!(
            "{MINIMAL}\n[llm]\nbase_url = \"http://localhost:11434/v1\"\nmodel = \"llama3\"\n"
        );
        let s = load(&text, &[]).unwrap().settings().unwrap();
        let llm = s.llm.unwrap();
        assert_eq!(llm.timeout, Duration::from_secs(20));
        assert_eq!(llm.api_key_env, "OPENAI_API_KEY");
        let bad = format!("{MINIMAL}\n[llm]\nbase_url = \"x\"\nmodel = \"m\"\n");
        let err = load(&bad, &[]).unwrap().settings().unwrap_err().to_string();
        assert!(err.contains("llm.base_url"), "{err}");
        let typo =
            format!("{MINIMAL}\n[llm]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\ntimeout = 3\n");
        assert!(load(&typo, &[])
            .unwrap_err()
            .to_string()
            .contains("timeout"));
    }

    #[test]
    fn llm_key_comes_from_the_named_variable() {
        let text = format!("{MINIMAL}\n[llm]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\napi_key_env = \"MY_KEY\"\n");
        let s = load(&text, &[]).unwrap().settings().unwrap();
        let base = Secrets::from_lookup(|_| Some("v".into())).unwrap();
        let err = base
            .clone()
            .with_llm_key(s.llm.as_ref(), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("MY_KEY"), "{err}");
        let ok = base
            .with_llm_key(s.llm.as_ref(), |n| (n == "MY_KEY").then(|| "sk-x".into()))
            .unwrap();
        assert_eq!(ok.llm_api_key.unwrap().expose(), "sk-x");
    }

    #[test]
    fn secrets_come_from_env_and_name_the_missing_one() {
        let err =
            Secrets::from_lookup(|name| (name != "SLACK_SIGNING_SECRET").then(|| "x".to_string()))
                .unwrap_err()
                .to_string();
        assert!(err.contains("SLACK_SIGNING_SECRET"), "{err}");
        let ok = Secrets::from_lookup(|name| Some(format!("v-{name}"))).unwrap();
        assert_eq!(ok.slack_bot_token.expose(), "v-SLACK_BOT_TOKEN");
    }
}
