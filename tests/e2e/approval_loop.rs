//! The approval loop, end to end.

use crate::world::{fixture, transient_failure, World, CONNECTION};
use chrono::Duration;
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::stack::{APPROVER, CHANNEL, FIVETRAN_KEY, FIVETRAN_SECRET};
use syncwarden::sim::Fault;

fn basic_auth() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{FIVETRAN_KEY}:{FIVETRAN_SECRET}"))
    )
}

#[tokio::test]
async fn happy_path_runs_exactly_one_sync_with_the_right_auth_and_body() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    assert_eq!(msg.channel(), Some(CHANNEL));
    assert!(msg.text().contains("pg_prod"), "{}", msg.text());
    let blocks = msg.body["blocks"].to_string();
    assert!(blocks.contains("Retry the sync"), "{blocks}");
    assert!(
        blocks.contains("POST /v1/connections/speak_inexpensive/sync"),
        "{blocks}"
    );

    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;

    // The connection is re-read before the approved call goes out.
    let (reads, calls) = t.preflight_and_writes();
    assert_eq!(reads, 1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, format!("/v1/connections/{CONNECTION}/sync"));
    assert_eq!(call.body, Some(serde_json::json!({"force": false})));
    assert_eq!(call.authorization.as_deref(), Some(basic_auth().as_str()));
    assert_eq!(call.accept.as_deref(), Some("application/json;version=2"));

    let updates = t.slack();
    assert!(updates
        .iter()
        .all(|c| c.method == "chat.update" && c.ts == msg.ts));
    // The decision and the result each queue an update; one that would show what the
    // message already shows is not sent.
    for pair in updates.windows(2) {
        assert_ne!(
            pair[0].body["blocks"], pair[1].body["blocks"],
            "the same update was sent twice"
        );
    }
    let last = updates.last().expect("message updated");
    let text = last.body["blocks"].to_string();
    assert!(text.contains("Approved by <@U0APPROVER>"), "{text}");
    assert!(text.contains("200 Success"), "{text}");
    assert!(
        last.button_value("approve").is_none(),
        "buttons must be gone"
    );

    let kinds = t.audit_kinds();
    for k in [
        "event_received",
        "incident_opened",
        "proposal_created",
        "message_posted",
        "proposal_approved",
        "execution_started",
        "execution_succeeded",
        "message_updated",
    ] {
        assert!(kinds.contains(&k.to_string()), "missing {k} in {kinds:?}");
    }
    let exec = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "execution_succeeded")
        .unwrap();
    assert_eq!(exec.entry.detail["method"], "POST");
    assert_eq!(
        exec.entry.detail["path"],
        "/v1/connections/speak_inexpensive/sync"
    );
    assert_eq!(
        exec.entry.detail["body"],
        serde_json::json!({"force": false})
    );
    assert_eq!(exec.entry.detail["status"], 200);
    let approved = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "proposal_approved")
        .unwrap();
    assert_eq!(approved.entry.actor, APPROVER);
}

#[tokio::test]
async fn reject_makes_no_fivetran_write() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.reject(&msg, APPROVER, None).await;
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let updates = t.slack();
    assert_eq!(updates.len(), 1);
    assert!(updates[0].body["blocks"]
        .to_string()
        .contains("Rejected by <@U0APPROVER>"));
    assert!(t.audit_kinds().contains(&"proposal_rejected".to_string()));
    // A later approve is refused and says who decided.
    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let eph = t.slack();
    assert_eq!(eph.len(), 1);
    assert_eq!(eph[0].method, "chat.postEphemeral");
    assert!(
        eph[0].text().contains("Already rejected by <@U0APPROVER>"),
        "{}",
        eph[0].text()
    );
}

#[tokio::test]
async fn unauthorized_click_changes_nothing_and_is_audited() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let proposal_id = msg.proposal_id().unwrap();
    assert_eq!(t.click(&msg, "approve", "U0INTRUDER").await, 200);
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let eph = t.slack();
    assert_eq!(eph.len(), 1, "{eph:?}");
    assert_eq!(eph[0].method, "chat.postEphemeral");
    assert_eq!(eph[0].body["user"], "U0INTRUDER");
    assert!(
        eph[0].text().contains("not an approver"),
        "{}",
        eph[0].text()
    );
    let p = t.state.store.proposal(&proposal_id).unwrap().unwrap();
    assert_eq!(p.state, ProposalState::Proposed);
    let denial = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "decision_denied")
        .expect("denial audited");
    assert_eq!(denial.entry.actor, "U0INTRUDER");
    assert_eq!(
        denial.entry.proposal_id.as_deref(),
        Some(proposal_id.as_str())
    );
}

#[tokio::test]
async fn double_click_and_racing_approvers_execute_once() {
    let mut t = World::with_approvers(&[APPROVER, "U0SECOND1"]).await;
    let msg = t.alert("s1").await;
    let (a, b, c) = tokio::join!(
        t.click(&msg, "approve", APPROVER),
        t.click(&msg, "approve", "U0SECOND1"),
        t.click(&msg, "approve", APPROVER),
    );
    assert_eq!((a, b, c), (200, 200, 200));
    t.run_jobs().await;
    let calls = t.fivetran();
    assert_eq!(
        calls.iter().filter(|r| r.method == "POST").count(),
        1,
        "{calls:?}"
    );
    let slack = t.slack();
    let eph: Vec<_> = slack
        .iter()
        .filter(|c| c.method == "chat.postEphemeral")
        .collect();
    assert_eq!(eph.len(), 2, "the two losers are told: {slack:?}");
    assert!(eph
        .iter()
        .all(|e| e.text().contains("Already approved by <@")));
    let approvals = t
        .audit_kinds()
        .iter()
        .filter(|k| *k == "proposal_approved")
        .count();
    assert_eq!(approvals, 1);
}

#[tokio::test]
async fn button_from_another_message_is_refused() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let value = msg.button_value("approve").unwrap();
    assert_eq!(
        t.click_value("approve", &value, APPROVER, "1732500000.999999")
            .await,
        200
    );
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let eph = t.slack();
    assert_eq!(eph.len(), 1);
    assert!(
        eph[0].text().contains("does not belong"),
        "{}",
        eph[0].text()
    );
}

#[tokio::test]
async fn duplicate_delivery_posts_one_message() {
    let mut t = World::new().await;
    let body = transient_failure("dup");
    let (s1, r1) = t.fivetran_webhook(&body).await;
    let (s2, r2) = t.fivetran_webhook(&body).await;
    assert_eq!((s1, s2), (200, 200));
    assert!(
        r1.contains("accepted") && r2.contains("duplicate"),
        "{r1} {r2}"
    );
    t.run_jobs().await;
    assert_eq!(t.fivetran().len(), 1, "one details lookup");
    let posts = t.slack();
    assert_eq!(posts.len(), 1);
    assert_eq!(t.state.store.event_count(), 1);
}

#[tokio::test]
async fn details_404_still_posts_with_what_the_webhook_says() {
    let mut t = World::new().await;
    let body = fixture("fivetran/webhooks/sync_end_failure_with_task.json");
    let (status, _) = t.fivetran_webhook(&body).await;
    assert_eq!(status, 200);
    t.run_jobs().await;
    let gets = t.fivetran();
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].path, "/v1/connections/empty_bount");
    assert_eq!(gets[0].status, 404);
    let posts = t.slack();
    assert_eq!(posts.len(), 1);
    let blocks = posts[0].body["blocks"].to_string();
    assert!(blocks.contains("innodb_buffer_pool_size"), "{blocks}");
    assert!(
        blocks.contains("Connection details unavailable"),
        "{blocks}"
    );
    assert!(blocks.contains("reconnect_warehouse"), "{blocks}");
    // A settings problem needs a person: no Approve button, a dashboard link instead.
    assert!(posts[0].button_value("approve").is_none());
    assert!(
        blocks.contains("https://fivetran.com/dashboard/connections/empty_bount/status"),
        "{blocks}"
    );
}

#[tokio::test]
async fn rate_limited_execution_waits_for_retry_after_then_succeeds_once() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.stack.fivetran.inject(
        Fault::status(
            "/sync",
            429,
            serde_json::json!({"code": "TooManyRequests", "message": "Rate limit exceeded"}),
        )
        .with_retry_after(30),
    );
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let (reads, first) = t.preflight_and_writes();
    assert_eq!(reads, 1);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status, 429);
    t.slack(); // "approved; running" update

    t.clock.advance(Duration::seconds(29));
    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "must not call before Retry-After");

    t.clock.advance(Duration::seconds(1));
    t.run_jobs().await;
    // The pre-flight already ran: the retry is the call alone.
    let second = t.fivetran();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].status, 200);
    let updates = t.slack();
    assert!(updates.last().unwrap().body["blocks"]
        .to_string()
        .contains("200 Success"));
    assert_eq!(
        t.audit_kinds()
            .iter()
            .filter(|k| *k == "execution_succeeded")
            .count(),
        1
    );
    assert!(t
        .audit_kinds()
        .contains(&"execution_rate_limited".to_string()));
}

#[tokio::test]
async fn refused_call_marks_the_proposal_failed() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    // Fivetran refuses the sync even though the pre-flight saw nothing wrong.
    t.stack.fivetran.inject(Fault::status(
        "/sync",
        409,
        serde_json::json!({"code": "Conflict", "message": "Sync is already scheduled"}),
    ));
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let (_, calls) = t.preflight_and_writes();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 409);
    let last = t.slack().pop().unwrap();
    assert!(last.body["blocks"].to_string().contains("the call failed"));
    assert!(t.audit_kinds().contains(&"execution_failed".to_string()));
}

#[tokio::test]
async fn expired_proposal_refuses_clicks() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.clock.advance(Duration::hours(5));
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let slack = t.slack();
    assert!(slack
        .iter()
        .any(|c| c.method == "chat.postEphemeral" && c.text().contains("expired")));
    assert!(slack
        .iter()
        .any(|c| c.method == "chat.update" && c.body["blocks"].to_string().contains("Expired")));
    assert!(t.audit_kinds().contains(&"proposal_expired".to_string()));
}

#[tokio::test]
async fn slack_rate_limit_on_post_delivers_late_not_never() {
    let mut t = World::new().await;
    t.stack.slack.inject(
        Fault::status(
            "chat.postMessage",
            429,
            serde_json::json!({"ok": false, "error": "ratelimited"}),
        )
        .with_retry_after(5),
    );
    t.fivetran_webhook(&transient_failure("s1")).await;
    t.run_jobs().await;
    t.fivetran();
    let first = t.slack();
    assert_eq!(first.len(), 1);
    assert!(!first[0].ok);
    t.clock.advance(Duration::seconds(5));
    t.run_jobs().await;
    let second = t.slack();
    assert_eq!(second.len(), 1);
    assert!(second[0].ok);
}

#[tokio::test]
async fn test_event_is_acknowledged_and_starts_nothing() {
    let mut t = World::new().await;
    let (status, _) = t
        .fivetran_webhook(&fixture("fivetran/webhooks/test_event.json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(t.run_jobs().await, 0);
    assert!(t.slack().is_empty());
    assert!(t.fivetran().is_empty());
}

#[tokio::test]
async fn successful_and_unknown_events_are_stored_but_not_alerted() {
    let mut t = World::new().await;
    for f in ["sync_end_successful.json", "sync_start.json"] {
        assert_eq!(
            t.fivetran_webhook(&fixture(&format!("fivetran/webhooks/{f}")))
                .await
                .0,
            200
        );
    }
    let unknown =
        br#"{"event":"brand_new_event","created":"2026-11-25T10:00:00Z","connector_id":"x"}"#;
    assert_eq!(t.fivetran_webhook(unknown).await.0, 200);
    assert_eq!(t.run_jobs().await, 0);
    assert!(t.slack().is_empty());
    let events = t.state.store.events().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].handling, "ignored: unknown event");
}

/// Puts the alert's proposal into the state a crash mid-call leaves behind: approved, claimed
/// (Executing, flushed) and its Execute job still queued, for the given action.
fn crash_mid_call(t: &World, proposal_id: &str, action: syncwarden::remediation::action::Action) {
    use syncwarden::store::jobs::JobKind;
    let now = syncwarden::clock::Clock::now(&t.clock);
    t.state
        .store
        .transact(now, |tx| {
            let mut p = tx.proposal(proposal_id)?.unwrap();
            p.call = action.call(&p.connector_id);
            p.risk = action.risk();
            p.action = action.clone();
            p.approve(APPROVER, now).unwrap();
            p.claim(now).unwrap();
            tx.put_proposal(&p)?;
            tx.enqueue_now(JobKind::Execute {
                proposal_id: p.id.clone(),
            })?;
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn after_a_crash_an_idempotent_call_is_resent_once() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let id = msg.proposal_id().unwrap();
    crash_mid_call(&t, &id, syncwarden::remediation::action::Action::RetrySync);
    t.run_jobs().await;
    // First a look at the connection: no sync running, so the call did not get through.
    let calls = t.fivetran();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[1].path, "/v1/connections/speak_inexpensive/sync");
    assert_eq!(
        t.state.store.proposal(&id).unwrap().unwrap().state,
        ProposalState::Succeeded
    );
    t.slack();
}

#[tokio::test]
async fn after_a_crash_a_call_that_got_through_is_not_sent_again() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let id = msg.proposal_id().unwrap();
    crash_mid_call(&t, &id, syncwarden::remediation::action::Action::RetrySync);
    // The call reached Fivetran before the crash: the connection is syncing.
    let mut c = t.stack.fivetran.connection(CONNECTION).unwrap();
    c["status"]["sync_state"] = serde_json::json!("syncing");
    t.stack.fivetran.add_connection(c);
    t.run_jobs().await;
    let calls = t.fivetran();
    assert_eq!(calls.len(), 1, "only the look at the connection: {calls:?}");
    assert_eq!(calls[0].method, "GET");
    let p = t.state.store.proposal(&id).unwrap().unwrap();
    assert_eq!(p.state, ProposalState::Succeeded);
    assert!(p
        .execution
        .unwrap()
        .message
        .contains("already in effect (a sync is running)"));
    let done = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "execution_succeeded")
        .unwrap();
    assert_eq!(done.entry.detail["resent"], false);
    let update = t.slack().pop().unwrap();
    assert!(update.body["blocks"]
        .to_string()
        .contains("already in effect"));
}

#[tokio::test]
async fn after_a_crash_a_resync_is_never_sent_twice() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let id = msg.proposal_id().unwrap();
    crash_mid_call(
        &t,
        &id,
        syncwarden::remediation::action::Action::ResyncConnector,
    );
    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "outcome unknown: must not re-send");
    assert_eq!(
        t.state.store.proposal(&id).unwrap().unwrap().state,
        ProposalState::Interrupted
    );
    let update = t.slack().pop().unwrap();
    assert!(
        update.body["blocks"].to_string().contains("interrupted"),
        "{}",
        update.body
    );
    assert!(t
        .audit_kinds()
        .contains(&"execution_interrupted".to_string()));
}
