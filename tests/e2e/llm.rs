//! LLM summaries: success, every fallback, guardrails, caching, budget and redaction.

use crate::world::{World, CONNECTION};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use syncwarden::config::LlmSettings;
use syncwarden::secret::Secret;
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::llm::{LlmSim, Script, TOKENS_PER_ANSWER};
use syncwarden::sim::stack::APPROVER;

const KEY: &str = "sk-test-llm-key-0123456789abcdef";

async fn world_with_llm(budget: u64, timeout: Duration) -> (World, LlmSim) {
    let sim = LlmSim::new(KEY);
    let addr = syncwarden::sim::spawn(sim.router()).await.unwrap();
    let world = World::build(&[APPROVER], |settings, secrets| {
        settings.llm = Some(LlmSettings {
            base_url: format!("http://{addr}/v1"),
            model: "sim-model".into(),
            api_key_env: "OPENAI_API_KEY".into(),
            timeout,
            max_tokens: 600,
            daily_token_budget: budget,
            cache_ttl: Duration::from_secs(3600),
        });
        secrets.llm_api_key = Some(Secret::new(KEY));
    })
    .await;
    (world, sim)
}

fn failure(sync_id: &str, reason: &str) -> Vec<u8> {
    failure_of(CONNECTION, sync_id, reason)
}

/// A failure of another connector (each its own incident), known to the Fivetran simulator.
fn failure_of(connector: &str, sync_id: &str, reason: &str) -> Vec<u8> {
    serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T09:56:43.688Z",
        "connector_type": "postgres",
        "connector_id": connector,
        "connector_name": "pg_prod",
        "sync_id": sync_id,
        "destination_group_id": "projected_sickle",
        "data": {"status": "FAILURE_WITH_TASK", "reason": reason, "taskType": "retry_sync"}
    })
    .to_string()
    .into_bytes()
}

fn context_line(msg: &syncwarden::sim::slack::SlackCall) -> String {
    msg.body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|b| b["type"] == "context")
        .map(|b| b["elements"][0]["text"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn model_summary_is_used_and_labelled() {
    let (mut t, sim) = world_with_llm(100_000, Duration::from_secs(5)).await;
    let msg = t.alert("s1").await;
    let blocks = msg.body["blocks"].to_string();
    assert!(blocks.contains("Model analysis (network)"), "{blocks}");
    assert!(
        context_line(&msg).contains(&format!("model · sim-model · {TOKENS_PER_ANSWER} tokens")),
        "{}",
        context_line(&msg)
    );
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["temperature"], 0.0);
    assert_eq!(reqs[0]["response_format"]["type"], "json_schema");
    assert_eq!(reqs[0]["model"], "sim-model");
    let user: serde_json::Value =
        serde_json::from_str(reqs[0]["messages"][1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(user["classifier"]["category"], "network");
    // The proposal is still the deterministic one.
    assert!(msg.button_value("approve").is_some());
    assert!(blocks.contains("POST /v1/connections/speak_inexpensive/sync"));
}

async fn assert_fallback(script: Vec<Script>, timeout: Duration, why: &str) {
    let (mut t, sim) = world_with_llm(100_000, timeout).await;
    for s in script {
        sim.push(s);
    }
    let msg = t.alert("s1").await;
    let ctx = context_line(&msg);
    assert!(ctx.contains("summary: rules ("), "{why}: {ctx}");
    assert!(ctx.contains(why), "{why}: {ctx}");
    assert!(
        msg.body["blocks"]
            .to_string()
            .contains("could not hold a network connection"),
        "template cause stands"
    );
    assert!(
        msg.button_value("approve").is_some(),
        "alert still actionable"
    );
}

#[tokio::test]
async fn timeout_falls_back_to_rules() {
    assert_fallback(
        vec![Script::Slow {
            delay_ms: 3_000,
            content: None,
        }],
        Duration::from_secs(1),
        "timed out",
    )
    .await;
}

#[tokio::test]
async fn server_errors_fall_back_to_rules() {
    assert_fallback(
        vec![Script::Status(500); 6],
        Duration::from_secs(10),
        "LLM unavailable",
    )
    .await;
}

#[tokio::test]
async fn invalid_json_falls_back_to_rules() {
    assert_fallback(
        vec![Script::Content("Sure! The sync failed because".into())],
        Duration::from_secs(5),
        "not the expected JSON",
    )
    .await;
}

#[tokio::test]
async fn empty_answer_falls_back_to_rules() {
    assert_fallback(
        vec![Script::Content(String::new())],
        Duration::from_secs(5),
        "empty answer",
    )
    .await;
}

#[tokio::test]
async fn endpoints_without_json_schema_get_json_mode() {
    let (mut t, sim) = world_with_llm(100_000, Duration::from_secs(5)).await;
    sim.push(Script::NoJsonSchema);
    let msg = t.alert("s1").await;
    assert!(
        context_line(&msg).contains("model · sim-model"),
        "{}",
        context_line(&msg)
    );
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1]["response_format"]["type"], "json_object");
}

#[tokio::test]
async fn guardrails_drop_unlisted_or_invalid_actions() {
    let (mut t, sim) = world_with_llm(100_000, Duration::from_secs(5)).await;
    sim.push(Script::Content(serde_json::json!({
        "root_cause": "The source timed out.",
        "evidence": ["read timeout"],
        "category": "network",
        "confidence": 0.9,
        "recommended_actions": [
            {"action": "delete_connector", "params": {}, "rationale": "start over"},
            {"action": "set_sync_frequency", "params": {"minutes": 7}, "rationale": "odd value"},
            {"action": "resync_tables", "params": {"tables": ["public.invented"]}, "rationale": "made up"},
            {"action": "run_setup_tests", "params": {}, "rationale": "check connectivity"}
        ]
    }).to_string()));
    let msg = t.alert("s1").await;
    let blocks = msg.body["blocks"].to_string();
    assert!(blocks.contains("The source timed out."), "{blocks}");
    assert!(
        blocks.contains("run_setup_tests (check connectivity)"),
        "{blocks}"
    );
    for dropped in [
        "delete_connector",
        "minutes 7",
        "public.invented",
        "start over",
    ] {
        assert!(!blocks.contains(dropped), "{dropped} leaked: {blocks}");
    }
    // Buttons still carry the deterministic proposal, never a model choice.
    let id = msg.proposal_id().unwrap();
    let p = t.state.store.proposal(&id).unwrap().unwrap();
    assert_eq!(p.action.name(), "retry_sync");
}

#[tokio::test]
async fn identical_failures_cost_one_call() {
    let (mut t, sim) = world_with_llm(100_000, Duration::from_secs(5)).await;
    for i in 0..3 {
        let reason = format!(
            "java.net.SocketTimeoutException: Read timed out after {} ms",
            30_000 + i
        );
        let connector = format!("pg_replica_{i}");
        t.stack
            .fivetran
            .add_connection(FivetranSim::connection_template(
                &connector, &connector, "postgres",
            ));
        assert_eq!(
            t.fivetran_webhook(&failure_of(&connector, &format!("s{i}"), &reason))
                .await
                .0,
            200
        );
    }
    t.run_jobs().await;
    t.fivetran();
    let posts = t.slack();
    assert_eq!(posts.len(), 3);
    assert_eq!(
        sim.requests().len(),
        1,
        "one LLM call for three identical failures"
    );
    assert!(context_line(&posts[1]).contains("cached"));
    assert!(context_line(&posts[2]).contains("cached"));
}

#[tokio::test]
async fn daily_budget_stops_calls_and_says_so() {
    let (mut t, sim) =
        world_with_llm(u64::from(TOKENS_PER_ANSWER) + 1, Duration::from_secs(5)).await;
    let reasons = [
        "Connection reset by peer",
        "Read timed out",
        "SSL peer shut down incorrectly",
    ];
    for (i, r) in reasons.iter().enumerate() {
        let connector = format!("pg_replica_{i}");
        t.stack
            .fivetran
            .add_connection(FivetranSim::connection_template(
                &connector, &connector, "postgres",
            ));
        t.fivetran_webhook(&failure_of(&connector, &format!("b{i}"), r))
            .await;
    }
    t.run_jobs().await;
    t.fivetran();
    let posts = t.slack();
    assert_eq!(posts.len(), 3);
    assert_eq!(
        sim.requests().len(),
        2,
        "the third failure is past the budget"
    );
    assert!(
        context_line(&posts[2]).contains("budget"),
        "{}",
        context_line(&posts[2])
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn canary_secrets_never_reach_the_model_or_the_logs() {
    crate::world::listen_to_all_logs();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests' threads may have cached "nobody listens" for shared callsites before this
    // thread-local subscriber existed; make every callsite ask again.
    tracing::callsite::rebuild_interest_cache();
    let (mut t, sim) = world_with_llm(100_000, Duration::from_secs(5)).await;
    let canaries = [
        syncwarden::sim::stack::FIVETRAN_SECRET,
        syncwarden::sim::stack::SLACK_TOKEN,
        syncwarden::sim::stack::WEBHOOK_SECRET,
        KEY,
        "CanaryPass123",
        "CanaryUrlPass",
        "xoxp-9999999999-canarycanary",
        "AKIACANARY1234567890",
        "jane.canary@example.com",
    ];
    // Plant them in the Fivetran API's answer…
    let mut conn = t.stack.fivetran.connection(CONNECTION).unwrap();
    conn["status"]["tasks"] = serde_json::json!([{
        "code": "reconnect",
        "message": "Reconnect",
        "details": format!("login with password={} failed; contact jane.canary@example.com; token xoxp-9999999999-canarycanary", "CanaryPass123")
    }]);
    t.stack.fivetran.add_connection(conn);
    // …and in the webhook.
    let reason = format!(
        "Read timed out: jdbc postgres://fivetran:CanaryUrlPass@db.internal:5432/prod key AKIACANARY1234567890 secret {} {} {} {}",
        syncwarden::sim::stack::FIVETRAN_SECRET,
        syncwarden::sim::stack::SLACK_TOKEN,
        syncwarden::sim::stack::WEBHOOK_SECRET,
        KEY
    );
    t.fivetran_webhook(&failure("canary", &reason)).await;
    t.run_jobs().await;
    t.fivetran();
    let posts = t.slack();
    assert_eq!(posts.len(), 1);
    let prompt = serde_json::to_string(&sim.requests()).unwrap();
    assert!(
        prompt.contains("Read timed out"),
        "the prompt carries the failure"
    );
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!logged.is_empty(), "logs were captured");
    let slack = serde_json::to_string(&posts[0].body).unwrap();
    for c in canaries {
        assert!(!prompt.contains(c), "{c} reached the LLM");
        assert!(!logged.contains(c), "{c} reached the logs");
        if c != "jane.canary@example.com" {
            assert!(!slack.contains(c), "{c} reached Slack");
        }
    }
}
