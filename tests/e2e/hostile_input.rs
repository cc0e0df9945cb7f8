//! Bad input gets a clear error and changes nothing.

use crate::world::{fixture, transient_failure, World};
use syncwarden::sim::slack::{click_body, signed_headers};
use syncwarden::sim::stack::{APPROVER, CHANNEL, SLACK_SIGNING_SECRET, WEBHOOK_SECRET};

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

/// What a refused request must leave untouched: stored events, incidents, proposals and their
/// states, queued jobs, and the audit log.
#[derive(Debug, PartialEq)]
struct Snapshot {
    events: usize,
    incidents: usize,
    proposals: Vec<(String, syncwarden::remediation::proposal::ProposalState)>,
    jobs: usize,
    audit: usize,
}

fn snapshot(t: &World) -> Snapshot {
    let store = &t.state.store;
    Snapshot {
        events: store.event_count(),
        incidents: store.incidents().unwrap().len(),
        proposals: store
            .proposals()
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.state))
            .collect(),
        jobs: store.jobs().unwrap().len(),
        audit: t.audit().len(),
    }
}

async fn webhook_with(t: &World, sig: &str, body: Vec<u8>) -> (u16, String) {
    t.post(
        "/webhooks/fivetran",
        &[
            ("x-fivetran-signature-256".into(), sig.to_string()),
            ("content-type".into(), "application/json".into()),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn forged_truncated_and_reencoded_webhooks_are_refused_and_change_nothing() {
    let mut t = World::new().await;
    let body = transient_failure("s1");
    let sig = syncwarden::fivetran::webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
    let before = snapshot(&t);

    // Truncated in transit: the signature no longer matches.
    let (s, reply) = webhook_with(&t, &sig, body[..body.len() / 2].to_vec()).await;
    assert_eq!(s, 401, "{reply}");
    assert!(reply.contains("does not match"), "{reply}");
    // Re-encoded: same JSON, different bytes (pretty-printed), original signature.
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert_eq!(webhook_with(&t, &sig, pretty).await.0, 401);
    // Forged: a signature made for another body, one digit off, too short, not hex.
    let other = syncwarden::fivetran::webhook::sign(WEBHOOK_SECRET.as_bytes(), b"{}");
    assert_eq!(webhook_with(&t, &other, body.clone()).await.0, 401);
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { '1' } else { '0' },
        &sig[1..]
    );
    assert_eq!(webhook_with(&t, &flipped, body.clone()).await.0, 401);
    assert_eq!(webhook_with(&t, &sig[..63], body.clone()).await.0, 401);
    let (s, reply) = webhook_with(&t, &format!("{}zz", &sig[..62]), body.clone()).await;
    assert_eq!(s, 401);
    assert!(reply.contains("not a hex SHA-256"), "{reply}");
    // Correctly signed but truncated JSON, or nested too deep: 400.
    let cut = &body[..body.len() - 1];
    let (s, reply) = t.fivetran_webhook(cut).await;
    assert_eq!(s, 400, "{reply}");
    let deep = format!(
        "{{\"event\":\"sync_end\",\"x\":{}{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    let (s, reply) = t.fivetran_webhook(deep.as_bytes()).await;
    assert_eq!(s, 400);
    assert!(reply.contains("nested deeper than 32"), "{reply}");

    t.run_jobs().await;
    assert_eq!(snapshot(&t), before);
    assert!(t.slack().is_empty());
    assert!(t.fivetran().is_empty());

    // The genuine delivery still goes through afterwards, once.
    let msg = t.alert("s1").await;
    assert_eq!(msg.method, "chat.postMessage");
}

#[tokio::test]
async fn oversized_headers_are_431_before_any_parsing() {
    let t = World::new().await;
    let body = transient_failure("s1");
    let sig = syncwarden::fivetran::webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
    let mut headers = vec![("x-fivetran-signature-256".to_string(), sig.clone())];
    headers.push(("x-padding".into(), "a".repeat(20 * 1024)));
    let (s, reply) = t.post("/webhooks/fivetran", &headers, body.clone()).await;
    assert_eq!(s, 431, "{reply}");
    let mut many = vec![("x-fivetran-signature-256".to_string(), sig)];
    many.extend((0..70).map(|i| (format!("x-h{i}"), "1".to_string())));
    assert_eq!(t.post("/webhooks/fivetran", &many, body).await.0, 431);
    assert_eq!(t.state.store.event_count(), 0);
    assert!(t.audit().is_empty());
}

/// Interactions: a click Slack really signed, then tampered with in every way a replaying or
/// forging sender could. Each is refused, and the proposal is still waiting afterwards.
#[tokio::test]
async fn replayed_truncated_and_reencoded_clicks_are_refused_and_change_nothing() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let value = msg.button_value("approve").unwrap();
    let ts = msg.ts.clone().unwrap();
    let body = click_body(APPROVER, "approve", &value, CHANNEL, &ts);
    let before = snapshot(&t);
    let now = t.clock_ts();
    let base = t.base.clone();
    let post = |headers: Vec<(String, String)>, body: Vec<u8>| {
        let url = format!("{base}/slack/interactions");
        async move {
            let mut req = reqwest::Client::new().post(url).body(body);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let resp = req.send().await.expect("request reaches the server");
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
    };

    // Replayed: signed correctly, but 301 s and a day ago.
    for age in [301, 86_400] {
        let (s, reply) = post(
            signed_headers(SLACK_SIGNING_SECRET, now - age, &body),
            body.clone(),
        )
        .await;
        assert_eq!(s, 401);
        assert!(reply.contains("more than 5 minutes"), "{reply}");
    }
    // Truncated: original headers, half the body.
    let good = signed_headers(SLACK_SIGNING_SECRET, now, &body);
    assert_eq!(
        post(good.clone(), body[..body.len() / 2].to_vec()).await.0,
        401
    );
    // Re-encoded: the same form with `+` for spaces and the JSON re-serialized.
    let (_, payload) = form_urlencoded_payload(&body);
    let reencoded = format!(
        "payload={}",
        url_escape_plus(
            &serde_json::to_string_pretty(
                &serde_json::from_str::<serde_json::Value>(&payload).unwrap()
            )
            .unwrap()
        )
    );
    assert_eq!(post(good.clone(), reencoded.into_bytes()).await.0, 401);
    // Signature re-encoded in upper case, or with its timestamp header rewritten.
    let mut upper = good.clone();
    upper[0].1 = format!("v0={}", upper[0].1[3..].to_uppercase());
    assert_eq!(post(upper, body.clone()).await.0, 401);
    for bad_ts in [
        format!("+{now}"),
        format!("{now}.0"),
        "-9223372036854775808".to_string(),
        "99999999999999999999".to_string(),
    ] {
        let mut h = good.clone();
        h[1].1 = bad_ts.clone();
        let (s, reply) = post(h, body.clone()).await;
        assert_eq!(s, 401, "{bad_ts}: {reply}");
    }
    // Forged with another secret.
    assert_eq!(
        post(signed_headers("forged", now, &body), body.clone())
            .await
            .0,
        401
    );

    // Correctly signed, but beyond the limits: 400.
    let payload_json: serde_json::Value = serde_json::from_str(&payload).unwrap();
    let mut many = payload_json.clone();
    let one = many["actions"][0].clone();
    many["actions"] = serde_json::Value::Array(vec![one; 11]);
    let mut long_value = payload_json.clone();
    long_value["actions"][0]["value"] = serde_json::json!("v".repeat(2001));
    let two_payloads = format!(
        "{}&{}",
        String::from_utf8(body.clone()).unwrap(),
        String::from_utf8(body.clone()).unwrap()
    );
    for (what, b) in [
        ("11 actions", form_of(&many)),
        ("long value", form_of(&long_value)),
        ("two payloads", two_payloads.into_bytes()),
        ("cut JSON", form_of_raw(&payload[..payload.len() - 2])),
    ] {
        let (s, reply) = post(signed_headers(SLACK_SIGNING_SECRET, now, &b), b).await;
        assert_eq!(s, 400, "{what}: {reply}");
    }

    t.run_jobs().await;
    assert_eq!(snapshot(&t), before);
    assert!(t.slack().is_empty());
    assert!(t.fivetran().is_empty());

    // The genuine click still works, exactly once (after the pre-flight re-read).
    assert_eq!(post(good, body).await.0, 200);
    t.run_jobs().await;
    let calls: Vec<_> = t
        .fivetran()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(!t.slack().is_empty());
}

#[tokio::test]
async fn replayed_or_reencoded_slash_commands_are_refused_and_change_nothing() {
    let mut t = World::new().await;
    let url = syncwarden::sim::slack::SlackSim::response_url_for(t.stack.slack_addr, CHANNEL);
    let body = syncwarden::sim::slack::command_body(
        "/fivetran",
        "subscribe pg_prod <#C0TEAM001|data-team>",
        APPROVER,
        CHANNEL,
        &url,
    );
    let now = t.clock_ts();
    let before = snapshot(&t);
    let stale = signed_headers(SLACK_SIGNING_SECRET, now - 400, &body);
    assert_eq!(t.post("/slack/commands", &stale, body.clone()).await.0, 401);
    let good = signed_headers(SLACK_SIGNING_SECRET, now, &body);
    let reencoded = String::from_utf8(body.clone())
        .unwrap()
        .replace("%20", "+")
        .replace('+', "%20");
    assert_ne!(reencoded.as_bytes(), body.as_slice());
    assert_eq!(
        t.post("/slack/commands", &good, reencoded.into_bytes())
            .await
            .0,
        401
    );
    let truncated = body[..body.len() - 10].to_vec();
    assert_eq!(t.post("/slack/commands", &good, truncated).await.0, 401);
    // Correctly signed but not a form Slack would send.
    for bad in [
        b"text=a&text=b".to_vec(),
        format!("user_id={}", "U".repeat(100)).into_bytes(),
        "a=1&".repeat(70).into_bytes(),
    ] {
        let h = signed_headers(SLACK_SIGNING_SECRET, now, &bad);
        let (s, reply) = t.post("/slack/commands", &h, bad).await;
        assert_eq!(s, 400, "{reply}");
    }
    assert_eq!(snapshot(&t), before);
    assert!(t.state.store.subscriptions().unwrap().is_empty());
    assert!(t.slack().is_empty() && t.fivetran().is_empty());
}

fn form_urlencoded_payload(body: &[u8]) -> (String, String) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    pairs.into_iter().next().unwrap()
}

fn form_of(v: &serde_json::Value) -> Vec<u8> {
    form_of_raw(&v.to_string())
}

fn form_of_raw(json: &str) -> Vec<u8> {
    serde_urlencoded::to_string([("payload", json)])
        .unwrap()
        .into_bytes()
}

/// Form-encodes with `+` for spaces and every other byte outside [A-Za-z0-9] as %XX, which is
/// valid but not byte-identical to what Slack sent.
fn url_escape_plus(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}
