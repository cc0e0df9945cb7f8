//! A test world: simulators, syncwarden's real router on a loopback port, a manual clock, and
//! strict teardown. Dropping a `World` fails the test if Slack received a message or Fivetran
//! a request that the test never looked at, if any Fivetran request is not valid against the
//! official OpenAPI definition, or if any Slack message breaks Block Kit limits.

use chrono::{TimeZone, Utc};
use std::sync::Arc;
use syncwarden::app::{AppState, SharedState};
use syncwarden::clock::ManualClock;
use syncwarden::fivetran::webhook;
use syncwarden::sim::fivetran::{FivetranSim, RecordedRequest};
use syncwarden::sim::slack::{click_body, command_body, signed_headers, SlackCall, SlackSim};
use syncwarden::sim::stack::{SimStack, APPROVER, CHANNEL, SLACK_SIGNING_SECRET, WEBHOOK_SECRET};
use syncwarden::slack::blocks::limit_violations;
use syncwarden::store::audit::AuditRecord;

pub const CONNECTION: &str = "speak_inexpensive";

pub struct World {
    pub stack: SimStack,
    pub state: SharedState,
    pub clock: ManualClock,
    pub base: String,
    http: reqwest::Client,
    slack_seen: usize,
    fivetran_seen: usize,
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A real-shaped transient failure for the simulator's default connection.
pub fn transient_failure(sync_id: &str) -> Vec<u8> {
    serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T09:56:43.688Z",
        "connector_type": "postgres",
        "connector_id": CONNECTION,
        "connector_name": "pg_prod",
        "sync_id": sync_id,
        "destination_group_id": "projected_sickle",
        "data": {"status": "FAILURE_WITH_TASK", "reason": "java.net.SocketTimeoutException: Read timed out", "taskType": "retry_sync"}
    })
    .to_string()
    .into_bytes()
}

/// A successful `sync_end` for `connector`: ends its failure streak.
pub fn success_of(connector: &str, sync_id: &str) -> Vec<u8> {
    serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T10:30:00.000Z",
        "connector_type": "postgres",
        "connector_id": connector,
        "connector_name": "pg_prod",
        "sync_id": sync_id,
        "destination_group_id": "projected_sickle",
        "data": {"status": "SUCCESSFUL"}
    })
    .to_string()
    .into_bytes()
}

/// A real-shaped `sync_end` failure for the default connection with this reason.
pub fn failure(sync_id: &str, reason: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&transient_failure(sync_id)).unwrap();
    v["data"]["reason"] = serde_json::json!(reason);
    v.to_string().into_bytes()
}

/// Installs, once per test binary, a global subscriber that takes every event and writes
/// none. Tests that capture logs with a thread-local subscriber then always see the events:
/// with no global subscriber, callsites first hit on another test's thread are cached as
/// "nobody listens" and skipped.
pub fn listen_to_all_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}

impl World {
    pub async fn new() -> Self {
        Self::with_approvers(&[APPROVER]).await
    }

    pub async fn with_approvers(approvers: &[&str]) -> Self {
        Self::build(approvers, |_, _| {}).await
    }

    /// A world whose settings and secrets `customize` may change (e.g. to add an LLM).
    pub async fn build(
        approvers: &[&str],
        customize: impl FnOnce(&mut syncwarden::config::Settings, &mut syncwarden::config::Secrets),
    ) -> Self {
        syncwarden::app::install_crypto_provider();
        listen_to_all_logs();
        let stack = SimStack::start().await.expect("simulators start");
        stack
            .fivetran
            .add_connection(FivetranSim::connection_template(
                CONNECTION, "pg_prod", "postgres",
            ));
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap());
        stack.fivetran.set_clock(Arc::new(clock.clone()));
        stack.slack.set_clock(Arc::new(clock.clone()));
        let mut settings = stack.settings(approvers);
        let mut secrets = SimStack::secrets();
        customize(&mut settings, &mut secrets);
        let state =
            AppState::new(settings, secrets, Some(Arc::new(clock.clone()))).expect("app state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = syncwarden::http::router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            stack,
            state,
            clock,
            base,
            http: reqwest::Client::new(),
            slack_seen: 0,
            fivetran_seen: 0,
        }
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Delivers a webhook signed as Fivetran signs it.
    pub async fn fivetran_webhook(&self, body: &[u8]) -> (u16, String) {
        let sig = webhook::sign(WEBHOOK_SECRET.as_bytes(), body);
        self.post(
            "/webhooks/fivetran",
            &[
                ("x-fivetran-signature-256".into(), sig),
                ("content-type".into(), "application/json".into()),
            ],
            body.to_vec(),
        )
        .await
    }

    /// Clicks a button on a posted message, as `user`, signed as Slack signs it.
    pub async fn click(&self, msg: &SlackCall, action_id: &str, user: &str) -> u16 {
        let value = msg
            .button_value(action_id)
            .unwrap_or_else(|| panic!("message has no {action_id} button"));
        let ts = msg.ts.clone().expect("posted message has a ts");
        self.click_value(action_id, &value, user, &ts).await
    }

    pub async fn click_value(&self, action_id: &str, value: &str, user: &str, ts: &str) -> u16 {
        let body = click_body(user, action_id, value, CHANNEL, ts);
        let headers = signed_headers(SLACK_SIGNING_SECRET, self.clock_ts(), &body);
        self.post("/slack/interactions", &headers, body).await.0
    }

    /// Clicks a button on a posted message in whatever channel it was posted to.
    pub async fn click_in_channel(&self, msg: &SlackCall, action_id: &str, user: &str) -> u16 {
        let value = msg
            .button_value(action_id)
            .unwrap_or_else(|| panic!("message has no {action_id} button"));
        let ts = msg.ts.clone().expect("posted message has a ts");
        let channel = msg.channel().expect("posted message has a channel");
        let body = click_body(user, action_id, &value, channel, &ts);
        let headers = signed_headers(SLACK_SIGNING_SECRET, self.clock_ts(), &body);
        self.post("/slack/interactions", &headers, body).await.0
    }

    /// Runs a slash command (`"/fivetran health"`) as `user` in `channel`, signed as Slack
    /// signs it, with a `response_url` served by the Slack simulator. Returns the HTTP status
    /// and the immediate answer (JSON, or the raw text as a JSON string).
    pub async fn slash(&self, line: &str, user: &str, channel: &str) -> (u16, serde_json::Value) {
        let (command, text) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        let url = SlackSim::response_url_for(self.stack.slack_addr, channel);
        let body = command_body(command, text.trim(), user, channel, &url);
        let headers = signed_headers(SLACK_SIGNING_SECRET, self.clock_ts(), &body);
        let (status, raw) = self.post("/slack/commands", &headers, body).await;
        let json = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
        (status, json)
    }

    /// Waits (bounded, no fixed sleep) until Slack has received `n` calls the test has not
    /// looked at yet, then returns every unseen call.
    pub async fn await_slack(&mut self, n: usize) -> Vec<SlackCall> {
        let arrived = self
            .stack
            .slack
            .wait_for_calls(self.slack_seen + n, std::time::Duration::from_secs(20))
            .await;
        assert!(
            arrived,
            "Slack did not receive {n} more call(s): {:?}",
            self.slack()
        );
        self.slack()
    }

    pub fn clock_ts(&self) -> i64 {
        use syncwarden::clock::Clock;
        self.clock.now().timestamp()
    }

    pub async fn run_jobs(&self) -> usize {
        syncwarden::worker::run_due_jobs(&self.state).await
    }

    /// Slack calls since the last look.
    pub fn slack(&mut self) -> Vec<SlackCall> {
        let all = self.stack.slack.calls();
        let new = all[self.slack_seen..].to_vec();
        self.slack_seen = all.len();
        new
    }

    /// Fivetran requests since the last look.
    pub fn fivetran(&mut self) -> Vec<RecordedRequest> {
        let all = self.stack.fivetran.requests();
        let new = all[self.fivetran_seen..].to_vec();
        self.fivetran_seen = all.len();
        new
    }

    /// Fivetran requests since the last look, split into the pre-flight re-reads of the
    /// connection (GETs, which must come first) and the writes after them.
    pub fn preflight_and_writes(&mut self) -> (usize, Vec<RecordedRequest>) {
        let all = self.fivetran();
        let reads = all.iter().take_while(|r| r.method == "GET").count();
        for r in &all[..reads] {
            assert!(
                r.path.starts_with("/v1/connections/") && r.status == 200,
                "unexpected read {r:?}"
            );
        }
        let writes = all[reads..].to_vec();
        assert!(
            writes.iter().all(|r| r.method != "GET"),
            "a read after a write: {all:?}"
        );
        (reads, writes)
    }

    /// Delivers a transient failure and returns the alert that was posted (consuming the
    /// details GET and the post).
    pub async fn alert(&mut self, sync_id: &str) -> SlackCall {
        let (status, _) = self.fivetran_webhook(&transient_failure(sync_id)).await;
        assert_eq!(status, 200);
        self.run_jobs().await;
        let gets = self.fivetran();
        assert!(gets.iter().all(|r| r.method == "GET"), "{gets:?}");
        let mut posted = self.slack();
        assert_eq!(posted.len(), 1, "{posted:?}");
        let msg = posted.remove(0);
        assert_eq!(msg.method, "chat.postMessage");
        msg
    }

    /// Requests a fix with a slash command (`"/fivetran pause pg_prod"`) as `user` in the
    /// alert channel, and returns the proposal message that was posted (consuming the
    /// announcement and any directory lookup).
    pub async fn request(&mut self, line: &str, user: &str) -> SlackCall {
        let (status, ack) = self.slash(line, user, CHANNEL).await;
        assert_eq!(status, 200, "{ack}");
        if ack["response_type"] != "in_channel" {
            // Answered on the response URL once Fivetran listed the connectors.
            let answer = self.await_slack(1).await;
            assert_eq!(answer.len(), 1, "{answer:?}");
            assert_eq!(
                answer[0].body["response_type"], "in_channel",
                "{:?}",
                answer[0].body
            );
        }
        let lookups = self.fivetran();
        assert!(lookups.iter().all(|r| r.method == "GET"), "{lookups:?}");
        self.run_jobs().await;
        let mut posted = self.slack();
        assert_eq!(posted.len(), 1, "{posted:?}");
        let msg = posted.remove(0);
        assert_eq!(msg.method, "chat.postMessage");
        msg
    }

    /// The current stored state of the proposal a message is about.
    pub fn proposal_of(&self, msg: &SlackCall) -> syncwarden::remediation::proposal::Proposal {
        let id = msg.proposal_id().expect("the message is about a proposal");
        self.state.store.proposal(&id).unwrap().unwrap()
    }

    /// The proposal of an incident's message, when the message has no buttons left.
    pub fn proposal_by_id(&self, id: &str) -> syncwarden::remediation::proposal::Proposal {
        self.state.store.proposal(id).unwrap().unwrap()
    }

    /// Sets fields of the simulated connection (as if someone changed it in Fivetran).
    pub fn change_connection(&self, change: impl FnOnce(&mut serde_json::Value)) {
        let mut c = self.stack.fivetran.connection(CONNECTION).unwrap();
        change(&mut c);
        self.stack.fivetran.add_connection(c);
    }

    pub fn audit(&self) -> Vec<AuditRecord> {
        self.state.store.audit_records().unwrap()
    }

    pub fn audit_kinds(&self) -> Vec<String> {
        self.audit().into_iter().map(|r| r.entry.kind).collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let slack = self.stack.slack.calls();
        let fivetran = self.stack.fivetran.requests();
        for call in &slack {
            if matches!(
                call.method.as_str(),
                "chat.postMessage" | "chat.update" | syncwarden::sim::slack::RESPONSE_URL
            ) {
                let v = limit_violations(&call.body);
                assert!(v.is_empty(), "Block Kit limits broken: {v:?}");
            }
        }
        for r in &fivetran {
            if let Err(e) = crate::openapi::check(r) {
                panic!("request not valid against the OpenAPI definition: {e}\n{r:?}");
            }
        }
        assert!(
            self.slack_seen >= slack.len(),
            "Slack received calls the test never looked at: {:?}",
            &slack[self.slack_seen..]
        );
        assert!(
            self.fivetran_seen >= fivetran.len(),
            "Fivetran received requests the test never looked at: {:?}",
            &fivetran[self.fivetran_seen..]
        );
        let chain =
            syncwarden::store::audit::verify_chain(&self.state.store.audit_records().unwrap());
        assert!(chain.is_ok(), "audit chain broken: {chain:?}");
    }
}
