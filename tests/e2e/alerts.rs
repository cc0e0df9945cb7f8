//! The alert lifecycle end to end: one incident per failure streak with thread replies,
//! recovery, transient grace, storms and snooze.

use crate::world::{success_of, transient_failure, World, CONNECTION};
use chrono::Duration;
use serde_json::Value;
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::slack::{SlackCall, RESPONSE_URL};
use syncwarden::sim::stack::{APPROVER, CHANNEL};
use syncwarden::slack::blocks::render_text;

const GROUP: &str = "projected_sickle";
const AUTH_FAILURE: &str = "FATAL: password authentication failed for user \"fivetran\"";
const TIMEOUT: &str = "java.net.SocketTimeoutException: Read timed out";

fn failure_of(connector: &str, name: &str, sync_id: &str, reason: &str) -> Vec<u8> {
    serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T09:56:43.688Z",
        "connector_type": "postgres",
        "connector_id": connector,
        "connector_name": name,
        "sync_id": sync_id,
        "destination_group_id": GROUP,
        "data": {"status": "FAILURE_WITH_TASK", "reason": reason, "taskType": "retry_sync"}
    })
    .to_string()
    .into_bytes()
}

fn header(call: &SlackCall) -> String {
    call.body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn text(call: &SlackCall) -> String {
    render_text(&call.body)
}

fn methods(calls: &[SlackCall]) -> Vec<&str> {
    calls.iter().map(|c| c.method.as_str()).collect()
}

fn audit_of(t: &World, kind: &str) -> Vec<Value> {
    t.audit()
        .into_iter()
        .filter(|r| r.entry.kind == kind)
        .map(|r| r.entry.detail)
        .collect()
}

async fn deliver(t: &mut World, body: &[u8]) {
    let (status, _) = t.fivetran_webhook(body).await;
    assert_eq!(status, 200);
    t.run_jobs().await;
}

/// Delivers a failure and consumes the details GET it causes.
async fn fail(t: &mut World, body: &[u8]) -> Vec<SlackCall> {
    deliver(t, body).await;
    let gets = t.fivetran();
    assert!(gets.iter().all(|r| r.method == "GET"), "{gets:?}");
    t.slack()
}

fn with_grace(
    minutes: i64,
) -> impl FnOnce(&mut syncwarden::config::Settings, &mut syncwarden::config::Secrets) {
    move |s, _| s.alerts.transient_grace = std::time::Duration::from_secs(60 * minutes as u64)
}

#[tokio::test]
async fn three_failures_then_a_success_make_one_message_two_replies_and_a_recovery() {
    let mut t = World::new().await;
    let first = t.alert("s1").await;
    let ts = first.ts.clone().unwrap();
    assert_eq!(header(&first), "Sync failed: pg_prod (postgres)");
    assert!(first.button_value("snooze_1h").is_some());

    for (n, sync) in [(2, "s2"), (3, "s3")] {
        t.clock.advance(Duration::minutes(5));
        let calls = fail(&mut t, &transient_failure(sync)).await;
        assert_eq!(
            methods(&calls),
            ["chat.update", "chat.postMessage"],
            "{calls:?}"
        );
        assert_eq!(calls[0].body["ts"], ts.as_str());
        assert_eq!(
            header(&calls[0]),
            format!("Sync failed {n}× since 10:00: pg_prod (postgres)")
        );
        assert_eq!(
            calls[1].thread_ts(),
            Some(ts.as_str()),
            "a reply, not a new alert"
        );
        assert!(
            calls[1].text().contains(&format!(
                "Failed again at 2026-11-25 10:{:02} UTC ({n}×",
                (n - 1) * 5
            )),
            "{}",
            calls[1].text()
        );
    }
    // Fivetran's webhook says the next sync worked: the message says so and loses its buttons.
    t.clock.advance(Duration::minutes(8));
    deliver(&mut t, &success_of(CONNECTION, "s4")).await;
    let calls = t.slack();
    assert_eq!(methods(&calls), ["chat.update"], "{calls:?}");
    assert_eq!(header(&calls[0]), "Recovered: pg_prod (postgres)");
    let shown = text(&calls[0]);
    assert!(
        shown.contains("Recovered* at 2026-11-25 10:18 UTC after 3 failures, 18 min."),
        "{shown}"
    );
    assert!(
        shown.contains("Not needed any more (the connector recovered)"),
        "{shown}"
    );
    assert!(calls[0].button_value("approve").is_none());
    assert!(calls[0].button_value("snooze_1h").is_none());
    assert!(t.fivetran().is_empty(), "a success needs no Fivetran call");

    // A late click on the original Approve is refused politely and runs nothing.
    assert_eq!(t.click(&first, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    let refusal = t.slack();
    assert_eq!(methods(&refusal), ["chat.postEphemeral"]);
    assert!(refusal[0]
        .text()
        .contains("no longer needed (the connector recovered)"));
    assert!(t.fivetran().is_empty());

    assert_eq!(audit_of(&t, "incident_failed_again").len(), 2);
    assert_eq!(audit_of(&t, "thread_reply_posted").len(), 2);
    let rec = audit_of(&t, "incident_recovered");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["failures"], 3);
    assert_eq!(rec[0]["alerted"], true);
    assert_eq!(audit_of(&t, "proposal_superseded").len(), 1);

    // The next failure is a new incident with a new top-level message.
    let again = fail(&mut t, &transient_failure("s5")).await;
    assert_eq!(methods(&again), ["chat.postMessage"]);
    assert!(again[0].thread_ts().is_none());
    assert_eq!(header(&again[0]), "Sync failed: pg_prod (postgres)");
}

#[tokio::test]
async fn a_transient_failure_that_recovers_within_the_grace_posts_nothing() {
    let mut t = World::build(&[APPROVER], with_grace(10)).await;
    assert!(fail(&mut t, &transient_failure("s1")).await.is_empty());
    t.clock.advance(Duration::minutes(4));
    deliver(&mut t, &success_of(CONNECTION, "s2")).await;
    assert!(t.slack().is_empty());
    // The scheduled alert comes due and stays quiet.
    t.clock.advance(Duration::minutes(10));
    t.run_jobs().await;
    assert!(t.slack().is_empty());
    assert!(t.fivetran().is_empty());

    let rec = audit_of(&t, "incident_recovered");
    assert_eq!(rec.len(), 1, "the failure/success pair is recorded");
    assert_eq!(rec[0]["alerted"], false);
    assert_eq!(rec[0]["seconds"], 240);
    let held = audit_of(&t, "alert_held");
    assert_eq!(held[0]["reason"], "recovered before the alert went out");
}

#[tokio::test]
async fn the_grace_is_a_durable_wait_and_a_failed_retry_alerts_at_once() {
    let mut t = World::build(&[APPROVER], with_grace(10)).await;
    assert!(fail(&mut t, &transient_failure("s1")).await.is_empty());
    let due: Vec<_> = t
        .state
        .store
        .jobs()
        .unwrap()
        .into_iter()
        .filter(|j| j.kind.name() == "notify")
        .collect();
    assert_eq!(due.len(), 1, "the wait is a stored job, not a timer");
    assert_eq!((due[0].due_at - due[0].created_at).num_minutes(), 10);
    t.clock.advance(Duration::minutes(9));
    t.run_jobs().await;
    assert!(t.slack().is_empty());
    t.clock.advance(Duration::minutes(2));
    t.run_jobs().await;
    let posted = t.slack();
    assert_eq!(methods(&posted), ["chat.postMessage"]);

    // A second connector: Fivetran's own retry fails too inside the grace → alert at once.
    t.stack
        .fivetran
        .add_connection(FivetranSim::connection_template(
            "pg_two", "pg_two", "postgres",
        ));
    assert!(fail(&mut t, &failure_of("pg_two", "pg_two", "a1", TIMEOUT))
        .await
        .is_empty());
    t.clock.advance(Duration::minutes(1));
    let calls = fail(&mut t, &failure_of("pg_two", "pg_two", "a2", TIMEOUT)).await;
    assert_eq!(methods(&calls), ["chat.postMessage"]);
    assert_eq!(
        header(&calls[0]),
        "Sync failed 2× since 10:11: pg_two (postgres)"
    );

    // Needs-a-person failures never wait for the grace.
    t.stack
        .fivetran
        .add_connection(FivetranSim::connection_template(
            "pg_three", "pg_three", "postgres",
        ));
    let calls = fail(
        &mut t,
        &failure_of("pg_three", "pg_three", "b1", AUTH_FAILURE),
    )
    .await;
    assert_eq!(methods(&calls), ["chat.postMessage"]);
}

#[tokio::test]
async fn a_changed_cause_refreshes_the_summary_and_replaces_the_proposal() {
    let mut t = World::new().await;
    let first = t.alert("s1").await;
    let old = first.proposal_id().unwrap();
    let calls = fail(
        &mut t,
        &failure_of(CONNECTION, "pg_prod", "s2", AUTH_FAILURE),
    )
    .await;
    assert_eq!(methods(&calls), ["chat.update", "chat.postMessage"]);
    let shown = text(&calls[0]);
    assert!(shown.contains("*Authentication*"), "{shown}");
    assert!(
        calls[0].button_value("approve").is_none(),
        "credentials need a person"
    );
    let p = t.state.store.proposal(&old).unwrap().unwrap();
    assert_eq!(p.state.as_str(), "superseded");
    assert_eq!(p.superseded_reason.as_deref(), Some("the cause changed"));
    assert!(
        calls[1].text().contains("Authentication"),
        "{}",
        calls[1].text()
    );
}

fn storm_world_connections(t: &World, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = format!("dw_conn_{i:02}");
            t.stack
                .fivetran
                .add_connection(FivetranSim::connection_template(&id, &id, "postgres"));
            id
        })
        .collect()
}

#[tokio::test]
async fn twenty_connectors_failing_together_make_one_grouped_message_and_a_21st_joins_it() {
    let mut t = World::build(&[APPROVER], |s, _| {
        s.alerts.storm_debounce = std::time::Duration::from_secs(15)
    })
    .await;
    let ids = storm_world_connections(&t, 21);
    let mut posts = Vec::new();
    let mut updates = 0;
    for (i, id) in ids.iter().take(20).enumerate() {
        for c in fail(&mut t, &failure_of(id, id, &format!("x{i}"), AUTH_FAILURE)).await {
            match c.method.as_str() {
                "chat.postMessage" => posts.push(c),
                "chat.update" => updates += 1,
                other => panic!("unexpected {other}"),
            }
        }
        t.clock.advance(Duration::seconds(3));
    }
    // The debounce of the first ones runs out: they stay quiet.
    t.clock.advance(Duration::seconds(30));
    t.run_jobs().await;
    for c in t.slack() {
        assert_eq!(c.method, "chat.update", "{c:?}");
        updates += 1;
    }
    assert_eq!(posts.len(), 1, "one grouped message: {posts:?}");
    assert!(updates >= 15, "later members update it ({updates})");
    let storm_ts = posts[0].ts.clone().unwrap();
    let storms = t.state.store.storms().unwrap();
    assert_eq!(storms.len(), 1);
    assert_eq!(storms[0].members.len(), 20);
    assert!(
        storms[0].proposal_id.is_none(),
        "a password needs a person, not a retry"
    );

    let calls = fail(&mut t, &failure_of(&ids[20], &ids[20], "x20", AUTH_FAILURE)).await;
    assert_eq!(
        methods(&calls),
        ["chat.update"],
        "the 21st joins the grouped message"
    );
    assert_eq!(calls[0].body["ts"], storm_ts.as_str());
    assert_eq!(
        header(&calls[0]),
        format!("21 connectors failing in group {GROUP} — Authentication")
    );
    let shown = text(&calls[0]);
    assert!(shown.contains("dw_conn_20"), "{shown}");
    assert!(shown.contains("password authentication failed"), "{shown}");
    assert!(
        !shown.contains("more connector"),
        "21 fit without collapsing"
    );
    assert_eq!(audit_of(&t, "storm_joined").len(), 16);
    assert_eq!(audit_of(&t, "storm_opened").len(), 1);
}

#[tokio::test]
async fn a_transient_storm_offers_one_retry_for_all_and_runs_one_call_each() {
    let mut t = World::new().await;
    let ids = storm_world_connections(&t, 6);
    let mut posts = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        // A second apart: Slack takes about one post a second per channel (see rate_limits).
        t.clock.advance(Duration::seconds(1));
        for c in fail(&mut t, &failure_of(id, id, &format!("y{i}"), TIMEOUT)).await {
            if c.method == "chat.postMessage" {
                posts.push(c);
            }
        }
    }
    // No grace or debounce here: the first four alert alone, the fifth makes the storm.
    assert_eq!(posts.len(), 5, "{posts:?}");
    let storm_msg = posts.pop().unwrap();
    assert!(header(&storm_msg).starts_with("5 connectors failing in group"));
    for single in &posts {
        let p = t
            .state
            .store
            .proposal(&single.proposal_id().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            p.state.as_str(),
            "superseded",
            "folded into the group retry"
        );
    }
    // The sixth joined after the grouped message: the group proposal was renewed to cover it.
    let storm = t.state.store.storms().unwrap().remove(0);
    let pid = storm.proposal_id.clone().unwrap();
    let p = t.state.store.proposal(&pid).unwrap().unwrap();
    assert_eq!(p.batch.len(), 6);
    let current = t
        .stack
        .slack
        .message(CHANNEL, storm_msg.ts.as_deref().unwrap())
        .unwrap();
    let msg = SlackCall {
        body: current,
        ..storm_msg.clone()
    };
    assert_eq!(msg.proposal_id().as_deref(), Some(pid.as_str()));
    // The old button (5 connectors) is dead.
    let stale = storm_msg.button_value("approve").unwrap();
    assert_ne!(storm_msg.proposal_id().unwrap(), pid);

    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    let all = t.fivetran();
    // Each member is re-read just before its call (the pre-flight), then retried.
    assert_eq!(all.iter().filter(|r| r.method == "GET").count(), 6);
    let sent: Vec<_> = all.into_iter().filter(|r| r.method != "GET").collect();
    let mut paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    let mut expected: Vec<String> = ids
        .iter()
        .map(|i| format!("/v1/connections/{i}/sync"))
        .collect();
    expected.sort();
    assert_eq!(paths, expected, "exactly one retry per member");
    assert!(sent
        .iter()
        .all(|r| r.method == "POST" && r.body == Some(serde_json::json!({"force": false}))));
    let updates = t.slack();
    let last = updates.last().unwrap();
    assert_eq!(last.method, "chat.update");
    let shown = text(last);
    assert!(shown.contains("Approved by <@U0APPROVER>"), "{shown}");
    assert!(shown.contains("✓ `dw_conn_05` → 200"), "{shown}");
    let p = t.state.store.proposal(&pid).unwrap().unwrap();
    assert_eq!(p.state.as_str(), "succeeded");
    assert_eq!(audit_of(&t, "execution_item_succeeded").len(), 6);

    // A click on the stale group button is refused and runs nothing.
    assert_eq!(
        t.click_value(
            "approve",
            &stale,
            APPROVER,
            storm_msg.ts.as_deref().unwrap()
        )
        .await,
        200
    );
    t.run_jobs().await;
    let refused = t.slack();
    assert_eq!(methods(&refused), ["chat.postEphemeral"]);
    assert!(t.fivetran().is_empty());
}

#[tokio::test]
async fn a_storm_that_recovers_inside_its_grace_posts_nothing() {
    let mut t = World::build(&[APPROVER], with_grace(10)).await;
    let ids = storm_world_connections(&t, 5);
    for (i, id) in ids.iter().enumerate() {
        assert!(fail(&mut t, &failure_of(id, id, &format!("z{i}"), TIMEOUT))
            .await
            .is_empty());
    }
    assert_eq!(t.state.store.storms().unwrap().len(), 1);
    t.clock.advance(Duration::minutes(2));
    for id in &ids {
        deliver(&mut t, &success_of(id, &format!("ok-{id}"))).await;
    }
    t.clock.advance(Duration::minutes(20));
    t.run_jobs().await;
    assert!(t.slack().is_empty());
    assert_eq!(audit_of(&t, "storm_closed").len(), 1);
}

#[tokio::test]
async fn a_snoozed_connector_posts_nothing_until_the_snooze_ends() {
    let mut t = World::new().await;
    t.stack
        .fivetran
        .add_connection(FivetranSim::connection_template(
            CONNECTION, "pg_prod", "postgres",
        ));
    let (status, _) = t
        .slash("/fivetran snooze pg_prod 1h", "U0ALICE001", CHANNEL)
        .await;
    assert_eq!(status, 200);
    let reply = t.await_slack(1).await;
    assert_eq!(reply[0].method, RESPONSE_URL);
    assert!(reply[0].body["text"]
        .as_str()
        .unwrap()
        .contains("snoozed until 2026-11-25 11:00 UTC"));
    assert_eq!(
        t.fivetran().len(),
        1,
        "the name was resolved through the listing"
    );

    assert!(fail(&mut t, &transient_failure("s1")).await.is_empty());
    t.clock.advance(Duration::minutes(20));
    assert!(fail(&mut t, &transient_failure("s2")).await.is_empty());
    assert_eq!(audit_of(&t, "alert_held").len(), 1);

    t.clock.advance(Duration::minutes(41));
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(
        methods(&calls),
        ["chat.postMessage"],
        "one message when the snooze ends"
    );
    let shown = text(&calls[0]);
    assert!(shown.contains("Snoozed by <@U0ALICE001> until 2026-11-25 11:00 UTC; still failing when the snooze ended (2 failures so far)."), "{shown}");
    assert_eq!(
        header(&calls[0]),
        "Sync failed 2× since 10:00: pg_prod (postgres)"
    );
    let snoozed = audit_of(&t, "connector_snoozed");
    assert_eq!(snoozed[0]["until"], "2026-11-25T11:00:00Z");
    assert_eq!(
        t.audit()
            .iter()
            .find(|r| r.entry.kind == "connector_snoozed")
            .unwrap()
            .entry
            .actor,
        "U0ALICE001"
    );
    assert_eq!(audit_of(&t, "snooze_ended").len(), 1);
}

#[tokio::test]
async fn the_snooze_button_holds_thread_replies_and_the_end_replies_once() {
    let mut t = World::new().await;
    let first = t.alert("s1").await;
    let ts = first.ts.clone().unwrap();
    assert_eq!(t.click(&first, "snooze_1h", "U0BOB00001").await, 200);
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(methods(&calls), ["chat.update"]);
    assert!(text(&calls[0]).contains("Snoozed by <@U0BOB00001> until 2026-11-25 11:00 UTC"));

    assert!(
        fail(&mut t, &transient_failure("s2")).await.is_empty(),
        "snoozed: nothing posted"
    );
    assert!(fail(&mut t, &transient_failure("s3")).await.is_empty());

    t.clock.advance(Duration::minutes(61));
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(
        methods(&calls),
        ["chat.postMessage", "chat.update"],
        "{calls:?}"
    );
    assert_eq!(calls[0].thread_ts(), Some(ts.as_str()));
    assert!(
        calls[0]
            .text()
            .contains("still failing when the snooze ended (3 failures so far)"),
        "{}",
        calls[0].text()
    );
    assert_eq!(
        header(&calls[1]),
        "Sync failed 3× since 10:00: pg_prod (postgres)"
    );
}

#[tokio::test]
async fn unsnooze_brings_a_held_alert_out_at_once() {
    let mut t = World::new().await;
    t.stack
        .fivetran
        .add_connection(FivetranSim::connection_template(
            CONNECTION, "pg_prod", "postgres",
        ));
    t.slash("/fivetran snooze speak_inexpensive 24h", APPROVER, CHANNEL)
        .await;
    t.await_slack(1).await;
    t.fivetran();
    assert!(fail(&mut t, &transient_failure("s1")).await.is_empty());
    // The directory is cached now: answered in the HTTP response.
    let (_, reply) = t
        .slash("/fivetran unsnooze pg_prod", APPROVER, CHANNEL)
        .await;
    assert!(
        reply["text"].as_str().unwrap().contains("are back on"),
        "{reply}"
    );
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(methods(&calls), ["chat.postMessage"]);
    assert_eq!(audit_of(&t, "connector_unsnoozed").len(), 1);
    // The scheduled end of the lifted snooze posts nothing (the proposal's expiry still
    // updates the alert).
    t.clock.advance(Duration::hours(25));
    t.run_jobs().await;
    assert_eq!(methods(&t.slack()), ["chat.update"]);
    assert_eq!(audit_of(&t, "snooze_ended").len(), 0);
}
