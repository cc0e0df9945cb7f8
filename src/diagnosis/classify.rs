//! Rule-based classification of failed Fivetran syncs.
//!
//! A failure is described by [`FailureSignals`] (the webhook `reason`, the connection's tasks,
//! warnings and failing setup tests, and a few state fields). Every piece of text is matched
//! against a table of prioritised regular expressions ([`RULES`]) that encode the labelling
//! rules of the `fivetran-errors` corpus (see `tests/data/fivetran-errors/SOURCE.md`): HTTP status
//! families, SQLSTATE classes, vendor error codes (Salesforce, Google, Facebook, Oracle `ORA-`,
//! MySQL, Redshift, Snowflake...) and generic phrases ("permission denied", "timed out",
//! "disk full"...). The highest-priority match across all signals decides the category; the
//! transient flag and the suggested action come from the category's default (see
//! [`Category::default_transient`] / [`Category::default_action`]) unless the rule overrides
//! them, exactly as the corpus README's table describes.
//!
//! The module only depends on `regex`, `serde` and `std`, and never panics on any input.

use std::sync::LazyLock;

use regex::bytes::{Regex, RegexBuilder};

/// Only the first 8 KiB of every text signal are scanned: error texts put the cause up front,
/// and this bounds the cost of a classification whatever the input size.
const MAX_SCAN_BYTES: usize = 8 * 1024;
/// Upper bound of `Evidence::matched`, in characters.
const MAX_MATCHED_CHARS: usize = 200;
/// Warnings don't fail a sync by themselves: they count a little less than the reason or tasks.
const WARNING_PENALTY: u8 = 10;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// What went wrong, at the level a person would act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    RateLimit,
    Auth,
    Permissions,
    SourceUnavailable,
    Network,
    SchemaChange,
    Destination,
    Config,
    QuotaBilling,
    Data,
    Unknown,
}

impl Category {
    pub const ALL: [Category; 11] = [
        Category::RateLimit,
        Category::Auth,
        Category::Permissions,
        Category::SourceUnavailable,
        Category::Network,
        Category::SchemaChange,
        Category::Destination,
        Category::Config,
        Category::QuotaBilling,
        Category::Data,
        Category::Unknown,
    ];

    /// The snake_case name, as serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::RateLimit => "rate_limit",
            Category::Auth => "auth",
            Category::Permissions => "permissions",
            Category::SourceUnavailable => "source_unavailable",
            Category::Network => "network",
            Category::SchemaChange => "schema_change",
            Category::Destination => "destination",
            Category::Config => "config",
            Category::QuotaBilling => "quota_billing",
            Category::Data => "data",
            Category::Unknown => "unknown",
        }
    }

    /// A short human-readable name.
    pub fn label(&self) -> &'static str {
        match self {
            Category::RateLimit => "Rate limit",
            Category::Auth => "Authentication",
            Category::Permissions => "Permissions",
            Category::SourceUnavailable => "Source unavailable",
            Category::Network => "Network",
            Category::SchemaChange => "Schema change",
            Category::Destination => "Destination",
            Category::Config => "Configuration",
            Category::QuotaBilling => "Quota / billing",
            Category::Data => "Data",
            Category::Unknown => "Unknown",
        }
    }

    /// Would a plain retry later probably succeed, unless a rule says otherwise.
    fn default_transient(self) -> bool {
        matches!(
            self,
            Category::RateLimit
                | Category::SourceUnavailable
                | Category::Network
                | Category::Destination
                | Category::Unknown
        )
    }

    /// What to propose first, unless a rule says otherwise.
    fn default_action(self) -> SuggestedAction {
        match self {
            Category::RateLimit | Category::SourceUnavailable => SuggestedAction::RetryAfterBackoff,
            Category::Network | Category::Destination | Category::Unknown => {
                SuggestedAction::RetrySync
            }
            Category::Auth
            | Category::Permissions
            | Category::Config
            | Category::QuotaBilling
            | Category::SchemaChange
            | Category::Data => SuggestedAction::Escalate,
        }
    }
}

/// The remediation the bot proposes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestedAction {
    RetrySync,
    RetryAfterBackoff,
    ReduceSyncFrequency,
    PauseConnector,
    ReloadSchema,
    ResyncTable,
    Escalate,
}

impl SuggestedAction {
    pub const ALL: [SuggestedAction; 7] = [
        SuggestedAction::RetrySync,
        SuggestedAction::RetryAfterBackoff,
        SuggestedAction::ReduceSyncFrequency,
        SuggestedAction::PauseConnector,
        SuggestedAction::ReloadSchema,
        SuggestedAction::ResyncTable,
        SuggestedAction::Escalate,
    ];

    /// The snake_case name, as serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            SuggestedAction::RetrySync => "retry_sync",
            SuggestedAction::RetryAfterBackoff => "retry_after_backoff",
            SuggestedAction::ReduceSyncFrequency => "reduce_sync_frequency",
            SuggestedAction::PauseConnector => "pause_connector",
            SuggestedAction::ReloadSchema => "reload_schema",
            SuggestedAction::ResyncTable => "resync_table",
            SuggestedAction::Escalate => "escalate",
        }
    }
}

/// One task/warning from the Fivetran connection's status (code, message, details) or a failing
/// setup test (title as code, message).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: String,
}

/// Everything known about one failure. All optional except `reason` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FailureSignals {
    /// webhook data.reason or an error message
    pub reason: String,
    /// webhook data.status e.g. FAILURE_WITH_TASK, FAILURE, CANCELED, RESCHEDULED
    pub status: Option<String>,
    /// webhook data.taskType e.g. reconnect_warehouse, reconnect
    pub task_type: Option<String>,
    /// e.g. salesforce, postgres, "snowflake destination"
    pub connector_type: Option<String>,
    /// connected | broken | incomplete
    pub setup_state: Option<String>,
    pub sync_state: Option<String>,
    /// on_schedule | delayed
    pub update_state: Option<String>,
    pub tasks: Vec<Notice>,
    pub warnings: Vec<Notice>,
    pub failing_setup_tests: Vec<Notice>,
}

/// Why a classification was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// Which input decided: "reason", "task_type", "task:<code>", "setup_test:<title>",
    /// "warning:<code>", "status", "setup_state" or "none".
    pub signal: String,
    /// Stable rule id like "rate_limit.http_429".
    pub rule: String,
    /// The matched text fragment, at most 200 characters.
    pub matched: String,
}

/// The verdict for one failure.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    pub category: Category,
    pub transient: bool,
    pub action: SuggestedAction,
    /// 0..1
    pub confidence: f32,
    /// The first entry is the deciding one.
    pub evidence: Vec<Evidence>,
}

// ---------------------------------------------------------------------------------------------
// Rule table
// ---------------------------------------------------------------------------------------------

/// Which side of the pipeline a rule applies to. The side is "destination" when the connector
/// type names a destination/warehouse or the task type is about the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Any,
    Source,
    Destination,
}

/// One classification rule. Patterns are matched case-insensitively (multi-line `^`).
#[derive(Debug, Clone, Copy)]
struct Rule {
    id: &'static str,
    category: Category,
    /// Higher wins: ~90 vendor codes and fixed phrases, ~60-80 specific phrases, ~40-50 status
    /// families and SQLSTATE classes, ~20 "no recoverable cause" phrases.
    priority: u8,
    pattern: &'static str,
    side: Side,
    /// Lower-case substring the connector type must contain (for codes that are only
    /// meaningful for one vendor, e.g. Redshift's numeric error codes).
    connector: Option<&'static str>,
    transient: Option<bool>,
    action: Option<SuggestedAction>,
}

const fn rule(id: &'static str, category: Category, priority: u8, pattern: &'static str) -> Rule {
    Rule {
        id,
        category,
        priority,
        pattern,
        side: Side::Any,
        connector: None,
        transient: None,
        action: None,
    }
}

impl Rule {
    const fn act(mut self, action: SuggestedAction) -> Self {
        self.action = Some(action);
        self
    }
    const fn permanent(mut self) -> Self {
        self.transient = Some(false);
        self
    }
    const fn dest_only(mut self) -> Self {
        self.side = Side::Destination;
        self
    }
    const fn source_only(mut self) -> Self {
        self.side = Side::Source;
        self
    }
    const fn for_connector(mut self, connector: &'static str) -> Self {
        self.connector = Some(connector);
        self
    }
    fn transient(&self) -> bool {
        self.transient
            .unwrap_or_else(|| self.category.default_transient())
    }
    fn action(&self) -> SuggestedAction {
        self.action
            .unwrap_or_else(|| self.category.default_action())
    }
}

/// An HTTP status code in a context that makes it one ("status 403", "Error code: 429",
/// "HTTP/1.1 503", "[500: POST]", "(404)", a line starting with "500 ..."), not any number.
macro_rules! http_status {
    ($code:literal) => {
        concat!(
            r#"(?:(?:status|code|http(?:/[0-9.]+)?|error|response)\s*(?:code)?[\s:=#"'(\[{,]{0,6}|^\s*|\()"#,
            $code,
            r"\b"
        )
    };
}

/// A SQLSTATE value or class, as printed by drivers: "SQLSTATE 3F000", "SQLSTATE[HY000]",
/// or Snowflake's "100038 (22018):".
macro_rules! sqlstate {
    ($class:literal) => {
        concat!(
            r"(?:sqlstate\W{0,3}|\b\d{3,6} \()",
            $class,
            r"[0-9A-Z]{0,3}\b"
        )
    };
}

// Patterns shared by a source-side and a destination-side rule.
const OUT_OF_MEMORY: &str = r"out[- ]of[- ](?:shared[- ])?memory|OutOfMemory|insufficient (?:memory|resources)|cannot allocate memory|memory (?:limit )?exceeded|exceeded (?:the )?memory|resources exceeded|not enough resources";
const SERVER_ERROR_5XX: &str = concat!(
    http_status!("50[0234]"),
    r"|\b50[0234]\b[^\n]{0,5}(?:internal server error|bad gateway|service unavailable|gateway time-?out)",
    r"|internal ?server ?error|ServerError|\bserver error|bad gateway|service (?:is )?(?:temporarily )?unavailable",
    r"|temporarily unavailable|gateway time-?out|\bUNAVAILABLE\b|ServiceUnavailable",
);
const BACKEND_ERROR: &str = r"backend ?error|backend (?:throws?|threw|returned|reported) an error";
const MAINTENANCE: &str = r"(?:under(?:going)?|down for|in|scheduled) maintenance|maintenance (?:mode|window|in progress)|(?:cluster|database|server|system|instance) is (?:restarting|rebooting|being restarted)";
const RESIZE_RESTART: &str = concat!(
    r"resize mode|resiz(?:e|ing) (?:is )?in progress",
    r"|(?:cluster|warehouse|system|database|instance)[^.\n]{0,50}(?:being )?(?:resiz|restart|reboot)\w*",
);
const SQLSTATE_57: &str = concat!(
    sqlstate!("57"),
    r"|the database system is (?:starting up|shutting down|in recovery mode|not yet accepting connections)|terminating connection due to administrator command"
);

use Category as C;
use SuggestedAction as A;

/// The rule table, grouped by category. Order only breaks exact ties (same priority, same
/// match position), so it has no meaning beyond readability.
#[rustfmt::skip]
static RULES: &[Rule] = &[
    // ---- rate_limit: throttling and time-window request quotas ---------------------------------
    // Daily / total quotas don't clear within minutes: lower the sync frequency instead.
    rule("rate_limit.daily_quota", C::RateLimit, 92,
        concat!(
            r#"\b(?:daily|per[- ]day|monthly|per[- ]month|24[- ]hours?)\b[^.\n]{0,60}\b(?:limit|quota|cap)"#,
            r#"|\b(?:limit|quota|max(?:imum)?|exceeded)\b[^.\n]{0,60}(?:per (?:rolling )?(?:day|month|24 hours)|\bdaily\b|\bmonthly\b|for (?:the|to)day)"#,
            r#"|dailyLimitExceeded|TotalRequests\W{0,3}limit|policyName"?\s*:\s*"?DAILY"#,
            r#"|\btotal (?:api )?(?:request|call)s? (?:limit|quota)"#,
        ))
        .act(A::ReduceSyncFrequency),
    // BigQuery per-table operation quotas reset daily (imports, appends, partition modifications).
    rule("rate_limit.table_operations_quota", C::RateLimit, 90,
        concat!(
            r"(?:table|partition)s? exceeded (?:its |the )?quota",
            r"|quota for (?:imports|query appends|table (?:operations|updates)|partition modifications)",
            r"|exceeded quota for[^.\n]{0,60}per table",
        ))
        .act(A::ReduceSyncFrequency),
    rule("rate_limit.vendor_code", C::RateLimit, 85,
        concat!(
            r"REQUEST_LIMIT_EXCEEDED|rate[ _-]?limit[ _-]?exceeded|TooManyRequests",
            r"|Throttl(?:ed|ing)(?:Exception)?|WS_CONCUR_SESSION_DISALLWD|\bSlowDown\b|\bRate exceeded",
        )),
    // Facebook/Instagram Graph API throttling codes 4, 17, 32, 613 and the 80000-range.
    rule("rate_limit.graph_api_code", C::RateLimit, 85, r"\(#(?:4|17|32|613|80\d{3})\)"),
    rule("rate_limit.graph_api_code_field", C::RateLimit, 85,
        r#"\b(?:error_?code|code)"?\s*[:=]\s*"?(?:4|17|32|613|80\d{3})\b"#)
        .for_connector("facebook"),
    // Marketo: 606 rate, 615 concurrency; 607 is the daily quota.
    rule("rate_limit.marketo_code", C::RateLimit, 85, r"(?:error|code)\W{0,3}(?:606|615)\b")
        .for_connector("marketo"),
    rule("rate_limit.marketo_daily_code", C::RateLimit, 86, r"(?:error|code)\W{0,3}607\b")
        .for_connector("marketo")
        .act(A::ReduceSyncFrequency),
    rule("rate_limit.http_429", C::RateLimit, 80,
        concat!(http_status!("429"), r"|\b429\b[^\n]{0,5}too many")),
    rule("rate_limit.too_many_requests", C::RateLimit, 80,
        concat!(
            r"too many (?:api )?(?:requests?|calls)|too many \w+ (?:\w+ )?operations for this",
            r"|too many (?:\w+ )?(?:statements|jobs|queries) (?:outstanding|queued|running|in queue)",
        )),
    rule("rate_limit.phrase", C::RateLimit, 75,
        concat!(
            r"rate[ _-]?limit|throttl|(?:request|call|api|api call|usage) limit",
            r"|(?:requests?|calls|queries|operations) (?:per|in the past \d*) ?(?:second|minute|hour)",
            r"|secondly|number of (?:allowed )?(?:\w+ ){0,3}(?:requests|calls)|too (?:quickly|fast)",
            r"|reduce (?:your )?request rate",
        )),
    rule("rate_limit.concurrency", C::RateLimit, 78,
        concat!(
            r"concurren(?:t|cy)[^.\n]{0,30}(?:request|call|session|access)s?[^.\n]{0,20}limit",
            r"|concurrency limit|too many concurrent (?:requests|calls|sessions)",
        )),
    // gRPC RESOURCE_EXHAUSTED is a family code: more specific text (billing, memory) outranks it.
    rule("rate_limit.resource_exhausted", C::RateLimit, 70,
        r"RESOURCE[_ ](?:TEMPORARILY[_ ])?EXHAUSTED|resource has been exhausted"),
    // Generic "quota exceeded" is a request quota per time window (rule 5); billing-type quotas
    // have their own, higher rules.
    rule("rate_limit.quota_exceeded", C::RateLimit, 60,
        r"quota (?:has been )?exceeded|exceeded (?:\w+ )?quota|quotaExceeded|over quota")
        .act(A::ReduceSyncFrequency),
    // Another client holding the same API object/cursor: wait for it to finish.
    rule("rate_limit.object_locked", C::RateLimit, 70,
        concat!(
            r"\block_timeout\b",
            r"|(?:another|other) (?:api )?(?:request|process)[^.\n]{0,60}currently accessing",
            r"|scroll_exists",
            r"|another (?:integration|client|process|app(?:lication)?|job|sync)[^.\n]{0,60}scroll",
        )),
    // ---- auth: the identity is rejected ----------------------------------------------------------
    rule("auth.bad_password", C::Auth, 90,
        concat!(
            r"(?:invalid|incorrect|wrong|bad) (?:user ?name|user|login|email)?\s*(?:or|and|/|,)?\s*password",
            r"|password (?:authentication failed|is incorrect|incorrect|invalid|mismatch)",
            r"|authentication failed for user|login failed for user|ORA-01017",
            r"|\(using password: (?:yes|no)\)",
        )),
    rule("auth.vendor_code", C::Auth, 90,
        concat!(
            r"INVALID_LOGIN|INVALID_SESSION_ID|INVALID_AUTH_HEADER|EXPIRED_AUTHENTICATION",
            r"|EXPIRED_PASSWORD|invalid_grant|invalid_client|unauthorized_client|\bUNAUTHENTICATED\b",
            r"|InvalidAuthenticationToken|AuthenticationFailed|InvalidAccessKeyId",
            r"|SignatureDoesNotMatch|access key id[^.\n]{0,40}does not exist",
        )),
    // Facebook code 190 = access token invalid/expired.
    rule("auth.graph_api_190", C::Auth, 90,
        r#"\b(?:error_?code|code)"?\s*[:=]\s*"?190\b|\(#190\)|error validating access token"#),
    rule("auth.login_not_allowed", C::Auth, 88,
        concat!(
            r#"pg_hba\.conf|not permitted to log ?in"#,
            r#"|(?:user|account) (?:is |has been |temporarily )?locked|temporarily locked"#,
            r#"|(?:role|user) "[^"\n]{0,64}" does not exist|locked out|password (?:has )?expired"#,
            r#"|must change (?:your |the )?password|ORA-28000|ORA-28001|invalid login|login attempt"#,
            r#"|(?:customer|user|account) access is disabled"#,
            r#"|(?:user|account) (?:is |has been )?(?:disabled|deactivated|inactive|frozen)"#,
            r#"|is not allowed to connect to this \w+ server"#,
        )),
    rule("auth.token", C::Auth, 82,
        concat!(
            r"(?:access|oauth|refresh|auth(?:entication)?|api|bearer|session|security|jwt)[- _]?(?:token|key)s?[^.\n]{0,40}(?:expired|revoked|invalid|not valid|could not be validated|no longer valid|invalidated)",
            r"|(?:invalid|expired|revoked|bad) (?:(?:access|oauth|refresh|api|bearer|authentication|auth|login|session) )?(?:token|api[ _]?key|credentials?)",
            r"|token (?:has )?expired|token could not be (?:validated|verified)",
            r"|session (?:has )?expired|session (?:expired or invalid|has been invalidated|not found)",
            r"|(?:error while|failed to|unable to|could not) refresh(?:ing)? (?:the |an )?(?:access |oauth )?token",
            r"|\btoken\b[^.\n]{0,40}\b(?:has|is|was) (?:been )?(?:expired|revoked|invalid)",
        )),
    rule("auth.login_failed", C::Auth, 70, r"\blog(?:in|on) (?:failed|denied)"),
    rule("auth.http_401", C::Auth, 70,
        concat!(http_status!("401"), r#"|\b401\b[^\n]{0,5}unauthori[sz]ed|\bunauthori[sz]ed\b"#)),
    // Facebook wraps many errors as OAuthException; the code next to it decides when present.
    rule("auth.oauth_exception", C::Auth, 60, r"OAuthException"),
    rule("auth.generic", C::Auth, 72,
        concat!(
            r"authentication (?:failed|failure|error|required)",
            r"|(?:could not|failed to|unable to) authenticate|invalid credentials",
            r"|credentials (?:are|were) (?:invalid|rejected|incorrect)|bad credentials",
            r"|not authenticated|(?:couldn't|can't|cannot) authenticate|exception authenticating",
            r"|AuthenticationException|authentication details are not valid",
        )),
    rule("auth.sqlstate_28", C::Auth, 45, sqlstate!("28")),
    // ---- permissions: the identity works but lacks a grant/scope --------------------------------
    rule("permissions.vendor_code", C::Permissions, 88,
        concat!(
            r"PERMISSION_DENIED|INSUFFICIENT_ACCESS\w*|API_DISABLED_FOR_ORG|API_CURRENTLY_DISABLED",
            r"|DEVELOPER_TOKEN_NOT_APPROVED|ORA-00942|ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            r"|insufficientPermissions|AuthorizationPermissionMismatch|AccessDeniedException",
            r"|NOT_AUTHORIZED|INSUFFICIENT_SCOPE|OPERATION_TOO_LARGE|ORA-01031|ORA-01045|ORA-01749",
        )),
    rule("permissions.phrase", C::Permissions, 80,
        concat!(
            r"permission denied",
            r"|insufficient[ _](?:\w+[ _])?(?:privileges?|permissions?|access|rights|scopes?)",
            r"|have (?:\S+ )?access to|(?:has|have|was|were)(?:n't| not) (?:been )?granted",
            r"|required scopes?|missing[ _]scopes?|requires[^.\n]{0,40}\bscopes?\b",
            r"|command denied to user",
            r"|does not have (?:\w+ ){1,3}on (?:catalog|schema|table|database|warehouse|view|function)",
            r"|(?:does not|doesn't|do not|don't|did not) have (?:the )?(?:required |necessary |sufficient |enough )?(?:\S+ ){0,3}(?:permissions?|privileges?|access rights|rights)\b",
            r"|not enough (?:permissions?|privileges?)|permission violation",
            r"|lacks? (?:the )?(?:required |necessary )?(?:permissions?|privileges?|grants?|scopes?)",
            r"|must be (?:the )?owner of",
            r"|(?:permission|privilege)s? (?:was |were |is |are )?(?:denied|required|missing)",
            r"|access control error|you need [^.\n]{0,80}privilege",
            r"|requires? (?:the )?\S+ (?:permission|privilege|scope)\b",
            r"|missing (?:required )?(?:permission|privilege|scope|grant)s?|not authori[sz]ed\b",
            r"|must be (?:a )?superuser|replication (?:role|privilege|attribute)|\bnon-admin users?\b",
            r"|view all data",
            r"|access (?:to [^.\n]{0,40})?(?:is )?denied for (?:this|the) (?:user|role|object|resource)",
            r"|(?:does not|doesn't) exist or not authori[sz]ed",
        )),
    // HTTP 403 and bare "forbidden"/"access denied" are family-level: rate-limit phrases above
    // them win ("403 ... rateLimitExceeded").
    rule("permissions.http_403", C::Permissions, 62,
        concat!(http_status!("403"), r"|\b403\b[^\n]{0,5}(?:forbidden|client error)|\bforbidden\b|access (?:is )?denied|access_?denied")),
    rule("permissions.sqlstate_42501", C::Permissions, 50, sqlstate!("42501")),
    // ---- source_unavailable: source down, in maintenance or out of resources --------------------
    // Oracle/SQL Server resources that only a database setting change frees (LogMiner or shared
    // pool memory, archiver destination, tablespace, undo retention, a full transaction log).
    rule("source_unavailable.needs_setting_change", C::SourceUnavailable, 92,
        concat!(
            r"ORA-01341|logminer[^.\n]{0,30}out[- ]of[- ]memory|ORA-04031",
            r"|unable to allocate \d+ bytes of shared memory|ORA-00257|archiver error|ORA-0165[234]",
            r"|unable to extend (?:temp )?segment|ORA-01555|snapshot too old",
            r"|transaction log[^.\n]{0,40}is full",
        ))
        .permanent()
        .act(A::Escalate),
    rule("source_unavailable.too_many_connections", C::SourceUnavailable, 85,
        concat!(
            r"too many (?:connections|clients)|remaining connection slots are reserved",
            r"|connection limit (?:exceeded|reached)",
            r"|max(?:imum)?[ _]connections[^.\n]{0,30}(?:reached|exceeded)|ER_CON_COUNT_ERROR",
            r"|ORA-00018|ORA-00020|ORA-12516|ORA-12519|ORA-12520|sqlstate\W{0,3}53300",
        )),
    rule("source_unavailable.down", C::SourceUnavailable, 75,
        concat!(
            r"ORA-01033|ORA-01034|ORA-01089|ORACLE not available|ORACLE initialization or shutdown",
            r"|database is (?:currently )?(?:unavailable|offline|not available|being recovered)",
            r"|(?:service|server|system|host) (?:is )?(?:currently |temporarily )?(?:down|overloaded|(?:too )?busy)",
            r"|reduce the amount of data|no primary (?:found|available)|NotPrimary|not master|ServerBusy",
        ))
        .source_only(),
    rule("source_unavailable.maintenance", C::SourceUnavailable, 75, MAINTENANCE).source_only(),
    rule("source_unavailable.resize_restart", C::SourceUnavailable, 75, RESIZE_RESTART).source_only(),
    rule("source_unavailable.http_5xx", C::SourceUnavailable, 70, SERVER_ERROR_5XX).source_only(),
    rule("source_unavailable.backend_error", C::SourceUnavailable, 50, BACKEND_ERROR).source_only(),
    rule("source_unavailable.out_of_memory", C::SourceUnavailable, 70, OUT_OF_MEMORY).source_only(),
    rule("source_unavailable.sqlstate_57", C::SourceUnavailable, 45, SQLSTATE_57).source_only(),
    rule("source_unavailable.sqlstate_53", C::SourceUnavailable, 45, sqlstate!("53")).source_only(),
    // ---- network: the connection itself failed ----------------------------------------------------
    // Nothing listens / the name doesn't resolve: retrying won't help until someone fixes it.
    rule("network.refused", C::Network, 85,
        concat!(
            r"connection refused|ECONNREFUSED|no listener|ORA-12541|unknown host|UnknownHostException",
            r"|could not translate host ?name|name or service not known|nodename nor servname",
            r"|getaddrinfo|ENOTFOUND|no such host|no route to host|EHOSTUNREACH",
            r"|(?:host|network) (?:is )?unreachable|ENETUNREACH",
            r"|could not resolve (?:host|hostname|address)|failure in name resolution",
        ))
        .permanent()
        .act(A::Escalate),
    // A read timeout on an established connection behaves like a reset: retry now.
    rule("network.read_timeout", C::Network, 70,
        r"\bread(?:\s*:\s*connection)?\s+timed\s*out|read timeout|SocketTimeoutException: Read"),
    rule("network.timeout", C::Network, 65,
        concat!(
            r"timed ?out|time-?out|ETIMEDOUT|TimeoutException|deadline exceeded|DEADLINE_EXCEEDED",
            r"|ORA-12170|ORA-12535",
        ))
        .act(A::RetryAfterBackoff),
    rule("network.dropped", C::Network, 68,
        concat!(
            r"connection (?:was |has been |is )?(?:reset|closed|aborted|terminated|lost|dropped)",
            r"|ORA-0311[34]|ORA-03135|ORA-12560|end-of-file on communication channel",
            r"|not connected to ORACLE|server has gone away|network-related",
            r"|connection to the host[^.\n]{0,60}has failed|ECONNRESET|ECONNABORTED|EPIPE|broken pipe",
            r"|reset by peer|premature(?:ly)? (?:reached )?end of (?:file|stream)",
            r"|unexpected(?:ly)? (?:end of (?:file|stream)|EOF)|EOF detected|unexpected EOF",
            r"|SSL SYSCALL error|server closed the connection|communications link failure|\bi/o error",
            r"|IOException|socket (?:closed|hang up|error)",
            r"|(?:ssl|tls) handshake[^.\n]{0,30}(?:failed|reset|closed|error)",
            r"|handshake (?:failed|failure)|network error|lost connection to (?:\w+ )?server",
            r"|could not (?:receive|send) data (?:from|to) (?:client|server)",
        )),
    rule("network.connect_failed", C::Network, 50,
        concat!(
            r"(?:could not|unable to|failed to|cannot|can't) (?:connect|establish (?:a )?connection)",
            r"|connection (?:failed|failure|error)",
        )),
    rule("network.sqlstate_08", C::Network, 45, sqlstate!("08")),
    // ---- schema_change: structures no longer match ------------------------------------------------
    // A field the connector still requests is gone, or its cached schema object is stale.
    rule("schema_change.field_gone", C::SchemaChange, 86,
        concat!(
            r#"INVALID_FIELD|no such column"#,
            r#"|(?:column|field) ["'`]?[\w.$-]+["'`]? (?:does not exist|not found)|unknown column"#,
            r#"|invalid column name|ORA-00904|has changed in an incompatible way|cannot be resolved"#,
            r#"|UNRESOLVED_COLUMN|schema (?:of [^.\n]{0,40})?has changed since"#,
            r#"|(?:stale|outdated) schema|(?:schema|metadata) (?:is )?(?:out of date|outdated|stale)"#,
            r#"|(?:field|column)s? (?:is|are|was|were|has been|have been) (?:deleted|removed|hidden|dropped)"#,
            r#"|sqlstate\W{0,3}42703"#,
        ))
        .act(A::ReloadSchema),
    rule("schema_change.primary_key", C::SchemaChange, 85,
        concat!(
            r"primary keys?[^.\n]{0,40}(?:do(?:es)? not match|mismatch|changed?|is not permitted|not permitted|cannot be changed|differ)",
            r"|(?:change|changing|changed) (?:of |in |to )?(?:the )?primary key",
        ))
        .act(A::ResyncTable),
    rule("schema_change.structure_changed", C::SchemaChange, 87,
        concat!(
            r"not found in (?:the )?(?:table )?schema|(?:did|does) not conform to (?:the )?schema",
            r"|schema definition change|provided schema does not match|partitioning does not match",
            r"|partition(?:ing)? (?:spec |scheme )?mismatch",
            r"|(?:column|field)s?[^.\n]{0,60}(?:changed type|type (?:has )?changed|changed from type)",
            r"|(?:data ?)?type (?:mismatch|change|conflict)",
            r"|is of type \S+ but (?:expression|value) is of type|cannot change the (?:data ?)?type",
            r"|incompatible (?:data ?)?types?|invalid schema update",
            r"|schema update (?:is )?not (?:allowed|permitted)|incompatible schema change",
            r"|failed to merge fields",
        ))
        .act(A::ResyncTable),
    rule("schema_change.limits", C::SchemaChange, 85,
        concat!(
            r"too many (?:columns|fields)|(?:column|field)s? (?:count )?limit",
            r"|(?:maximum|max) (?:number of )?(?:columns|fields)",
            r"|(?:more|greater) than [\d,]+ (?:columns|fields)|can have at most \d+ columns",
            r"|identifier[^.\n]{0,40}(?:too long|exceeds|maximum length)",
            r"|(?:name|identifier) (?:is )?too long|row size too large",
        )),
    rule("schema_change.conflict", C::SchemaChange, 78,
        concat!(
            r"schema mismatch|multiple (?:data ?types|types)|duplicate (?:field|column)",
            r"|(?:column|field) \S+ already exists|dependent objects?|other objects depend on it",
            r"|used by a view|number of columns[^.\n]{0,60}does not match",
            r"|column count (?:doesn't|does not) match",
        )),
    // delta-rs and similar writers report structure problems as "Schema error: ...".
    rule("schema_change.schema_error", C::SchemaChange, 60, r"\bschema error\b"),
    rule("schema_change.relation_missing", C::SchemaChange, 62,
        concat!(
            r#"(?:relation|table) ["'\[`]?[\w.$-]*["'\]`]? (?:does not|doesn't) exist|not found: table"#,
            r#"|invalid object name|TABLE_OR_VIEW_NOT_FOUND"#,
            r#"|(?:table|column) [^.\n]{0,40}(?:was|has been) (?:dropped|deleted|removed)"#,
            r#"|sqlstate\W{0,3}42P01"#,
        ))
        .act(A::ReloadSchema),
    // ---- destination: the warehouse failed while loading ------------------------------------------
    rule("destination.disk_full", C::Destination, 92,
        concat!(
            r"disk (?:is )?full|no space left on device|out of (?:disk|storage) space",
            r"|insufficient (?:disk|storage) space|disk quota exceeded",
            r"|temp(?:orary)?[ _]file[^.\n]{0,40}(?:no space|limit|size exceeds)|temp_file_limit",
            r"|\bENOSPC\b|DiskFull|sqlstate\W{0,3}53[14]00",
        ))
        .permanent()
        .act(A::Escalate),
    // Redshift numeric codes: 1016 disk full, 1004 out of memory, 1023 serializable isolation.
    rule("destination.redshift_disk_full", C::Destination, 92, r"(?:error|code)\W{0,12}1016\b")
        .for_connector("redshift")
        .permanent()
        .act(A::Escalate),
    rule("destination.redshift_memory", C::Destination, 80, r"(?:error|code)\W{0,12}1004\b")
        .for_connector("redshift")
        .act(A::RetryAfterBackoff),
    rule("destination.redshift_serializable", C::Destination, 85, r"(?:error|code)\W{0,12}1023\b")
        .for_connector("redshift"),
    rule("destination.conflict", C::Destination, 85,
        concat!(
            r"could not serialize access|serializ(?:able|ation) (?:isolation )?(?:violation|failure)",
            r"|deadlock|concurrent (?:update|transaction|modification|write|delete|append|operation)",
            r"|Concurrent(?:Append|DeleteRead|DeleteDelete|Transaction)Exception",
            r"|MetadataChangedException|transaction conflict|conflicting transaction|lock wait timeout",
            r"|could not obtain lock|lock (?:not available|conflict)|waiters for this lock",
            r"|could not open relation with OID|version \d* ?already exists|VersionAlreadyExists",
            r"|commit conflict|sqlstate\W{0,3}40(?:001|P01)",
        )),
    rule("destination.resize_restart", C::Destination, 85, RESIZE_RESTART)
        .dest_only()
        .act(A::RetryAfterBackoff),
    rule("destination.maintenance", C::Destination, 75, MAINTENANCE)
        .dest_only()
        .act(A::RetryAfterBackoff),
    rule("destination.out_of_memory", C::Destination, 75, OUT_OF_MEMORY)
        .dest_only()
        .act(A::RetryAfterBackoff),
    // Failures of the warehouse's own staging storage (Redshift COPY from S3), e.g. expired
    // temporary credentials: retry the load.
    rule("destination.staging_storage", C::Destination, 91,
        r"S3ServiceException[^\n]{0,120}(?:token|expired|slow ?down|internal|timeout)"),
    rule("destination.staging_storage_other", C::Destination, 60, r"S3ServiceException"),
    // BigQuery's internalError reason text, and backend errors reported by a warehouse.
    rule("destination.backend_error", C::Destination, 75,
        concat!(
            r"internal error[^.\n]{0,30}request could not be completed|backendError|internalError",
            r"|backend ?error|backend (?:throws?|threw|returned|reported) an error",
            r"|snowflake internal error|execution internal error|processing aborted due to error",
        ))
        .dest_only(),
    // BigQuery and Snowflake report their own internal failures as "internal error".
    rule("destination.bigquery_internal_error", C::Destination, 70, r"internal error")
        .dest_only()
        .for_connector("bigquery"),
    rule("destination.snowflake_internal_error", C::Destination, 70, r"internal error")
        .dest_only()
        .for_connector("snowflake"),
    rule("destination.http_5xx", C::Destination, 60, SERVER_ERROR_5XX)
        .dest_only()
        .act(A::RetryAfterBackoff),
    rule("destination.sqlstate_57", C::Destination, 45, SQLSTATE_57)
        .dest_only()
        .act(A::RetryAfterBackoff),
    rule("destination.sqlstate_53", C::Destination, 45, sqlstate!("53"))
        .dest_only()
        .act(A::RetryAfterBackoff),
    // ---- config: a setting is wrong or unsupported --------------------------------------------------
    // A replication slot held by another consumer must be released first.
    rule("config.slot_in_use", C::Config, 90,
        concat!(
            r"replication slot[^.\n]{0,60}(?:is (?:already )?active|in use by|held by|concurrency)",
            r"|slot concurrency|slot \S+ is active for PID",
        ))
        .act(A::PauseConnector),
    rule("config.binlog_settings", C::Config, 88,
        concat!(
            r"binlog_format|binlog[_ ]row[_ ](?:image|metadata)|\blog_bin\b",
            r"|binary log(?:ging)? (?:is )?(?:not |must be )?(?:enabled|disabled|turned on|turned off)",
            r"|binlog (?:is )?(?:not )?(?:enabled|disabled)|not full mode",
            r"|row image[^.\n]{0,20}not[^.\n]{0,10}full|gtid_mode|enforce_gtid_consistency|server_id",
            r"|server_uuid",
        )),
    rule("config.wal_and_slots", C::Config, 88,
        concat!(
            r"wal_level|logical decoding requires|max_replication_slots|max_wal_senders",
            r"|(?:max|maximum)[ _](?:replication[ _])?slots?|slot limit",
            r"|all replication slots are in use",
            r"|replication slot[^.\n]{0,60}(?:does not exist|not found|could not be found|is missing)",
            r"|(?:unable|failed) to find (?:the )?replication slot|(?:decoding|output) plugin|wal2json",
            r"|\bpgoutput\b|test_decoding|decoderbufs|logical_replication|replica identity",
            r"|recovery is in progress|cannot be executed during recovery",
            r"|publication[^.\n]{0,40}does not exist",
        )),
    rule("config.oracle_logminer", C::Config, 88,
        concat!(
            r"supple?mental[_ ]log|ARCHIVELOG|archive ?log mode|CONTINUOUS_MINE|desupported",
            r"|logminer[^.\n]{0,30}not supported|not supported for views",
        )),
    rule("config.change_tracking", C::Config, 80,
        concat!(
            r"change tracking (?:is )?not enabled|(?:CDC|change data capture) (?:is )?not enabled",
            r"|not enabled for change tracking",
        )),
    rule("config.replication_method", C::Config, 80,
        concat!(
            r"(?:unknown|unrecognized|unsupported|invalid) (?:sync|replication) method",
            r"|replication[_ ]method|\bis a view\b|views? (?:are|is) not supported",
        )),
    // Billing-paused warehouses are quota_billing (resource monitor, below): higher priority.
    rule("config.warehouse", C::Config, 85,
        concat!(
            r"warehouse[^.\n]{0,60}(?:is suspended|does not exist|not found)|no active warehouse",
            r"|no (?:default )?warehouse (?:selected|specified)|(?:use|resume) warehouse",
            r"|alter warehouse",
        )),
    rule("config.region_location", C::Config, 86,
        concat!(
            r"region[^.\n]{0,40}(?:is wrong|mismatch|does not match|incorrect|not supported)",
            r"|wrong region|AuthorizationHeaderMalformed|PermanentRedirect",
            r"|(?:different|wrong|invalid|unsupported) (?:locations?|regions?)|not found in location",
            r"|must be addressed using the specified endpoint",
        )),
    rule("config.network_policy", C::Config, 85,
        concat!(
            r"ip address[^.\n]{0,80}(?:does not match|not (?:allowed|permitted|whitelisted|allowlisted|authori[sz]ed))",
            r"|ip (?:allow|white) ?list|is not allowed to access|network policy|client certificate",
            r"|ssl (?:connection )?(?:is )?required|does not support ssl|ssl is not enabled",
            r"|requires? (?:an? )?(?:ssl|tls|encrypted) connection|certificate verify failed",
            r"|self[- ]signed certificate|PKIX path",
        )),
    rule("config.not_enabled", C::Config, 75,
        concat!(
            r"(?:has not|have not|hasn't|haven't|is not|isn't|are not) (?:been )?(?:enabled|activated|turned on)",
            r"|(?:api|service|feature)[^.\n]{0,40}(?:is |has been )?disabled|accessNotConfigured",
            r"|SERVICE_DISABLED|API has not been used|must be enabled",
        )),
    rule("config.version", C::Config, 70,
        concat!(
            r"version (?:must be|is not supported|not supported|is too old|too old)",
            r"|must be (?:at least|>=) (?:version )?\d|minimum (?:supported )?version",
            r"|requires? \w+ version",
        )),
    rule("config.missing_object", C::Config, 70,
        concat!(
            r#"(?:schema|database|dataset|catalog|project|bucket|publication) ["'\[]?[^\s"'\]]*["'\]]? (?:does not exist|not found|doesn't exist)"#,
            r#"|unknown database|invalid catalog name|not found: (?:dataset|project)|NoSuchBucket"#,
            r#"|NoSuchKey|sqlstate\W{0,3}3[DF]000|ORA-12505|ORA-12514|ORA-12154"#,
            r#"|listener does not currently know of"#,
            r#"|does not have a current (?:database|schema|warehouse)"#,
            r#"|no (?:current|default) (?:database|schema)|SCHEMA_NOT_FOUND|CATALOG_NOT_FOUND"#,
            r#"|(?:schema|database|catalog) [^.\n]{0,40}cannot be found"#,
        )),
    rule("config.http_404", C::Config, 60,
        concat!(http_status!("404"), r"|\b404\b[^\n]{0,5}not found|\bNot Found\b|\bNOT_FOUND\b")),
    rule("config.invalid_request", C::Config, 55,
        concat!(
            r"ValidationException",
            r"|invalid (?:projection|expression|query|filter|parameter|argument|configuration|setting|option)",
            r"|syntax error|projection cannot|MALFORMED_QUERY|response too large|responseTooLarge",
            r"|\bINVALID_ARGUMENT\b|max_allowed_packet",
            r"|snapshot isolation[^.\n]{0,60}not (?:allowed|enabled)",
        )),
    rule("config.unsupported", C::Config, 50,
        r"unsupported|not supported|no longer supported|deprecated"),
    // ---- quota_billing: account-level billing, credits and hard object caps -------------------------
    rule("quota_billing.billing", C::QuotaBilling, 95,
        concat!(
            r"billing (?:has not been |is not |isn't )?(?:enabled|disabled|account)|billingNotEnabled",
            r"|BILLING_DISABLED|enable billing|(?:lack of|no|missing|invalid) payment",
            r"|payment (?:required|method|overdue|failed)|\b402\b[^\n]{0,5}payment",
            r"|account (?:is |has been )?suspended",
            r"|(?:out of|insufficient|exhausted|no remaining) credits?|credit (?:limit|balance)",
            r"|free (?:tier|trial|plan|query bytes)|trial (?:has |period )?(?:expired|ended)",
            r"|subscription (?:has )?(?:expired|ended|lapsed)",
            r"|upgrade (?:your|to a (?:paid|higher)) (?:plan|subscription|account|edition)",
        )),
    rule("quota_billing.resource_monitor", C::QuotaBilling, 95, r"resource monitor"),
    rule("quota_billing.object_caps", C::QuotaBilling, 90,
        concat!(
            r"(?:maximum|max)[^.\n]{0,40}limit of [\d,]+ (?:tables|objects|connectors|schemas)",
            r"|(?:table|object|connector)s? (?:count )?limit (?:reached|exceeded)",
            r"|maximum (?:number of )?(?:tables|objects)[^.\n]{0,30}(?:reached|exceeded)",
            r"|too many tables|exceeds? (?:the )?(?:maximum|max) (?:number of )?tables|soft limit",
            r"|(?:account|storage|plan|subscription) (?:quota|limit) (?:exceeded|reached)",
            r"|(?:allowed|included) (?:on|in|by) your (?:current )?(?:plan|subscription|tier)",
        )),
    // Redshift 1040: maximum tables per cluster.
    rule("quota_billing.redshift_1040", C::QuotaBilling, 90, r"(?:error|code)\W{0,12}1040\b")
        .for_connector("redshift"),
    // ---- data: values can't be loaded, or the change-log position is gone ----------------------------
    // Only support can reset a stored message position.
    rule("data.message_position", C::Data, 93,
        concat!(
            r"message position",
            r"|(?:message|event) (?:offset|sequence)[^.\n]{0,40}(?:mismatch|invalid|not found|inconsistent|ahead)",
        ))
        .act(A::PauseConnector),
    rule("data.binlog_position_lost", C::Data, 92,
        concat!(
            r"binlog(?: file)?(?:\(s\)|s)?[^.\n]{0,40}(?:deleted|purged|removed|missing|no longer (?:available|exists?))",
            r"|purged (?:binary |bin)?logs?|could not find (?:first )?log file",
            r"|log file[^.\n]{0,60}(?:not found|no longer|missing|deleted|purged)",
            r"|missed detecting[^.\n]{0,30}(?:binlog|log)",
            r"|(?:unable to|could not|cannot) find (?:the )?(?:first )?(?:binary )?log file",
            r"|position\s*>\s*file size",
            r"|(?:requested|saved|stored|last|current) (?:binlog |log )?position[^.\n]{0,120}(?:greater than|ahead of|beyond|not found|invalid|no longer)",
        ))
        .act(A::ResyncTable),
    rule("data.oplog_position_lost", C::Data, 92,
        concat!(
            r"oplog (?:has )?(?:aged out|rolled over|expired)",
            r"|(?:resume token|resume point)[^.\n]{0,60}(?:no longer|not found|invalid|expired)",
            r"|ChangeStreamHistoryLost|must complete full table sync|clearing state",
        ))
        .act(A::ResyncTable),
    rule("data.redo_log_lost", C::Data, 92,
        concat!(
            r"ORA-01291|ORA-01292|ORA-01343|ORA-00308|ORA-01289|ORA-01371",
            r"|(?:missing|no) (?:archived |redo )?log ?file|corruption in the (?:logstream|redo|log)",
            r"|(?:redo|archived?) log[^.\n]{0,40}(?:missing|not found|deleted|purged|overwritten)",
        ))
        .act(A::ResyncTable),
    rule("data.change_tracking_lost", C::Data, 92,
        concat!(
            r"CHANGE_TRACKING_MIN_VALID_VERSION|min(?:imum)? valid version",
            r"|change tracking[^.\n]{0,40}(?:cleaned up|out of date|no longer valid|expired)",
        ))
        .act(A::ResyncTable),
    rule("data.wal_position_lost", C::Data, 92,
        concat!(
            r"\bLSN\b[^.\n]{0,80}(?:ahead of|behind|mismatch|out of range|outside the range|no longer|is (?:not valid|invalid))",
            r"|(?:last|tracked|confirmed|restart) LSN|requested WAL segment",
            r"|WAL segment[^.\n]{0,40}removed",
            r"|replication slot[^.\n]{0,60}(?:invalidated|can no longer be used)",
            r"|slot has been invalidated",
            r"|(?:stream|change feed|cdc)[^.\n]{0,40}(?:has become|became|is) stale",
        ))
        .act(A::ResyncTable),
    rule("data.bad_values", C::Data, 80,
        concat!(
            r"invalid byte sequence|(?:invalid|malformed|bad) (?:utf-?8|encoding|character)",
            r"|character ?not ?in ?repertoire|untranslatable character",
            r"|(?:numeric|value|number|integer|date|timestamp)[^.\n]{0,20}out[ _]of[ _]range",
            r"|out of range (?:for|value)|CAST_INVALID_INPUT|because it is malformed",
            r"|divide[ _]by[ _]zero|would be truncated|LOB size[^.\n]{0,30}exceeded|invalid digit",
            r"|stl_load_errors|load_error_detail|pars(?:e|ing) error|error parsing",
            r"|incorrect (?:string|integer|decimal|datetime|date|time) value|data too long",
            r"|duplicate entry|cannot be null|foreign key constraint fails",
            r"|cannot insert (?:the value )?(?:a )?null|cannot insert duplicate key",
            r"|violation of (?:primary key|unique key|foreign key|check) constraint|conversion failed",
            r"|ORA-01400|ORA-12899|ORA-01722|ORA-01861|ORA-01843|ORA-01438",
            r"|(?:numeric|timestamp|date|time|boolean|integer)(?: value)? '[^'\n]{0,100}' is not recognized",
            r"|is not recognized as a valid",
            r"|is not a valid (?:integer|number|date|timestamp|boolean|decimal)|invalid input syntax",
            r"|unparse?able|(?:cannot|could not|failed to|unable to) parse",
            r"|invalid (?:date|timestamp|number|numeric|json|utf)",
            r"|malformed (?:json|record|row|data|sheet|csv|file)|value too long",
            r"|string (?:length )?exceeds|data (?:type )?error|data truncat\w*",
            r"|null (?:value|result) in (?:a )?(?:non-nullable|not null) column",
            r"|null value in column[^.\n]{0,60}violates",
            r"|violates (?:foreign key|unique|check|not-null|exclusion) constraint|duplicate key value",
            r"|constraint violation|record (?:is )?(?:too large|larger than)",
            r"|(?:larger|bigger) than \d+ bytes",
            r"|exceeds (?:the )?maximum (?:row|record|document|message) size",
            r"|(?:row|record|document) (?:size )?too large|nested tables?|division by zero",
            r"|(?:numeric|arithmetic) overflow",
        )),
    rule("data.sqlstate_22_23", C::Data, 45, sqlstate!("2[23]")),
    // ---- unknown: no recoverable cause (rule 1) ---------------------------------------------------------
    // A cancellation is not a fault of any category.
    rule("unknown.cancelled", C::Unknown, 40,
        concat!(
            r"(?:sync|job|task|run) (?:has been |was )?cancel+ed",
            r"|cancel+ed (?:by|because of) (?:a |the )?user|user action",
        )),
    rule("unknown.no_cause", C::Unknown, 20,
        concat!(
            r"NullPointerException|unexpected (?:error|exception)|internal error|unknown error",
            r"|something went wrong|exit ?code\s*=?\s*-?[1-9]\d*",
            r"|could not list (?:databases|tables|schemas)|failed to describe|teleport sync error",
            r"|encountered (?:an )?error while|java\.lang\.\w+Exception",
        )),
];

struct CompiledRule {
    rule: &'static Rule,
    regex: Regex,
}

/// Rules compiled once. A pattern that fails to compile is dropped rather than panicking (the
/// `rules_compile` test makes sure none does).
///
/// The rules are compiled as byte regexes without Unicode classes: every keyword in the table
/// is ASCII, and Unicode classes under bounded repeats (`\W{0,12}`, `[^.\n]{0,60}`) multiply
/// into huge automata: 12.4 MB for the table with them, 3.0 MB without (that heap is held for
/// the life of the process). Text matches the same way except that a window such as
/// `[^.\n]{0,60}` counts bytes rather than characters, and `\w` is ASCII: a non-ASCII letter
/// is a separator, as a Unicode `\b` made it slow anyway.
static COMPILED: LazyLock<Vec<CompiledRule>> = LazyLock::new(|| {
    RULES
        .iter()
        .filter_map(|rule| {
            RegexBuilder::new(rule.pattern)
                .unicode(false)
                .case_insensitive(true)
                .multi_line(true)
                .size_limit(16 << 20)
                .build()
                .ok()
                .map(|regex| CompiledRule { rule, regex })
        })
        .collect()
});

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

/// What the text rules need to know besides the text.
struct Context {
    destination_side: bool,
    connector: String,
}

impl Context {
    fn allows(&self, rule: &Rule) -> bool {
        let side_ok = match rule.side {
            Side::Any => true,
            Side::Source => !self.destination_side,
            Side::Destination => self.destination_side,
        };
        side_ok && rule.connector.is_none_or(|c| self.connector.contains(c))
    }
}

/// The best rule match in one text.
#[derive(Debug, Clone)]
struct Hit {
    rule: &'static Rule,
    priority: u8,
    start: usize,
    matched: String,
}

/// Cut `s` to at most `max` bytes on a char boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Highest priority wins; among equals the earliest match (the error usually comes before
/// hints), then table order.
/// `text[range]`, widened to whole characters (a byte class may stop inside one).
fn on_char_boundaries(text: &str, range: std::ops::Range<usize>) -> &str {
    let mut start = range.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = range.end.clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

fn best_hit(text: &str, ctx: &Context) -> Option<Hit> {
    let text = truncate_bytes(text, MAX_SCAN_BYTES);
    if text.trim().is_empty() {
        return None;
    }
    let mut best: Option<Hit> = None;
    for compiled in COMPILED.iter() {
        if !ctx.allows(compiled.rule) {
            continue;
        }
        let Some(m) = compiled.regex.find(text.as_bytes()) else {
            continue;
        };
        let better = match &best {
            None => true,
            Some(b) => {
                compiled.rule.priority > b.priority
                    || (compiled.rule.priority == b.priority && m.start() < b.start)
            }
        };
        if better {
            best = Some(Hit {
                rule: compiled.rule,
                priority: compiled.rule.priority,
                start: m.start(),
                matched: truncate_chars(
                    on_char_boundaries(text, m.range()).trim(),
                    MAX_MATCHED_CHARS,
                ),
            });
        }
    }
    best
}

/// A decision candidate from one signal.
struct Candidate {
    signal: String,
    category: Category,
    transient: bool,
    action: SuggestedAction,
    priority: u8,
    rule: String,
    matched: String,
}

impl Candidate {
    fn from_hit(signal: String, hit: Hit, penalty: u8) -> Self {
        Candidate {
            signal,
            category: hit.rule.category,
            transient: hit.rule.transient(),
            action: hit.rule.action(),
            priority: hit.priority.saturating_sub(penalty),
            rule: hit.rule.id.to_string(),
            matched: hit.matched,
        }
    }

    fn structural(
        signal: &str,
        rule: &str,
        category: Category,
        priority: u8,
        matched: &str,
    ) -> Self {
        Candidate {
            signal: signal.to_string(),
            category,
            transient: category.default_transient(),
            action: category.default_action(),
            priority,
            rule: rule.to_string(),
            matched: truncate_chars(matched, MAX_MATCHED_CHARS),
        }
    }

    fn evidence(&self) -> Evidence {
        Evidence {
            signal: self.signal.clone(),
            rule: self.rule.clone(),
            matched: self.matched.clone(),
        }
    }
}

fn lower(s: Option<&str>) -> String {
    s.map(|s| truncate_bytes(s, 256).to_lowercase())
        .unwrap_or_default()
}

fn notice_text(n: &Notice) -> String {
    let mut text = String::new();
    for part in [&n.code, &n.message, &n.details] {
        let part = truncate_bytes(part, MAX_SCAN_BYTES);
        if !part.trim().is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(part);
        }
    }
    text
}

fn notice_label(kind: &str, key: &str) -> String {
    format!("{kind}:{}", truncate_chars(key.trim(), 80))
}

/// Classify a failure from all its signals.
pub fn classify(signals: &FailureSignals) -> Classification {
    let connector = lower(signals.connector_type.as_deref());
    let task_type = lower(signals.task_type.as_deref());
    let ctx = Context {
        destination_side: connector.contains("destination")
            || connector.contains("warehouse")
            || task_type.contains("warehouse")
            || task_type.contains("destination"),
        connector,
    };

    // Text signals, in the order that breaks ties: reason, tasks, setup tests, warnings.
    let mut candidates: Vec<Candidate> = Vec::new();
    if let Some(hit) = best_hit(&signals.reason, &ctx) {
        candidates.push(Candidate::from_hit("reason".into(), hit, 0));
    }
    for task in &signals.tasks {
        if let Some(hit) = best_hit(&notice_text(task), &ctx) {
            candidates.push(Candidate::from_hit(
                notice_label("task", &task.code),
                hit,
                0,
            ));
        } else if task.code.to_lowercase().contains("reconnect") {
            candidates.push(Candidate::structural(
                &notice_label("task", &task.code),
                "auth.reconnect_task",
                Category::Auth,
                50,
                &task.code,
            ));
        }
    }
    for test in &signals.failing_setup_tests {
        if let Some(hit) = best_hit(&notice_text(test), &ctx) {
            candidates.push(Candidate::from_hit(
                notice_label("setup_test", &test.code),
                hit,
                0,
            ));
        }
    }
    for warning in &signals.warnings {
        if let Some(hit) = best_hit(&notice_text(warning), &ctx) {
            candidates.push(Candidate::from_hit(
                notice_label("warning", &warning.code),
                hit,
                WARNING_PENALTY,
            ));
        }
    }
    // Fivetran asks to reconnect when the stored credentials stopped working.
    if task_type.contains("reconnect") {
        candidates.push(Candidate::structural(
            "task_type",
            "auth.reconnect_task_type",
            Category::Auth,
            50,
            signals.task_type.as_deref().unwrap_or_default(),
        ));
    }

    // Stable max: the first of equal priorities (reason first) wins.
    let mut decided: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        if decided.is_none_or(|d| c.priority > candidates[d].priority) {
            decided = Some(i);
        }
    }

    let Some(d) = decided else {
        return fallback(signals);
    };
    let winner = &candidates[d];
    let mut evidence = vec![winner.evidence()];
    evidence.extend(
        candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != d)
            .map(|(_, c)| c.evidence())
            .take(4),
    );

    // Confidence grows with the rule's priority and with agreement between signals, and drops
    // when another signal points elsewhere with a similar priority.
    let mut confidence = 0.35 + 0.6 * f32::from(winner.priority) / 100.0;
    for (i, c) in candidates.iter().enumerate() {
        if i == d {
            continue;
        }
        if c.category == winner.category {
            confidence += 0.03;
        } else if c.priority + 10 >= winner.priority {
            confidence -= 0.1;
        }
    }
    Classification {
        category: winner.category,
        transient: winner.transient,
        action: winner.action,
        confidence: confidence.clamp(0.05, 0.99),
        evidence,
    }
}

/// No text rule matched: fall back on the states.
fn fallback(signals: &FailureSignals) -> Classification {
    let status = lower(signals.status.as_deref());
    let setup = lower(signals.setup_state.as_deref());
    let make = |category: Category, action: SuggestedAction, confidence: f32, ev: Evidence| {
        Classification {
            category,
            transient: category.default_transient(),
            action,
            confidence,
            evidence: vec![ev],
        }
    };
    let ev = |signal: &str, rule: &str, matched: &str| Evidence {
        signal: signal.to_string(),
        rule: rule.to_string(),
        matched: truncate_chars(matched, MAX_MATCHED_CHARS),
    };
    if status.contains("cancel") {
        // Rule 1: a cancelled sync is no fault of any category.
        return make(
            Category::Unknown,
            SuggestedAction::RetrySync,
            0.6,
            ev("status", "unknown.status_canceled", &status),
        );
    }
    if status.contains("rescheduled") {
        // Fivetran reschedules a sync when the source asked it to wait (quota / rate limit).
        return make(
            Category::RateLimit,
            SuggestedAction::RetryAfterBackoff,
            0.4,
            ev("status", "rate_limit.status_rescheduled", &status),
        );
    }
    if setup == "broken" {
        // A broken setup needs someone to fix the connection's settings or credentials.
        return make(
            Category::Config,
            SuggestedAction::Escalate,
            0.3,
            ev("setup_state", "config.setup_broken", &setup),
        );
    }
    make(
        Category::Unknown,
        SuggestedAction::RetrySync,
        0.2,
        ev("none", "unknown.no_match", ""),
    )
}

/// Convenience: classify a single error message.
pub fn classify_message(message: &str, connector_type: Option<&str>) -> Classification {
    classify(&FailureSignals {
        reason: truncate_bytes(message, MAX_SCAN_BYTES).to_string(),
        connector_type: connector_type.map(str::to_string),
        ..FailureSignals::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(msg: &str, connector: Option<&str>) -> Category {
        classify_message(msg, connector).category
    }

    fn check(msg: &str, connector: Option<&str>, category: Category, action: SuggestedAction) {
        let c = classify_message(msg, connector);
        assert_eq!(
            (c.category, c.action),
            (category, action),
            "message: {msg:?} evidence: {:?}",
            c.evidence
        );
        assert_eq!(
            c.transient,
            category.default_transient() && action != SuggestedAction::Escalate,
            "transient for {msg:?}"
        );
    }

    #[test]
    fn a_match_ending_inside_a_character_is_widened_to_it() {
        let text = "quota é exceeded";
        let e = text.find('é').unwrap();
        assert_eq!(on_char_boundaries(text, e + 1..e + 1), "é");
        assert_eq!(on_char_boundaries(text, 0..e + 1), "quota é");
        assert_eq!(on_char_boundaries(text, 0..99), text);
    }

    #[test]
    fn rules_compile() {
        assert_eq!(
            COMPILED.len(),
            RULES.len(),
            "every rule pattern must compile"
        );
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "rule ids must be unique");
    }

    #[test]
    fn names_and_serde() {
        for c in Category::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert!(!c.label().is_empty());
        }
        for a in SuggestedAction::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        let s: FailureSignals = serde_json::from_str(r#"{"reason":"x"}"#).unwrap();
        assert_eq!(s.reason, "x");
    }

    #[test]
    fn rate_limit_rules() {
        use SuggestedAction::*;
        check(
            "HTTP 429 Too Many Requests: retry after 60s",
            None,
            Category::RateLimit,
            RetryAfterBackoff,
        );
        check(
            "googleapi: Error 403: User Rate Limit Exceeded, userRateLimitExceeded",
            Some("google_analytics"),
            Category::RateLimit,
            RetryAfterBackoff,
        );
        check(
            "You have reached your daily limit of 250000 API calls.",
            Some("hubspot"),
            Category::RateLimit,
            ReduceSyncFrequency,
        );
        check(
            "(#4) Application request limit reached",
            Some("facebook_ads"),
            Category::RateLimit,
            RetryAfterBackoff,
        );
        check(
            "ThrottlingException: Rate exceeded for operation ListObjects",
            Some("s3"),
            Category::RateLimit,
            RetryAfterBackoff,
        );
        check(
            "error code 607: Daily quota reached",
            Some("marketo"),
            Category::RateLimit,
            ReduceSyncFrequency,
        );
    }

    #[test]
    fn auth_rules() {
        use SuggestedAction::*;
        check(
            "FATAL: password authentication failed for user \"fivetran\"",
            Some("postgres"),
            Category::Auth,
            Escalate,
        );
        check(
            "Access denied for user 'etl'@'10.0.0.4' (using password: YES)",
            Some("mysql"),
            Category::Auth,
            Escalate,
        );
        check("{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or revoked.\"}", Some("google_sheets"), Category::Auth, Escalate);
        check(
            "401 Unauthorized: The API key provided is not valid",
            Some("stripe"),
            Category::Auth,
            Escalate,
        );
        check(
            "ORA-01017: invalid username/password; logon denied",
            Some("oracle"),
            Category::Auth,
            Escalate,
        );
    }

    #[test]
    fn permissions_rules() {
        use SuggestedAction::*;
        check(
            "ERROR: permission denied for table orders",
            Some("postgres"),
            Category::Permissions,
            Escalate,
        );
        check(
            "The SELECT permission was denied on the object 'Customers'",
            Some("sql_server"),
            Category::Permissions,
            Escalate,
        );
        check(
            "Request had insufficient authentication scopes.",
            Some("google_ads"),
            Category::Permissions,
            Escalate,
        );
        check(
            "INSUFFICIENT_ACCESS_OR_READONLY: insufficient access rights on object id",
            Some("salesforce"),
            Category::Permissions,
            Escalate,
        );
        check(
            "403 Forbidden: this app is missing the read_orders scope",
            Some("shopify"),
            Category::Permissions,
            Escalate,
        );
    }

    #[test]
    fn source_unavailable_rules() {
        use SuggestedAction::*;
        check(
            "503 Service Unavailable",
            Some("zendesk"),
            Category::SourceUnavailable,
            RetryAfterBackoff,
        );
        check("FATAL: remaining connection slots are reserved for non-replication superuser connections", Some("postgres"), Category::SourceUnavailable, RetryAfterBackoff);
        check(
            "The server is currently under maintenance, please try again later",
            Some("jira"),
            Category::SourceUnavailable,
            RetryAfterBackoff,
        );
        check(
            "ORA-04031: unable to allocate 4096 bytes of shared memory",
            Some("oracle"),
            Category::SourceUnavailable,
            Escalate,
        );
        assert!(
            !classify_message(
                "ORA-04031: unable to allocate 4096 bytes of shared memory",
                None
            )
            .transient
        );
    }

    #[test]
    fn network_rules() {
        use SuggestedAction::*;
        check(
            "dial tcp 10.1.2.3:5432: connect: connection refused",
            Some("postgres"),
            Category::Network,
            Escalate,
        );
        check(
            "java.net.UnknownHostException: db.internal.example.com",
            Some("mysql"),
            Category::Network,
            Escalate,
        );
        check("Communications link failure: The last packet sent successfully to the server was 0 ms ago", Some("mysql"), Category::Network, RetrySync);
        check(
            "connect ETIMEDOUT 52.1.2.3:443",
            Some("hubspot"),
            Category::Network,
            RetryAfterBackoff,
        );
        check(
            "java.net.SocketTimeoutException: Read timed out",
            Some("netsuite"),
            Category::Network,
            RetrySync,
        );
    }

    #[test]
    fn schema_change_rules() {
        use SuggestedAction::*;
        check(
            "ERROR: tables can have at most 1600 columns",
            Some("postgres destination"),
            Category::SchemaChange,
            Escalate,
        );
        check(
            "ERROR: column \"amount\" is of type numeric but expression is of type text",
            Some("postgres destination"),
            Category::SchemaChange,
            ResyncTable,
        );
        check(
            "Unknown column 'legacy_flag' in 'field list'",
            Some("mysql"),
            Category::SchemaChange,
            ReloadSchema,
        );
        check(
            "cannot drop table orders because other objects depend on it",
            Some("postgres destination"),
            Category::SchemaChange,
            Escalate,
        );
        check(
            "The primary key of table accounts changed from (id) to (id, region)",
            Some("snowflake destination"),
            Category::SchemaChange,
            ResyncTable,
        );
    }

    #[test]
    fn destination_rules() {
        use SuggestedAction::*;
        check(
            "ERROR: deadlock detected DETAIL: Process 123 waits for ShareLock",
            Some("postgres destination"),
            Category::Destination,
            RetrySync,
        );
        check("Statement was aborted because the number of waiters for this lock exceeds the 20 statements limit", Some("snowflake destination"), Category::Destination, RetrySync);
        check(
            "could not extend file \"base/16384/2619\": No space left on device",
            Some("postgres destination"),
            Category::Destination,
            Escalate,
        );
        check(
            "The cluster is being resized; try again later",
            Some("redshift destination"),
            Category::Destination,
            RetryAfterBackoff,
        );
        check(
            "Error 503: Backend Error",
            Some("bigquery destination"),
            Category::Destination,
            RetrySync,
        );
    }

    #[test]
    fn config_rules() {
        use SuggestedAction::*;
        check(
            "ERROR: logical decoding requires wal_level >= logical",
            Some("postgres"),
            Category::Config,
            Escalate,
        );
        check(
            "replication slot \"fivetran_slot\" is active for PID 4242",
            Some("postgres"),
            Category::Config,
            PauseConnector,
        );
        check(
            "No active warehouse selected in the current session.",
            Some("snowflake destination"),
            Category::Config,
            Escalate,
        );
        check(
            "Cannot read and write in different locations: source: US, destination: EU",
            Some("bigquery destination"),
            Category::Config,
            Escalate,
        );
        check(
            "Change tracking is not enabled on table dbo.Orders",
            Some("sql_server"),
            Category::Config,
            Escalate,
        );
        check(
            "ORA-00439: feature not enabled: Supplemental logging",
            Some("oracle"),
            Category::Config,
            Escalate,
        );
    }

    #[test]
    fn quota_billing_rules() {
        use SuggestedAction::*;
        check(
            "Your trial has expired. Upgrade your plan to keep syncing.",
            Some("any"),
            Category::QuotaBilling,
            Escalate,
        );
        check(
            "BigQuery: Billing has been disabled for this project (billingNotEnabled)",
            Some("bigquery destination"),
            Category::QuotaBilling,
            Escalate,
        );
        check(
            "ERROR: 1040 Detail: Maximum tables limit exceeded",
            Some("redshift destination"),
            Category::QuotaBilling,
            Escalate,
        );
        check(
            "402 Payment Required: the account has insufficient credits",
            Some("any"),
            Category::QuotaBilling,
            Escalate,
        );
    }

    #[test]
    fn data_rules() {
        use SuggestedAction::*;
        check(
            "ERROR: duplicate key value violates unique constraint \"users_pkey\"",
            Some("postgres destination"),
            Category::Data,
            Escalate,
        );
        check("Got fatal error 1236 from master when reading data from binary log: 'Could not find first log file name in binary log index file'", Some("mysql"), Category::Data, ResyncTable);
        check(
            "ERROR: requested WAL segment 000000010000000A000000F1 has already been removed",
            Some("postgres"),
            Category::Data,
            ResyncTable,
        );
        check(
            "Date '2023-02-30' is not recognized as a valid date",
            Some("snowflake destination"),
            Category::Data,
            Escalate,
        );
        check(
            "ERROR: invalid input syntax for type integer: \"abc\"",
            Some("postgres destination"),
            Category::Data,
            Escalate,
        );
    }

    #[test]
    fn unknown_rules() {
        use SuggestedAction::*;
        check(
            "java.lang.NullPointerException at com.example.Sync.run",
            Some("hubspot"),
            Category::Unknown,
            RetrySync,
        );
        check(
            "Process exited with exit code 137",
            Some("any"),
            Category::Unknown,
            RetrySync,
        );
        check("", None, Category::Unknown, RetrySync);
        check(
            "Something went wrong, please contact support",
            None,
            Category::Unknown,
            RetrySync,
        );
        let c = classify_message("", None);
        assert!(c.transient && c.confidence < 0.3);
        assert_eq!(c.evidence[0].signal, "none");
    }

    #[test]
    fn multi_signal() {
        // A generic reason loses to a specific task.
        let s = FailureSignals {
            reason: "Sync failed".into(),
            tasks: vec![Notice {
                code: "reconnect".into(),
                message: "INVALID_SESSION_ID: Session expired or invalid".into(),
                details: String::new(),
            }],
            ..Default::default()
        };
        let c = classify(&s);
        assert_eq!(c.category, Category::Auth);
        assert_eq!(c.evidence[0].signal, "task:reconnect");

        // reconnect task type with no text.
        let s = FailureSignals {
            task_type: Some("reconnect_warehouse".into()),
            status: Some("FAILURE_WITH_TASK".into()),
            ..Default::default()
        };
        let c = classify(&s);
        assert_eq!(c.category, Category::Auth);
        assert_eq!(c.evidence[0].signal, "task_type");

        // CANCELED with nothing else.
        let s = FailureSignals {
            status: Some("CANCELED".into()),
            ..Default::default()
        };
        let c = classify(&s);
        assert_eq!(
            (c.category, c.action),
            (Category::Unknown, SuggestedAction::RetrySync)
        );
        assert_eq!(c.evidence[0].signal, "status");

        // Failing setup test.
        let s = FailureSignals {
            failing_setup_tests: vec![Notice {
                code: "Connecting to database".into(),
                message: "Connection refused (Connection refused)".into(),
                details: String::new(),
            }],
            ..Default::default()
        };
        let c = classify(&s);
        assert_eq!(c.category, Category::Network);
        assert!(c.evidence[0].signal.starts_with("setup_test:"));

        // Broken setup with no text.
        let s = FailureSignals {
            setup_state: Some("broken".into()),
            ..Default::default()
        };
        assert_eq!(classify(&s).category, Category::Config);
    }

    #[test]
    fn no_panic_on_odd_inputs() {
        let huge = "x".repeat(1 << 20);
        let huge_multibyte = "é🚀".repeat(300_000);
        let inputs: Vec<String> = vec![
            String::new(),
            " \n\t ".into(),
            huge.clone(),
            huge_multibyte.clone(),
            format!("{}429 Too Many Requests", "ü".repeat(5000)),
            "接続がタイムアウトしました timed out 😀".into(),
            "\u{0}\u{fffd}\u{202e}permission denied".into(),
            "(".repeat(10_000),
        ];
        for input in &inputs {
            let c = classify_message(input, Some(input));
            assert!((0.0..=1.0).contains(&c.confidence));
            assert!(!c.evidence.is_empty());
            for e in &c.evidence {
                assert!(e.matched.chars().count() <= MAX_MATCHED_CHARS);
            }
            let notice = Notice {
                code: input.clone(),
                message: input.clone(),
                details: input.clone(),
            };
            let s = FailureSignals {
                reason: input.clone(),
                status: Some(input.clone()),
                task_type: Some(input.clone()),
                connector_type: Some(input.clone()),
                setup_state: Some(input.clone()),
                sync_state: Some(input.clone()),
                update_state: Some(input.clone()),
                tasks: vec![notice.clone(); 3],
                warnings: vec![notice.clone(); 3],
                failing_setup_tests: vec![notice],
            };
            let c = classify(&s);
            assert!((0.0..=1.0).contains(&c.confidence));
        }
        assert_eq!(
            cat(&format!("{}permission denied", "é".repeat(100)), None),
            Category::Permissions
        );
    }

    /// Phrasings from other vendors and drivers than the corpus (written for this test): the
    /// rules must generalise beyond the dev records.
    #[test]
    fn other_vendor_phrasings() {
        use Category as C;
        use SuggestedAction as A;
        #[rustfmt::skip]
        let cases: &[(&str, &str, C, A)] = &[
        ("FATAL: role \"fivetran\" does not exist", "postgres", C::Auth, A::Escalate),
        ("Login failed for user 'fivetran'.", "sql_server", C::Auth, A::Escalate),
        ("Cannot open database \"sales\" requested by the login. The login failed.", "sql_server", C::Auth, A::Escalate),
        ("The security token included in the request is expired", "dynamodb", C::Auth, A::Escalate),
        ("The token used in the request has expired", "linkedin_ads", C::Auth, A::Escalate),
        ("User temporarily locked", "snowflake destination", C::Auth, A::Escalate),
        ("Couldn't authenticate you", "zendesk", C::Auth, A::Escalate),
        ("AuthenticationError.OAUTH_TOKEN_EXPIRED", "google_ads", C::Auth, A::Escalate),
        ("Invalid API Key provided: sk_live_****1234", "stripe", C::Auth, A::Escalate),
        ("601 Access token invalid", "marketo", C::Auth, A::Escalate),
        ("Command failed with error 18 (AuthenticationFailed): 'Authentication failed.'", "mongodb", C::Auth, A::Escalate),
        ("ORA-28000: the account is locked", "oracle", C::Auth, A::Escalate),
        ("The AWS Access Key Id you provided does not exist in our records.", "s3", C::Auth, A::Escalate),
        ("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]", "postgres", C::Auth, A::Escalate),
        ("SELECT command denied to user 'etl'@'10.0.0.1' for table 'orders'", "mysql", C::Permissions, A::Escalate),
        ("Access denied for user 'etl'@'%' to database 'shop'", "mysql", C::Permissions, A::Escalate),
        ("The user does not have the REPLICATION SLAVE privilege", "mysql", C::Permissions, A::Escalate),
        ("ERROR: must be superuser or replication role to use replication slots", "postgres", C::Permissions, A::Escalate),
        ("ORA-00942: table or view does not exist", "oracle", C::Permissions, A::Escalate),
        ("Object 'ANALYTICS.PUBLIC.ORDERS' does not exist or not authorized.", "snowflake destination", C::Permissions, A::Escalate),
        ("This app hasn't been granted all required scopes to make this call.", "hubspot", C::Permissions, A::Escalate),
        ("(#200) Requires ads_read permission to manage the object", "facebook_ads", C::Permissions, A::Escalate),
        ("(#100) Missing permissions", "facebook_ads", C::Permissions, A::Escalate),
        ("API_CURRENTLY_DISABLED: API is disabled for this User", "salesforce", C::Permissions, A::Escalate),
        ("INSUFFICIENT_PERMISSION: You do not have the permissions required to perform this operation", "netsuite", C::Permissions, A::Escalate),
        ("svc@project.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object.", "gcs", C::Permissions, A::Escalate),
        ("The VIEW SERVER STATE permission was denied on object 'server', database 'master'.", "sql_server", C::Permissions, A::Escalate),
        ("[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have USE SCHEMA on Schema 'main.raw'.", "databricks destination", C::Permissions, A::Escalate),
        ("googleapi: Error 403: The caller does not have permission, forbidden", "google_sheets", C::Permissions, A::Escalate),
        ("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com'", "google_sheets", C::RateLimit, A::RetryAfterBackoff),
        ("Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'analyticsdata.googleapis.com'", "google_analytics_4", C::RateLimit, A::ReduceSyncFrequency),
        ("You have reached your ten_secondly_rolling limit.", "hubspot", C::RateLimit, A::RetryAfterBackoff),
        ("(#80004) There have been too many calls to this ad-account. Wait a bit and try again.", "facebook_ads", C::RateLimit, A::RetryAfterBackoff),
        ("Resource level throttle limit for calls to this resource is reached.", "linkedin_ads", C::RateLimit, A::RetryAfterBackoff),
        ("Max rate limit '100' exceeded with in '20' secs", "marketo", C::RateLimit, A::RetryAfterBackoff),
        ("Export daily quota exceeded", "marketo", C::RateLimit, A::ReduceSyncFrequency),
        ("Max number of batches per rolling 24 hours exceeded", "salesforce", C::RateLimit, A::ReduceSyncFrequency),
        ("Request rate limit exceeded", "stripe", C::RateLimit, A::RetryAfterBackoff),
        ("Too many DML statements outstanding against table x, limit is 20", "bigquery destination", C::RateLimit, A::RetryAfterBackoff),
        ("RESOURCE_TEMPORARILY_EXHAUSTED: Too many requests. Retry in 30 seconds", "google_ads", C::RateLimit, A::RetryAfterBackoff),
        ("Throttled", "shopify", C::RateLimit, A::RetryAfterBackoff),
        ("FATAL: the database system is in recovery mode", "postgres", C::SourceUnavailable, A::RetryAfterBackoff),
        ("FATAL: terminating connection due to administrator command", "postgres", C::SourceUnavailable, A::RetryAfterBackoff),
        ("ORA-01034: ORACLE not available", "oracle", C::SourceUnavailable, A::RetryAfterBackoff),
        ("ORA-00257: archiver error. Connect internal only, until freed.", "oracle", C::SourceUnavailable, A::Escalate),
        ("502 Bad Gateway", "jira", C::SourceUnavailable, A::RetryAfterBackoff),
        ("(#2) Service temporarily unavailable", "facebook_ads", C::SourceUnavailable, A::RetryAfterBackoff),
        ("Timed out after 30000 ms while waiting to connect. No primary found in set", "mongodb", C::SourceUnavailable, A::RetryAfterBackoff),
        ("ERROR: out of shared memory HINT: You might need to increase max_locks_per_transaction.", "postgres", C::SourceUnavailable, A::RetryAfterBackoff),
        ("MySQL server has gone away", "mysql", C::Network, A::RetrySync),
        ("Lost connection to MySQL server during query", "mysql", C::Network, A::RetrySync),
        ("ORA-03113: end-of-file on communication channel", "oracle", C::Network, A::RetrySync),
        ("The TCP/IP connection to the host db.example.com, port 1433 has failed. Error: \"connect timed out\"", "sql_server", C::Network, A::RetryAfterBackoff),
        ("could not translate host name \"db.internal\" to address: Name or service not known", "postgres", C::Network, A::Escalate),
        ("SSL connection has been closed unexpectedly", "postgres", C::Network, A::RetrySync),
        ("java.net.SocketException: Connection reset", "mysql", C::Network, A::RetrySync),
        ("Invalid schema update. Field amount has changed type from STRING to FLOAT", "bigquery destination", C::SchemaChange, A::ResyncTable),
        ("Provided Schema does not match Table p:d.t. Field id has changed mode from REQUIRED to NULLABLE", "bigquery destination", C::SchemaChange, A::ResyncTable),
        ("[DELTA_FAILED_TO_MERGE_FIELDS] Failed to merge fields 'price' and 'price'", "databricks destination", C::SchemaChange, A::ResyncTable),
        ("Invalid column name 'LegacyCode'.", "sql_server", C::SchemaChange, A::ReloadSchema),
        ("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `foo` cannot be resolved.", "databricks destination", C::SchemaChange, A::ReloadSchema),
        ("ORA-00904: \"LEGACY_COL\": invalid identifier", "oracle", C::SchemaChange, A::ReloadSchema),
        ("Identifier 'a_very_long_column_name' is too long (max 128 characters)", "snowflake destination", C::SchemaChange, A::Escalate),
        ("ERROR: cannot alter type of a column used by a view or rule", "postgres destination", C::SchemaChange, A::Escalate),
        ("Transaction (Process ID 57) was deadlocked on lock resources with another process and has been chosen as the deadlock victim.", "sql_server destination", C::Destination, A::RetrySync),
        ("[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added to the root of the table by a concurrent update.", "databricks destination", C::Destination, A::RetrySync),
        ("ERROR: could not open relation with OID 123456", "redshift destination", C::Destination, A::RetrySync),
        ("Resources exceeded during query execution: Not enough resources for query planning", "bigquery destination", C::Destination, A::RetryAfterBackoff),
        ("SQL execution internal error: Processing aborted due to error 300002:2523566", "snowflake destination", C::Destination, A::RetrySync),
        ("The job encountered an internal error during execution and was unable to complete successfully.", "bigquery destination", C::Destination, A::RetrySync),
        ("S3ServiceException:The provided token has expired.,Status 400,Error ExpiredToken", "redshift destination", C::Destination, A::RetrySync),
        ("ERROR: Disk Full Detail: error: Disk Full code: 1016", "redshift destination", C::Destination, A::Escalate),
        ("ERROR: logical decoding requires wal_level >= logical", "postgres", C::Config, A::Escalate),
        ("ERROR: replication slot \"fivetran\" does not exist", "postgres", C::Config, A::Escalate),
        ("ERROR: publication \"fivetran_pub\" does not exist", "postgres", C::Config, A::Escalate),
        ("FATAL: database \"prod\" does not exist", "postgres", C::Config, A::Escalate),
        ("Unknown database 'shop'", "mysql", C::Config, A::Escalate),
        ("Not found: Dataset my-project:raw_data", "bigquery destination", C::Config, A::Escalate),
        ("Cannot perform CREATE TABLE. This session does not have a current database. Call 'USE DATABASE', or use a qualified name.", "snowflake destination", C::Config, A::Escalate),
        ("Incoming request with IP/Token 1.2.3.4 is not allowed to access Snowflake.", "snowflake destination", C::Config, A::Escalate),
        ("pq: SSL is not enabled on the server", "redshift destination", C::Config, A::Escalate),
        ("The database is not in ARCHIVELOG mode", "oracle", C::Config, A::Escalate),
        ("Cannot read and write in different locations: source: EU, destination: US", "bigquery destination", C::Config, A::Escalate),
        ("ORA-12154: TNS:could not resolve the connect identifier specified", "oracle", C::Config, A::Escalate),
        ("BigQuery API has not been used in project 123 before or it is disabled.", "bigquery destination", C::Config, A::Escalate),
        ("Your free trial has ended. Add a payment method to continue.", "snowflake destination", C::QuotaBilling, A::Escalate),
        ("You have exceeded the maximum number of connectors allowed on your plan", "any", C::QuotaBilling, A::Escalate),
        ("ERROR: 1040 Detail: Maximum tables limit exceeded. The maximum number of tables per cluster is 9900", "redshift destination", C::QuotaBilling, A::Escalate),
        ("Got fatal error 1236 from source when reading data from binary log: 'The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged binary logs containing GTIDs that the slave requires.'", "mysql", C::Data, A::ResyncTable),
        ("Client requested master to start replication from position > file size", "mysql", C::Data, A::ResyncTable),
        ("Unable to find binary log file mysql-bin.000123", "mysql", C::Data, A::ResyncTable),
        ("Resume of change stream was not possible, as the resume point may no longer be in the oplog.", "mongodb", C::Data, A::ResyncTable),
        ("ERROR: cannot use replication slot \"fivetran\" for logical decoding DETAIL: This slot has been invalidated because it exceeded the maximum reserved size.", "postgres", C::Data, A::ResyncTable),
        ("Stream ORDERS_STREAM has become stale", "snowflake", C::Data, A::ResyncTable),
        ("ERROR: value too long for type character varying(256)", "postgres destination", C::Data, A::Escalate),
        ("Incorrect string value: '\\xF0\\x9F\\x98\\x80' for column 'name' at row 1", "mysql destination", C::Data, A::Escalate),
        ("String or binary data would be truncated.", "sql_server destination", C::Data, A::Escalate),
        ("Violation of PRIMARY KEY constraint 'PK_orders'. Cannot insert duplicate key in object 'dbo.orders'.", "sql_server destination", C::Data, A::Escalate),
        ("[CAST_INVALID_INPUT] The value 'abc' of the type \"STRING\" cannot be cast to \"INT\" because it is malformed.", "databricks destination", C::Data, A::Escalate),
        ("Load into table 'orders' failed. Check 'stl_load_errors' system table for details.", "redshift destination", C::Data, A::Escalate),
        ("ORA-01722: invalid number", "oracle", C::Data, A::Escalate),
        ("An unexpected error occurred", "any", C::Unknown, A::RetrySync),
        ("(#1) An unknown error occurred", "facebook_ads", C::Unknown, A::RetrySync),
        ("Sync has been cancelled because connection was paused", "any", C::Unknown, A::RetrySync),
        ("Process finished with exit code 2", "connector_sdk", C::Unknown, A::RetrySync),
        ("403 Forbidden: Daily Limit Exceeded. The quota will be reset at midnight Pacific Time", "google_analytics", C::RateLimit, A::ReduceSyncFrequency),
        ("HTTP 429: You have exceeded your monthly API quota", "iterable", C::RateLimit, A::ReduceSyncFrequency),
        ("Error 500 in row 12: value 'abc' is not a valid integer", "google_sheets", C::Data, A::Escalate),
        ("Timeout waiting for lock on table orders: lock wait timeout exceeded; try restarting transaction", "mysql destination", C::Destination, A::RetrySync),
        ("ERROR: canceling statement due to statement timeout", "postgres", C::Network, A::RetryAfterBackoff),
        ("Field 'Custom__c' not found on object Account", "salesforce", C::SchemaChange, A::ReloadSchema),
        ("Not found: Table my-project:raw.orders was not found in location US", "bigquery destination", C::Config, A::Escalate),
        ("java.sql.SQLException: Access denied for user 'fivetran'@'1.2.3.4' (using password: YES)", "mysql", C::Auth, A::Escalate),
        ("psql: error: connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  password authentication failed for user \"x\"", "postgres", C::Auth, A::Escalate),
        ("connection to server at \"db\" (10.0.0.5), port 5432 failed: Connection refused", "postgres", C::Network, A::Escalate),
        ("HTTPSConnectionPool(host='api.example.com', port=443): Read timed out. (read timeout=60)", "jira", C::Network, A::RetrySync),
        ("Sync has been rescheduled because of API rate limit", "any", C::RateLimit, A::RetryAfterBackoff),
        ("The warehouse is being resized", "snowflake destination", C::Destination, A::RetryAfterBackoff),
        ("{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}]}", "shopify", C::RateLimit, A::RetryAfterBackoff),
        ("ERROR: null value in column \"id\" violates not-null constraint", "postgres destination", C::Data, A::Escalate),
        ("ERROR: column \"x\" of relation \"y\" does not exist", "postgres destination", C::SchemaChange, A::ReloadSchema),
        ("Table 'shop.orders' doesn't exist", "mysql", C::SchemaChange, A::ReloadSchema),
        ("Your Stripe account has been suspended due to unpaid invoices", "stripe", C::QuotaBilling, A::Escalate),
        ("Error 503: The service is currently unavailable., backendError", "bigquery destination", C::Destination, A::RetrySync),
        ("HTTP/1.1 503 Service Unavailable", "zendesk", C::SourceUnavailable, A::RetryAfterBackoff),
        ("An error occurred while fetching row 429 of sheet Orders", "google_sheets", C::Unknown, A::RetrySync),
        ("Unauthorized: invalid token", "intercom", C::Auth, A::Escalate),
        ("Error: insufficient_scope - the access token does not have the read:users scope", "auth0", C::Permissions, A::Escalate),
    ];
        let mut misses = Vec::new();
        for (msg, connector, category, action) in cases {
            let c = classify_message(msg, Some(connector));
            if (c.category, c.action) != (*category, *action) {
                misses.push(format!(
                    "{msg:?}: want {}/{} got {}/{} via {}",
                    category.as_str(),
                    action.as_str(),
                    c.category.as_str(),
                    c.action.as_str(),
                    c.evidence[0].rule
                ));
            }
        }
        assert!(misses.is_empty(), "misclassified:\n{}", misses.join("\n"));
    }

    // ---- corpus --------------------------------------------------------------------------------

    #[derive(serde::Deserialize)]
    struct Record {
        id: String,
        message: String,
        connector_type: String,
        category: Category,
        transient: bool,
        action: SuggestedAction,
    }

    fn corpus() -> Vec<Record> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fivetran-errors/dev.jsonl"
        );
        let text = std::fs::read_to_string(path).expect("read corpus");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("parse corpus line"))
            .collect()
    }

    #[test]
    fn corpus_accuracy() {
        let records = corpus();
        let n = records.len();
        assert!(n > 0);
        let mut cat_ok = 0usize;
        let mut trans_ok = 0usize;
        let mut act_ok = 0usize;
        let mut baseline_ok = 0usize;
        let mut misses = Vec::new();
        // per category: (true positives, predicted, support)
        let mut stats = [(0usize, 0usize, 0usize); 11];
        let idx = |c: Category| Category::ALL.iter().position(|x| *x == c).unwrap_or(0);
        for r in &records {
            let c = classify_message(&r.message, Some(&r.connector_type));
            stats[idx(r.category)].2 += 1;
            stats[idx(c.category)].1 += 1;
            if c.category == r.category {
                cat_ok += 1;
                stats[idx(r.category)].0 += 1;
            }
            trans_ok += usize::from(c.transient == r.transient);
            act_ok += usize::from(c.action == r.action);
            baseline_ok += usize::from(r.action == SuggestedAction::Escalate);
            if c.category != r.category || c.transient != r.transient || c.action != r.action {
                misses.push(format!(
                    "  {:<40} want {}/{}/{} got {}/{}/{} via {}",
                    r.id,
                    r.category.as_str(),
                    r.transient,
                    r.action.as_str(),
                    c.category.as_str(),
                    c.transient,
                    c.action.as_str(),
                    c.evidence[0].rule
                ));
            }
        }
        let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        println!(
            "\n{:<20} {:>9} {:>9} {:>8}",
            "category", "precision", "recall", "support"
        );
        let mut recall_sum = 0.0;
        let mut recall_n = 0usize;
        for (i, c) in Category::ALL.iter().enumerate() {
            let (tp, pred, support) = stats[i];
            if support > 0 {
                recall_sum += pct(tp, support);
                recall_n += 1;
            }
            println!(
                "{:<20} {:>9.3} {:>9.3} {:>8}",
                c.as_str(),
                pct(tp, pred),
                pct(tp, support),
                support
            );
        }
        let cat_acc = pct(cat_ok, n);
        let trans_acc = pct(trans_ok, n);
        let act_acc = pct(act_ok, n);
        let macro_recall = recall_sum / recall_n.max(1) as f64;
        let baseline = pct(baseline_ok, n);
        println!("records: {n}");
        println!("category accuracy:  {cat_acc:.3} ({cat_ok}/{n})");
        println!("transient accuracy: {trans_acc:.3} ({trans_ok}/{n})");
        println!("action accuracy:    {act_acc:.3} ({act_ok}/{n})");
        println!("macro recall (category): {macro_recall:.3}");
        println!("baseline 'always escalate' action accuracy: {baseline:.3} ({baseline_ok}/{n})");
        if !misses.is_empty() {
            println!("mismatches:");
            for m in &misses {
                println!("{m}");
            }
        }
        assert!(cat_acc >= 0.90, "category accuracy {cat_acc}");
        assert!(trans_acc >= 0.90, "transient accuracy {trans_acc}");
        assert!(act_acc >= 0.85, "action accuracy {act_acc}");
        assert!(
            macro_recall > baseline,
            "macro recall {macro_recall} <= baseline {baseline}"
        );
    }

    /// Guard against overfitting: no pattern may quote 40+ characters of a corpus message.
    #[test]
    fn no_verbatim_corpus_text_in_rules() {
        const WINDOW: usize = 40;
        let patterns: Vec<(String, String)> = RULES
            .iter()
            .map(|r| {
                let p = r.pattern.to_lowercase();
                (p.clone(), p.replace('\\', ""))
            })
            .collect();
        for r in corpus() {
            let chars: Vec<char> = r.message.to_lowercase().chars().collect();
            if chars.len() < WINDOW {
                continue;
            }
            for start in 0..=chars.len() - WINDOW {
                let window: String = chars[start..start + WINDOW].iter().collect();
                for (raw, unescaped) in &patterns {
                    assert!(
                        !raw.contains(&window) && !unescaped.contains(&window),
                        "a rule quotes corpus record {} verbatim: {window:?}",
                        r.id
                    );
                }
            }
        }
    }
}
