//! External limits: Fivetran and Slack throttling (429 with `Retry-After`) and 5xx storms.
//! Every alert is delivered exactly once, late rather than never; no call goes out before the
//! time the service named. Times are the manual clock's, as the simulators recorded them.

use crate::world::World;
use chrono::{DateTime, Duration, Utc};
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::fivetran::{FivetranSim, RecordedRequest};
use syncwarden::sim::slack::SlackCall;
use syncwarden::sim::stack::{APPROVER, CHANNEL};
use syncwarden::sim::Fault;

/// Matches every connection's details GET (with method GET).
const DETAILS: &str = "/v1/connections/";

fn fivetran_429(path: &str, method: &str, secs: u64) -> Fault {
    Fault::status(
        path,
        429,
        serde_json::json!({"code": "TooManyRequests", "message": "API rate limit exceeded"}),
    )
    .with_method(method)
    .with_retry_after(secs)
}

fn fivetran_503(path: &str, method: &str) -> Fault {
    Fault::status(
        path,
        503,
        serde_json::json!({"code": "ServiceUnavailable", "message": "Service Unavailable"}),
    )
    .with_method(method)
}

fn slack_fault(status: u16, error: &str) -> Fault {
    Fault::status(
        "chat.postMessage",
        status,
        serde_json::json!({"ok": false, "error": error}),
    )
}

/// Connector `n`: its own connection in its own destination group, so each failure is an
/// incident of its own (no streak, no storm).
fn connector(t: &World, n: usize) -> String {
    let id = format!("conn_{n:02}");
    if t.stack.fivetran.connection(&id).is_none() {
        let mut c = FivetranSim::connection_template(&id, &format!("db_{n:02}"), "postgres");
        c["group_id"] = serde_json::json!(format!("group_{n:02}"));
        t.stack.fivetran.add_connection(c);
    }
    id
}

/// Delivers a transient failure of connector `n`; the alert job runs on the next `run_jobs`.
async fn deliver(t: &World, n: usize) {
    let id = connector(t, n);
    let body = serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T09:56:43.688Z",
        "connector_type": "postgres",
        "connector_id": id,
        "connector_name": format!("db_{n:02}"),
        "sync_id": format!("sync-{n}"),
        "destination_group_id": format!("group_{n:02}"),
        "data": {"status": "FAILURE_WITH_TASK", "reason": "java.net.SocketTimeoutException: Read timed out", "taskType": "retry_sync"}
    });
    let (status, body) = t.fivetran_webhook(body.to_string().as_bytes()).await;
    assert_eq!(status, 200, "{body}");
}

fn details_of(n: usize) -> String {
    format!("/v1/connections/conn_{n:02}")
}

/// Runs jobs, moving the clock to the next due job each time, until none is left or
/// `limit` has passed. Returns the time it stopped at.
async fn drain(t: &World, limit: Duration) -> DateTime<Utc> {
    use syncwarden::clock::Clock;
    let end = t.clock.now() + limit;
    loop {
        t.run_jobs().await;
        match t.state.store.next_due().unwrap() {
            Some(due) if due <= end => t.clock.set(due.max(t.clock.now())),
            _ => return t.clock.now(),
        }
    }
}

fn now(t: &World) -> DateTime<Utc> {
    use syncwarden::clock::Clock;
    t.clock.now()
}

fn posts(calls: &[SlackCall]) -> Vec<&SlackCall> {
    calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.ok)
        .collect()
}

fn alerts<'a>(calls: &[&'a SlackCall]) -> Vec<&'a SlackCall> {
    calls
        .iter()
        .copied()
        .filter(|c| c.text().starts_with("Sync failed"))
        .collect()
}

/// Slack's per-channel limit as the simulator saw it: in any stretch of `s` seconds a channel
/// got at most 3 + `s` posts (a burst of 3, then one a second).
fn assert_paced(calls: &[&SlackCall]) {
    let mut by_channel: std::collections::BTreeMap<&str, Vec<DateTime<Utc>>> = Default::default();
    for c in calls {
        by_channel
            .entry(c.channel().unwrap_or(""))
            .or_default()
            .push(c.at);
    }
    for (channel, times) in by_channel {
        for i in 0..times.len() {
            for j in i + 1..times.len() {
                let secs = (times[j] - times[i]).num_milliseconds() as f64 / 1000.0;
                let allowed = 3.0 + secs.floor();
                assert!(
                    (j - i + 1) as f64 <= allowed,
                    "{channel}: {} posts within {secs}s: {times:?}",
                    j - i + 1
                );
            }
        }
    }
}

fn requests_to<'a>(
    reqs: &'a [RecordedRequest],
    method: &str,
    path: &str,
) -> Vec<&'a RecordedRequest> {
    reqs.iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

#[tokio::test]
async fn fivetran_429_on_execute_holds_every_call_until_retry_after_then_runs_once() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.stack.fivetran.inject(fivetran_429("/sync", "POST", 120));
    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    let limited_at = now(&t);
    // The pre-flight re-reads the connection, then the approved call is refused with 429.
    let first: Vec<_> = t
        .fivetran()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].method.as_str(), first[0].status), ("POST", 429));

    // Within the wait: a new failure is alerted at once, but its details GET is not sent.
    t.clock.advance(Duration::seconds(60));
    deliver(&t, 2).await;
    t.run_jobs().await;
    assert!(
        t.fivetran().is_empty(),
        "called Fivetran inside Retry-After"
    );
    let s2 = posts(&t.slack()).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(s2.len(), 1, "{s2:?}");
    let blocks = s2[0].body["blocks"].to_string();
    assert!(
        blocks.contains("Connection details unavailable"),
        "{blocks}"
    );
    assert!(blocks.contains("Retry-After"), "{blocks}");

    // One second before the wait ends: still nothing.
    t.clock.set(limited_at + Duration::seconds(119));
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    // At the wait's end the approved call goes out, once, and succeeds.
    t.clock.set(limited_at + Duration::seconds(120));
    drain(&t, Duration::seconds(10)).await;
    let reqs = t.fivetran();
    let syncs = requests_to(&reqs, "POST", "/v1/connections/speak_inexpensive/sync");
    assert_eq!(syncs.len(), 1, "{reqs:?}");
    assert_eq!(syncs[0].status, 200);
    assert!(syncs[0].at >= first[0].at + Duration::seconds(120));
    let p = t
        .state
        .store
        .proposal(&msg.proposal_id().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(p.state, ProposalState::Succeeded);
    let updates = t.slack();
    assert!(
        updates.iter().all(|c| c.method == "chat.update"),
        "{updates:?}"
    );
    let kinds = t.audit_kinds();
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("execution_rate_limited"), 1);
    assert_eq!(count("execution_succeeded"), 1);
}

#[tokio::test]
async fn fivetran_429_on_the_details_get_still_alerts_and_waits_before_the_next_get() {
    let mut t = World::new().await;
    t.stack.fivetran.inject(fivetran_429(DETAILS, "GET", 60));
    deliver(&t, 1).await;
    t.run_jobs().await;
    let start = now(&t);
    let reqs = t.fivetran();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].status, 429);
    let first = t.slack();
    assert_eq!(alerts(&posts(&first)).len(), 1, "{first:?}");

    t.clock.advance(Duration::seconds(30));
    deliver(&t, 2).await;
    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "GET sent inside Retry-After");
    assert_eq!(alerts(&posts(&t.slack())).len(), 1);

    t.clock.set(start + Duration::seconds(60));
    deliver(&t, 3).await;
    t.run_jobs().await;
    let reqs = t.fivetran();
    assert_eq!(
        requests_to(&reqs, "GET", &details_of(3)).len(),
        1,
        "{reqs:?}"
    );
    assert_eq!(reqs[0].status, 200);
    assert!(reqs[0].at >= start + Duration::seconds(60));
    let third = t.slack();
    let third = alerts(&posts(&third));
    assert_eq!(third.len(), 1);
    assert!(!third[0].body["blocks"]
        .to_string()
        .contains("Connection details unavailable"));
    assert_eq!(t.state.store.incidents().unwrap().len(), 3);
}

#[tokio::test]
async fn a_fivetran_5xx_storm_opens_the_breaker_with_one_notice_and_closes_with_one() {
    let mut t = World::new().await;
    for _ in 0..5 {
        t.stack.fivetran.inject(fivetran_503(DETAILS, "GET"));
    }
    for i in 0..8 {
        deliver(&t, i).await;
    }
    drain(&t, Duration::seconds(20)).await;

    // Five failed GETs open the breaker; the other three alerts do not call Fivetran at all.
    let storm = t.fivetran();
    assert_eq!(storm.len(), 5, "{storm:?}");
    assert!(storm.iter().all(|r| r.status == 503));
    let opened_at = storm[4].at;
    let calls = t.slack();
    let posted = posts(&calls);
    assert_paced(&posted);
    let alerts_posted = alerts(&posted);
    assert_eq!(alerts_posted.len(), 8, "every alert posted: {posted:?}");
    let mut incidents: Vec<String> = t
        .state
        .store
        .incidents()
        .unwrap()
        .into_iter()
        .map(|i| {
            assert_eq!(i.messages.len(), 1, "{i:?}");
            i.id
        })
        .collect();
    incidents.dedup();
    assert_eq!(incidents.len(), 8);
    let notices: Vec<_> = posted
        .iter()
        .filter(|c| c.text().contains("Fivetran's API is not answering"))
        .collect();
    assert_eq!(notices.len(), 1, "{posted:?}");
    assert_eq!(notices[0].channel(), Some(CHANNEL));

    // An approval while Fivetran is down waits; nothing is sent.
    let msg = alerts_posted[0].clone();
    let approved_call = t
        .state
        .store
        .proposal(&msg.proposal_id().unwrap())
        .unwrap()
        .unwrap()
        .call
        .path;
    assert!(approved_call.ends_with("/sync"), "{approved_call}");
    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let shown = t.slack();
    assert!(
        shown.iter().all(|c| c.method == "chat.update"),
        "only the approval is shown: {shown:?}"
    );
    let p = t
        .state
        .store
        .proposal(&msg.proposal_id().unwrap())
        .unwrap()
        .unwrap();
    // The pre-flight re-read waits for the breaker, so nothing has been claimed yet.
    assert_eq!(p.state, ProposalState::Approved);
    let waiting = t.state.store.jobs().unwrap();
    let execute = waiting.iter().find(|j| j.kind.name() == "execute").unwrap();
    assert!(
        execute
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("Fivetran looks down")),
        "{execute:?}"
    );

    // After the cool-down one probe goes out (the waiting pre-flight read); it succeeds and
    // closes the breaker: one recovery notice, and the approved call ran exactly once.
    drain(&t, Duration::seconds(60)).await;
    let reqs = t.fivetran();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].method, "GET");
    assert!(reqs[0].at >= opened_at + Duration::seconds(30), "{reqs:?}");
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(reqs[1].path, approved_call);
    let calls = t.slack();
    let recovered: Vec<_> = calls
        .iter()
        .filter(|c| c.text().contains("Fivetran's API answers again"))
        .collect();
    assert_eq!(recovered.len(), 1, "{calls:?}");
    let kinds = t.audit_kinds();
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("fivetran_unavailable"), 1);
    assert_eq!(count("fivetran_recovered"), 1);
    assert_eq!(count("execution_succeeded"), 1);
    assert_eq!(count("job_failed"), 0);

    // Later alerts get their details again.
    deliver(&t, 20).await;
    drain(&t, Duration::seconds(5)).await;
    assert_eq!(requests_to(&t.fivetran(), "GET", &details_of(20)).len(), 1);
    let later = t.slack();
    assert_eq!(alerts(&posts(&later)).len(), 1);
}

#[tokio::test]
async fn slack_429_holds_the_channel_until_retry_after_and_each_alert_lands_once() {
    let mut t = World::new().await;
    t.stack
        .slack
        .inject(slack_fault(429, "ratelimited").with_retry_after(30));
    deliver(&t, 1).await;
    t.run_jobs().await;
    let limited = t.slack();
    assert_eq!(limited.len(), 1);
    assert!(!limited[0].ok);
    let limited_at = limited[0].at;
    // A second alert for the same channel is held too, without a call.
    deliver(&t, 2).await;
    t.run_jobs().await;
    t.clock.advance(Duration::seconds(29));
    t.run_jobs().await;
    assert!(t.slack().is_empty(), "posted inside Retry-After");

    drain(&t, Duration::seconds(10)).await;
    let calls = t.slack();
    let posted = posts(&calls);
    assert_eq!(posted.len(), 2, "{calls:?}");
    assert!(posted
        .iter()
        .all(|c| c.at >= limited_at + Duration::seconds(30)));
    // After a 429, one at a time: the second a second after the first.
    assert!(
        posted[1].at - posted[0].at >= Duration::seconds(1),
        "{posted:?}"
    );
    for i in t.state.store.incidents().unwrap() {
        assert_eq!(i.messages.len(), 1);
    }
    t.fivetran();
    assert_eq!(
        t.audit_kinds()
            .iter()
            .filter(|k| *k == "message_posted")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_slack_5xx_storm_delays_alerts_but_delivers_each_exactly_once() {
    let mut t = World::new().await;
    for _ in 0..6 {
        t.stack.slack.inject(slack_fault(500, "internal_error"));
    }
    for i in 0..3 {
        deliver(&t, i).await;
    }
    drain(&t, Duration::minutes(30)).await;
    let calls = t.slack();
    let failed = calls.iter().filter(|c| !c.ok).count();
    assert_eq!(failed, 6, "{calls:?}");
    let posted = posts(&calls);
    assert_eq!(posted.len(), 3, "{calls:?}");
    assert_paced(&posted);
    let mut sync_ids: Vec<String> = t
        .state
        .store
        .incidents()
        .unwrap()
        .into_iter()
        .map(|i| {
            assert_eq!(i.messages.len(), 1);
            i.id
        })
        .collect();
    sync_ids.sort();
    sync_ids.dedup();
    assert_eq!(sync_ids.len(), 3);
    assert!(!t.audit_kinds().contains(&"job_failed".to_string()));
    // Only the proposals' future expiries are left.
    assert!(t
        .state
        .store
        .jobs()
        .unwrap()
        .iter()
        .all(|j| j.kind.name() == "expire_proposal"));
    let _ = t.fivetran();
}

#[tokio::test]
async fn many_alerts_in_one_channel_are_paced_about_one_a_second() {
    let mut t = World::new().await;
    for i in 0..10 {
        deliver(&t, i).await;
    }
    let start = now(&t);
    t.run_jobs().await;
    // A burst of three goes out at once; the rest wait their turn without a call.
    let burst = t.slack();
    assert_eq!(posts(&burst).len(), 3, "{burst:?}");
    assert!(burst.iter().all(|c| c.ok));
    let end = drain(&t, Duration::seconds(60)).await;
    let rest = t.slack();
    assert_eq!(posts(&rest).len(), 7);
    assert!(
        rest.iter().all(|c| c.ok),
        "held calls are not sent: {rest:?}"
    );
    assert!(end - start >= Duration::seconds(7), "{start} .. {end}");
    let all: Vec<SlackCall> = burst.into_iter().chain(rest).collect();
    assert_paced(&posts(&all));
    t.fivetran();
}

#[tokio::test]
async fn a_low_fivetran_budget_spaces_calls_out() {
    let mut t = World::new().await;
    // 100 requests left in Fivetran's hour: one call every 36 s or so.
    t.stack.fivetran.set_rate_limit_remaining(101);
    deliver(&t, 1).await;
    t.run_jobs().await;
    let first = t.fivetran();
    assert_eq!(first.len(), 1);
    t.slack();
    t.clock.advance(Duration::seconds(20));
    deliver(&t, 2).await;
    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "called again within the spacing");
    let held = t.slack();
    let blocks = posts(&held)[0].body["blocks"].to_string();
    assert!(blocks.contains("API requests left this hour"), "{blocks}");
    t.clock.advance(Duration::seconds(17));
    deliver(&t, 3).await;
    t.run_jobs().await;
    let later = t.fivetran();
    assert_eq!(later.len(), 1);
    assert!(later[0].at - first[0].at >= Duration::seconds(36));
    assert_eq!(posts(&t.slack()).len(), 1);
}
