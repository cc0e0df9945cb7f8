//! Jobs that fail for good go to the dead-letter list with one notice, and an operator can
//! put them back; the worker pool releases claims left by a process that died.

use crate::world::{transient_failure, World};
use syncwarden::sim::stack::CHANNEL;
use syncwarden::sim::Fault;

fn refused(error: &str) -> Fault {
    Fault::status(
        "chat.postMessage",
        200,
        serde_json::json!({"ok": false, "error": error}),
    )
}

#[tokio::test]
async fn a_post_slack_always_refuses_is_buried_with_one_notice_and_can_be_retried() {
    let mut t = World::new().await;
    // Slack refuses the alert with an error no retry fixes.
    t.stack.slack.inject(refused("not_in_channel"));
    t.fivetran_webhook(&transient_failure("s1")).await;
    t.run_jobs().await;
    t.fivetran();
    let calls = t.slack();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        ["chat.postMessage", "chat.postMessage"],
        "{calls:?}"
    );
    assert!(!calls[0].ok);
    let notice = calls[1].text();
    assert_eq!(calls[1].channel(), Some(CHANNEL));
    assert!(
        notice.contains("gave up on a background job (`notify`"),
        "{notice}"
    );
    assert!(notice.contains("not_in_channel"), "{notice}");

    let dead = t.state.store.dead_jobs().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job.kind.name(), "notify");
    let failed: Vec<_> = t
        .audit()
        .into_iter()
        .filter(|r| r.entry.kind == "job_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].entry.detail["job_id"], dead[0].job.id);

    // A second job dies within the hour: audited and listed, no second notice.
    t.stack.slack.inject(refused("channel_not_found"));
    t.stack
        .fivetran
        .add_connection(syncwarden::sim::fivetran::FivetranSim::connection_template(
            "pg_two", "pg_two", "postgres",
        ));
    let mut other: serde_json::Value = serde_json::from_slice(&transient_failure("t1")).unwrap();
    other["connector_id"] = "pg_two".into();
    t.fivetran_webhook(other.to_string().as_bytes()).await;
    t.run_jobs().await;
    t.fivetran();
    let calls = t.slack();
    assert_eq!(calls.len(), 1, "only the refused post: {calls:?}");
    assert_eq!(t.state.store.dead_jobs().unwrap().len(), 2);

    // The operator fixes the channel and re-queues both: each alert lands once.
    let (done, unknown) = syncwarden::jobs_admin::retry(
        &t.state.store,
        &syncwarden::jobs_admin::Selection::AllDead,
        "cli:ops",
        {
            use syncwarden::clock::Clock;
            t.clock.now()
        },
    )
    .unwrap();
    assert_eq!((done.len(), unknown.len()), (2, 0));
    // (Past Slack's per-channel pacing for the posts just made.)
    t.clock.advance(chrono::Duration::seconds(5));
    t.run_jobs().await;
    let posted = t.slack();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert!(posted
        .iter()
        .all(|c| c.ok && c.method == "chat.postMessage"));
    assert!(t.state.store.dead_jobs().unwrap().is_empty());
    assert_eq!(
        t.audit_kinds()
            .iter()
            .filter(|k| *k == "job_retried")
            .count(),
        2
    );
}

#[tokio::test]
async fn the_worker_pool_runs_jobs_and_releases_claims_of_a_dead_process() {
    let mut t = World::new().await;
    // A job claimed by a "previous process" that never finished it.
    t.fivetran_webhook(&transient_failure("s1")).await;
    let lease = syncwarden::worker::LEASE;
    let now = {
        use syncwarden::clock::Clock;
        t.clock.now()
    };
    let claimed = t
        .state
        .store
        .claim_due(now, lease, |_| true)
        .unwrap()
        .unwrap();
    assert_eq!(claimed.kind.name(), "diagnose");
    assert_eq!(t.run_jobs().await, 0, "a claimed job is not run again");

    // A new worker pool (as `serve` starts it) releases the claim and runs everything.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pool = tokio::spawn(syncwarden::worker::run(t.state.clone(), stop_rx, 3));
    let posted = t.await_slack(1).await;
    assert_eq!(posted[0].method, "chat.postMessage");
    stop_tx.send(true).unwrap();
    pool.await.unwrap();
    t.fivetran();
    assert!(t
        .state
        .store
        .jobs()
        .unwrap()
        .iter()
        .all(|j| j.kind.name() == "expire_proposal"));
}

#[tokio::test]
async fn a_long_slack_outage_delays_the_alert_but_never_buries_it() {
    let mut t = World::new().await;
    // Slack answers 500 to the next 20 posts: far more than the 8 attempts a failing job gets.
    for _ in 0..20 {
        t.stack.slack.inject(Fault::status(
            "chat.postMessage",
            500,
            serde_json::json!({"ok": false, "error": "internal_error"}),
        ));
    }
    t.fivetran_webhook(&transient_failure("s1")).await;
    t.run_jobs().await;
    t.fivetran();
    let mut refused = 0;
    let mut posted = Vec::new();
    for _ in 0..40 {
        // (After a 500 Slack may have posted after all, so each retry first looks in the
        // channel's history.)
        for c in t
            .slack()
            .into_iter()
            .filter(|c| c.method == "chat.postMessage")
        {
            if c.ok {
                posted.push(c);
            } else {
                refused += 1;
            }
        }
        if !posted.is_empty() {
            break;
        }
        // Backing off to every 5 minutes: two hours of outage in all.
        t.clock.advance(chrono::Duration::minutes(8));
        t.run_jobs().await;
    }
    assert_eq!(refused, 20, "{posted:?}");
    assert_eq!(posted.len(), 1, "delivered once, late");
    assert_eq!(posted[0].method, "chat.postMessage");
    assert!(t.state.store.dead_jobs().unwrap().is_empty());
    assert!(!t.audit_kinds().iter().any(|k| k == "job_failed"));
}
