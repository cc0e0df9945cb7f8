//! Bad input gets a clear error and changes nothing.

use crate::world::{fixture, transient_failure, World};
use syncwarden::sim::slack::signed_headers;
use syncwarden::sim::stack::SLACK_SIGNING_SECRET;

#[tokio::test]
async fn bad_or_missing_fivetran_signature_is_401_and_stores_nothing() {
    let t = World::new().await;
    let body = transient_failure("s1");
    let (s, _) = t.post("/webhooks/fivetran", &[], body.clone()).await;
    assert_eq!(s, 401);
    let wrong = syncwarden::fivetran::webhook::sign(b"wrong-secret", &body);
    let (s, _) = t
        .post(
            "/webhooks/fivetran",
            &[("x-fivetran-signature-256".into(), wrong)],
            body.clone(),
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(t.state.store.event_count(), 0);
    assert!(t.audit().is_empty());
}

#[tokio::test]
async fn fixture_signature_is_accepted_as_fivetran_sends_it() {
    let mut t = World::new().await;
    let body = fixture("fivetran/webhooks/sync_end_successful.json");
    let sig = "79BFB5E0FE551A9BC9861FCC9E92DA99DB4DD6C6D4EB98877F4FB05149CDE8E0";
    let (s, _) = t
        .post(
            "/webhooks/fivetran",
            &[("X-Fivetran-Signature-256".into(), sig.into())],
            body,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t.state.store.event_count(), 1);
    t.run_jobs().await;
    assert!(t.slack().is_empty());
}

#[tokio::test]
async fn oversized_body_is_413_and_malformed_json_is_400() {
    let t = World::new().await;
    let big = vec![b' '; 1024 * 1024 + 1];
    let sig = syncwarden::fivetran::webhook::sign(
        syncwarden::sim::stack::WEBHOOK_SECRET.as_bytes(),
        &big,
    );
    let (s, _) = t
        .post(
            "/webhooks/fivetran",
            &[("x-fivetran-signature-256".into(), sig)],
            big,
        )
        .await;
    assert_eq!(s, 413);
    let (s, body) = t.fivetran_webhook(b"{\"event\": ").await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("not valid JSON"), "{body}");
    let (s, _) = t.fivetran_webhook(b"[1,2,3]").await;
    assert_eq!(s, 400);
    assert_eq!(t.state.store.event_count(), 0);
}

#[tokio::test]
async fn slacks_worked_example_is_accepted_at_its_own_time_only() {
    let t = World::new().await;
    let body = fixture("slack/signed_slash_command.body");
    let headers = |sig: &str| {
        vec![
            (
                "x-slack-request-timestamp".to_string(),
                "1531420618".to_string(),
            ),
            ("x-slack-signature".to_string(), sig.to_string()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
        ]
    };
    let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    t.clock
        .set(chrono::DateTime::from_timestamp(1531420618, 0).unwrap());
    let (s, reply) = t.post("/slack/commands", &headers(sig), body.clone()).await;
    assert_eq!(s, 200, "{reply}");
    assert!(reply.contains("ephemeral"), "{reply}");

    let mut tampered = body.clone();
    tampered.extend_from_slice(b"&x=1");
    assert_eq!(
        t.post("/slack/commands", &headers(sig), tampered).await.0,
        401
    );

    t.clock
        .set(chrono::DateTime::from_timestamp(1531420618 + 301, 0).unwrap());
    assert_eq!(t.post("/slack/commands", &headers(sig), body).await.0, 401);
}

#[tokio::test]
async fn forged_or_stale_clicks_are_401_and_change_nothing() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let value = msg.button_value("approve").unwrap();
    let body = syncwarden::sim::slack::click_body(
        "U0APPROVER",
        "approve",
        &value,
        syncwarden::sim::stack::CHANNEL,
        msg.ts.as_deref().unwrap(),
    );
    let forged = signed_headers("not-the-secret", t.clock_ts(), &body);
    assert_eq!(
        t.post("/slack/interactions", &forged, body.clone()).await.0,
        401
    );
    let stale = signed_headers(SLACK_SIGNING_SECRET, t.clock_ts() - 600, &body);
    assert_eq!(
        t.post("/slack/interactions", &stale, body.clone()).await.0,
        401
    );
    let (s, _) = t
        .post(
            "/slack/interactions",
            &signed_headers(SLACK_SIGNING_SECRET, t.clock_ts(), b"payload=%7Bnot-json"),
            b"payload=%7Bnot-json".to_vec(),
        )
        .await;
    assert_eq!(s, 400);
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    assert!(t.slack().is_empty());
    let p = t
        .state
        .store
        .proposal(&msg.proposal_id().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        p.state,
        syncwarden::remediation::proposal::ProposalState::Proposed
    );
}

#[tokio::test]
async fn ops_endpoints_answer() {
    let t = World::new().await;
    let get = |p: &'static str| {
        let url = format!("{}{p}", t.base);
        async move { reqwest::get(url).await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    assert_eq!(get("/readyz").await.status(), 200);
    let m = get("/metrics").await.text().await.unwrap();
    assert!(m.contains("syncwarden_events_stored 0"), "{m}");
}
