//! `/fivetran` slash commands end to end: signed requests to `/slack/commands`, answers on the
//! simulator's `response_url`, subscriptions routing real alerts, proposals through the
//! Approve flow.

use crate::world::{success_of, transient_failure, World, CONNECTION};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::slack::{SlackCall, RESPONSE_URL};
use syncwarden::sim::stack::{APPROVER, CHANNEL};
use syncwarden::sim::Fault;

const TEAM: &str = "C0TEAM0001";
const OPS: &str = "C0OPS00001";
const ALICE: &str = "U0ALICE001";

fn text_of(v: &Value) -> String {
    format!("{} {}", v["text"].as_str().unwrap_or(""), v["blocks"])
}

/// The one command answer that arrived on the response URL.
fn answer(calls: &[SlackCall]) -> Value {
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, RESPONSE_URL);
    calls[0].body.clone()
}

fn healthy(id: &str, name: &str) -> Value {
    let mut c = FivetranSim::connection_template(id, name, "postgres");
    c["succeeded_at"] = json!("2026-11-25T09:30:00.000000Z");
    c["failed_at"] = json!("2026-11-01T09:30:00.000000Z");
    c["status"]["update_state"] = json!("on_schedule");
    c
}

/// Delivers a failure webhook and runs the jobs; returns the posted alerts.
async fn deliver_failure(t: &mut World, sync_id: &str) -> Vec<SlackCall> {
    let (status, _) = t.fivetran_webhook(&transient_failure(sync_id)).await;
    assert_eq!(status, 200);
    t.run_jobs().await;
    let details = t.fivetran();
    assert!(details.iter().all(|r| r.method == "GET"), "{details:?}");
    let posted = t.slack();
    assert!(
        posted.iter().all(|c| c.method == "chat.postMessage"),
        "{posted:?}"
    );
    posted
}

#[tokio::test]
async fn subscribe_routes_alerts_to_that_channel_and_unsubscribe_restores_the_default() {
    let mut t = World::new().await;
    t.stack
        .fivetran
        .add_connection(healthy(CONNECTION, "pg_prod"));

    // Cold directory: acknowledged at once, answered on the response URL.
    let (status, ack) = t
        .slash(
            "/fivetran subscribe pg_prod <#C0TEAM0001|data-team>",
            ALICE,
            CHANNEL,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ack["response_type"], "ephemeral");
    assert!(text_of(&ack).contains("Looking up `pg_prod`"), "{ack}");
    let reply = answer(&t.await_slack(1).await);
    assert_eq!(reply["response_type"], "ephemeral");
    assert_eq!(
        reply["text"],
        ":white_check_mark: Alerts for *pg_prod* (`speak_inexpensive`) now go to <#C0TEAM0001>."
    );
    let listing = t.fivetran();
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert_eq!(listing[0].path, "/v1/connections");
    assert_eq!(listing[0].query.as_deref(), Some("limit=1000"));

    let added = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "subscription_added")
        .expect("subscription audited");
    assert_eq!(added.entry.actor, ALICE);
    assert_eq!(added.entry.connector_id.as_deref(), Some(CONNECTION));
    assert_eq!(added.entry.detail["channel"], TEAM);

    // The alert goes to the team's channel and not to the default one.
    let posted = deliver_failure(&mut t, "s1").await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].channel(), Some(TEAM));

    // Listing the routes needs no Fivetran.
    let (_, list) = t.slash("/fivetran subscriptions", ALICE, CHANNEL).await;
    let listed = text_of(&list);
    assert!(listed.contains("<#C0TEAM0001> ← *pg_prod*"), "{listed}");
    assert!(listed.contains("added by <@U0ALICE001>"), "{listed}");

    // The directory is now cached: unsubscribing by name answers in the HTTP response.
    let (status, reply) = t
        .slash(
            "/fivetran unsubscribe pg_prod <#C0TEAM0001>",
            ALICE,
            CHANNEL,
        )
        .await;
    assert_eq!(status, 200);
    let said = text_of(&reply);
    assert!(said.contains("no longer go to <#C0TEAM0001>"), "{said}");
    assert!(
        said.contains("go to the default channel <#C0ALERTS01>"),
        "{said}"
    );
    assert!(t.fivetran().is_empty());
    let removed = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "subscription_removed")
        .expect("unsubscription audited");
    assert_eq!(removed.entry.actor, ALICE);

    // The connector recovers (its alert in the team channel says so); the next failure is a
    // new incident and goes to the default channel.
    assert_eq!(
        t.fivetran_webhook(&success_of(CONNECTION, "s1-ok")).await.0,
        200
    );
    t.run_jobs().await;
    let recovered = t.slack();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].method, "chat.update");
    assert_eq!(recovered[0].channel(), Some(TEAM));
    let posted = deliver_failure(&mut t, "s2").await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].channel(), Some(CHANNEL));

    // The audit subcommand shows both, readable, without asking Fivetran.
    let (_, audit) = t
        .slash("/fivetran audit speak_inexpensive 50", ALICE, CHANNEL)
        .await;
    let shown = text_of(&audit);
    assert!(
        shown.contains("*subscription_added* by <@U0ALICE001>"),
        "{shown}"
    );
    assert!(shown.contains("*subscription_removed*"), "{shown}");
    assert!(shown.contains("Hash chain verified"), "{shown}");
    assert!(t.slack().is_empty());
}

#[tokio::test]
async fn a_long_audit_log_is_checked_in_the_background_and_shows_the_newest_records() {
    let mut t = World::new().await;
    let now = t.state.now();
    t.state
        .store
        .transact(now, |tx| {
            for i in 0..20_050u64 {
                tx.audit(
                    syncwarden::store::audit::AuditEntry::system("filler")
                        .connector(Some(if i == 20_049 { "last_one" } else { "other" }))
                        .detail(json!({ "i": i })),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let (status, ack) = t.slash("/fivetran audit 3", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    assert!(
        text_of(&ack).contains("Checking the audit log's 20050 records"),
        "{ack}"
    );
    let shown = text_of(&answer(&t.await_slack(1).await));
    assert!(shown.contains("Hash chain verified"), "{shown}");
    assert!(shown.contains("last_one"), "{shown}");
    assert_eq!(shown.matches("*filler*").count(), 3, "{shown}");
}

#[tokio::test]
async fn group_and_all_subscriptions_post_once_per_channel() {
    let mut t = World::new().await;
    for line in [
        "/fivetran subscribe group:projected_sickle <#C0TEAM0001|data-team>",
        "/fivetran subscribe all <#C0TEAM0001|data-team>",
        "/fivetran subscribe all",
    ] {
        let (status, reply) = t.slash(line, ALICE, OPS).await;
        assert_eq!(status, 200);
        assert!(text_of(&reply).contains("now go to"), "{reply}");
    }
    // Once the directory is known, a mistyped group is pointed out (the route is still kept,
    // for a group that has no connector yet).
    let (_, _ack) = t.slash("/fivetran health", ALICE, OPS).await;
    let _ = answer(&t.await_slack(1).await);
    assert_eq!(t.fivetran().len(), 1);
    let (_, typo) = t
        .slash("/fivetran subscribe group:projected_sickel", ALICE, OPS)
        .await;
    assert!(
        text_of(&typo).contains("did you mean `group:projected_sickle`?"),
        "{typo}"
    );
    let (_, _) = t
        .slash("/fivetran unsubscribe group:projected_sickel", ALICE, OPS)
        .await;
    // Subscribing twice changes nothing and says so.
    let (_, again) = t.slash("/fivetran subscribe all", ALICE, OPS).await;
    assert!(
        text_of(&again).contains("already go to <#C0OPS00001>"),
        "{again}"
    );
    assert!(t.fivetran().is_empty(), "group and all need no lookup");

    let posted = deliver_failure(&mut t, "s1").await;
    let mut channels: Vec<&str> = posted.iter().filter_map(|c| c.channel()).collect();
    channels.sort();
    assert_eq!(channels, vec![OPS, TEAM]);
    let incident = &t.state.store.incidents().unwrap()[0];
    assert_eq!(incident.messages.len(), 2);
}

#[tokio::test]
async fn health_over_sixty_connectors_and_several_pages_ranks_the_failing_one_first() {
    let mut t = World::new().await;
    t.stack.fivetran.set_page_cap(25);
    t.stack
        .fivetran
        .add_connection(healthy(CONNECTION, "pg_prod"));
    for i in 0..58 {
        t.stack
            .fivetran
            .add_connection(healthy(&format!("conn_{i:02}"), &format!("schema_{i:02}")));
    }
    let mut failing = healthy("mid_failing", "billing_mysql");
    failing["failed_at"] = json!("2026-11-25T09:50:00.000000Z");
    failing["status"]["setup_state"] = json!("broken");
    failing["status"]["tasks"] =
        json!([{"code": "reconnect", "message": "Reconnect: the password changed"}]);
    t.stack.fivetran.add_connection(failing);
    // One item syncwarden cannot read is left out; the rest of its page still counts.
    let mut unreadable = healthy("mid_unreadable", "odd_one");
    unreadable["status"] = json!("not an object");
    t.stack.fivetran.add_connection(unreadable);

    let (status, ack) = t.slash("/fivetran health", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    assert!(text_of(&ack).contains("Asking Fivetran"), "{ack}");
    let reply = answer(&t.await_slack(1).await);
    assert_eq!(reply["response_type"], "ephemeral");
    let blocks = reply["blocks"].as_array().unwrap();
    let first_row = blocks[2]["text"]["text"].as_str().unwrap();
    assert!(
        first_row.starts_with(":red_circle: *billing_mysql* (`mid_failing`)"),
        "{first_row}"
    );
    assert!(first_row.contains("setup broken"), "{first_row}");
    assert!(first_row.contains("1 task(s)"), "{first_row}");
    assert!(
        text_of(&reply).contains("60 connector(s): 1 failing · 0 warning · 0 paused · 59 healthy"),
        "{reply}"
    );
    assert!(text_of(&reply).contains("…and 45 more"), "{reply}");
    assert!(blocks.len() <= 50);

    let pages = t.fivetran();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|r| r.path == "/v1/connections"));
    assert!(pages[1].query.as_deref().unwrap().contains("cursor="));
    assert!(pages[2].query.as_deref().unwrap().contains("cursor="));
}

#[tokio::test]
async fn a_repeated_health_within_a_minute_is_answered_at_once_from_the_last_listing() {
    let mut t = World::new().await;
    t.stack
        .fivetran
        .add_connection(healthy(CONNECTION, "pg_prod"));
    let (_, ack) = t.slash("/fivetran health", ALICE, CHANNEL).await;
    assert!(text_of(&ack).contains("Asking Fivetran"), "{ack}");
    let first = answer(&t.await_slack(1).await);
    assert!(text_of(&first).contains("1 connector(s)"), "{first}");
    assert_eq!(t.fivetran().len(), 1);

    // 30 s later: the answer is the slash command's own HTTP answer, from the listing, and
    // says how old the listing is. A failure stored since then counts at once.
    t.clock.advance(chrono::Duration::seconds(30));
    let _ = t.alert("s1").await;
    t.fivetran();
    let (status, cached) = t.slash("/fivetran health", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    let shown = text_of(&cached);
    assert!(shown.contains("1 connector(s)"), "{shown}");
    assert!(
        shown.contains("Fetched from Fivetran at 2026-11-25 10:00 UTC"),
        "{shown}"
    );
    assert!(
        shown.contains("Answered from that listing (30 s old)"),
        "{shown}"
    );
    assert!(shown.contains("1 failure(s) in 7 days"), "{shown}");
    assert!(t.fivetran().is_empty(), "no second listing");
    assert!(t.slack().is_empty(), "nothing posted to the response_url");

    // A minute after the listing, Fivetran is asked again.
    t.clock.advance(chrono::Duration::seconds(31));
    let (_, ack) = t.slash("/fivetran health", ALICE, CHANNEL).await;
    assert!(text_of(&ack).contains("Asking Fivetran"), "{ack}");
    let _ = answer(&t.await_slack(1).await);
    assert_eq!(t.fivetran().len(), 1);
}

#[tokio::test]
async fn pause_by_name_is_a_proposal_that_approved_sends_exactly_one_patch() {
    let mut t = World::new().await;
    let (status, ack) = t.slash("/fivetran pause pg_prod", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    assert_eq!(ack["response_type"], "ephemeral");
    let announced = answer(&t.await_slack(1).await);
    assert_eq!(announced["response_type"], "in_channel");
    assert!(
        text_of(&announced).contains("<@U0ALICE001> asked to *pause the connector* for *pg_prod*"),
        "{announced}"
    );
    let listing = t.fivetran();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].method, "GET");

    // The proposal is posted in the channel with the usual buttons.
    t.run_jobs().await;
    let mut posted = t.slack();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let msg = posted.remove(0);
    assert_eq!(msg.method, "chat.postMessage");
    assert_eq!(msg.channel(), Some(CHANNEL));
    let shown = msg.body["blocks"].to_string();
    assert!(
        shown.contains(r#"PATCH /v1/connections/speak_inexpensive {\"paused\":true}"#),
        "{shown}"
    );
    assert!(shown.contains("U0ALICE001"), "{shown}");
    assert_eq!(
        msg.body["blocks"][0]["text"]["text"],
        "Requested: Pause the connector — pg_prod (postgres)"
    );
    assert!(
        msg.text().starts_with("Requested: pg_prod"),
        "{}",
        msg.text()
    );
    let proposal_id = msg.proposal_id().unwrap();
    let p = t.state.store.proposal(&proposal_id).unwrap().unwrap();
    assert_eq!(p.requested_by, ALICE);
    assert!(t.fivetran().is_empty(), "nothing runs before approval");

    assert_eq!(t.click_in_channel(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    let (reads, calls) = t.preflight_and_writes();
    assert_eq!(reads, 1, "the connection is re-read before pausing");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "PATCH");
    assert_eq!(calls[0].path, format!("/v1/connections/{CONNECTION}"));
    assert_eq!(calls[0].body, Some(json!({"paused": true})));
    assert_eq!(
        t.stack.fivetran.connection(CONNECTION).unwrap()["paused"],
        true
    );
    let updates = t.slack();
    assert!(
        updates.iter().all(|c| c.method == "chat.update"),
        "{updates:?}"
    );
    assert!(updates.last().unwrap().body["blocks"]
        .to_string()
        .contains("Approved by <@U0APPROVER>"));
    let created = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "proposal_created")
        .unwrap();
    assert_eq!(created.entry.actor, ALICE);

    // With the directory cached, the next request is answered in the HTTP response itself.
    let (status, announced) = t.slash("/fivetran resume PG_PROD", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    assert_eq!(announced["response_type"], "in_channel");
    assert!(
        text_of(&announced).contains("asked to *resume the connector*"),
        "{announced}"
    );
    assert!(t.fivetran().is_empty());
    t.run_jobs().await;
    let posted = t.slack();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].body["blocks"]
        .to_string()
        .contains(r#"PATCH /v1/connections/speak_inexpensive {\"paused\":false}"#));
}

#[tokio::test]
async fn unknown_subcommands_and_names_get_did_you_mean() {
    let mut t = World::new().await;
    let (status, reply) = t.slash("/fivetran helth", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    assert_eq!(reply["response_type"], "ephemeral");
    assert!(
        text_of(&reply)
            .contains("`helth` is not a /fivetran subcommand. Did you mean `/fivetran health`?"),
        "{reply}"
    );
    let (_, reply) = t
        .slash("/fivetran frequency pg_prod 7", ALICE, CHANNEL)
        .await;
    assert!(
        text_of(&reply).contains("1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440"),
        "{reply}"
    );
    let (_, help) = t.slash("/fivetran", ALICE, CHANNEL).await;
    assert!(text_of(&help).contains("/fivetran subscribe pg_prod #data-alerts"));
    assert!(t.slack().is_empty() && t.fivetran().is_empty());

    let (_, _ack) = t.slash("/fivetran status pg_prd", ALICE, CHANNEL).await;
    let reply = answer(&t.await_slack(1).await);
    assert!(
        text_of(&reply)
            .contains("No connector is called `pg_prd` (by id or name). Did you mean `pg_prod`"),
        "{reply}"
    );
    assert_eq!(t.fivetran().len(), 1);
}

#[tokio::test]
async fn status_shows_one_connector_in_detail() {
    let mut t = World::new().await;
    let _ = t.alert("s1").await;
    let (_, _ack) = t
        .slash("/fivetran status speak_inexpensive", ALICE, CHANNEL)
        .await;
    let reply = answer(&t.await_slack(1).await);
    let shown = text_of(&reply);
    assert!(shown.contains("*pg_prod* (`speak_inexpensive`)"), "{shown}");
    assert!(shown.contains("every 360 min"), "{shown}");
    assert!(
        shown.contains("*Mode* approve (policy.default_mode)"),
        "{shown}"
    );
    assert!(shown.contains("FAILURE_WITH_TASK"), "{shown}");
    assert!(
        shown.contains("*Open proposals*\\n• Retry the sync — proposed"),
        "{shown}"
    );
    let reqs = t.fivetran();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].path, "/v1/connections");
    assert_eq!(reqs[1].path, "/v1/connections/speak_inexpensive");

    // A `/fivetran mode` override shows with who set it.
    let (_, changed) = t
        .slash(
            "/fivetran mode speak_inexpensive monitor",
            APPROVER,
            CHANNEL,
        )
        .await;
    assert_eq!(changed["response_type"], "in_channel", "{changed}");
    let _ = t.slack();
    let _ = t
        .slash("/fivetran status speak_inexpensive", ALICE, CHANNEL)
        .await;
    let shown = text_of(&answer(&t.await_slack(1).await));
    assert!(
        shown.contains("*Mode* monitor (set by <@U0APPROVER> with /fivetran mode at"),
        "{shown}"
    );
    // Reads only: showing a mode changes nothing at Fivetran.
    let reqs = t.fivetran();
    assert!(reqs.iter().all(|r| r.method == "GET"), "{reqs:?}");
}

#[tokio::test]
async fn the_ack_arrives_before_a_slow_fivetran_answers() {
    let mut t = World::new().await;
    let slow = 2_000;
    t.stack.fivetran.inject(Fault {
        delay_ms: slow,
        ..Fault::status("/v1/connections", 200, t.stack.fivetran.list_body()).with_method("GET")
    });
    let started = Instant::now();
    let (status, ack) = t.slash("/fivetran health", ALICE, CHANNEL).await;
    let acked = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        acked < Duration::from_millis(slow / 2),
        "ack took {acked:?}"
    );
    assert!(text_of(&ack).contains("Asking Fivetran"), "{ack}");
    assert!(t.slack().is_empty(), "the answer cannot precede the ack");

    let reply = answer(&t.await_slack(1).await);
    assert!(started.elapsed() >= Duration::from_millis(slow));
    assert!(text_of(&reply).contains("1 connector(s)"), "{reply}");
    assert_eq!(t.fivetran().len(), 1);
}

#[tokio::test]
async fn fivetran_failures_are_explained_not_swallowed() {
    let mut t = World::new().await;
    t.stack.fivetran.inject(
        Fault::status(
            "/v1/connections",
            503,
            json!({"code": "ServiceUnavailable", "message": "try later"}),
        )
        .with_method("GET"),
    );
    let (status, _ack) = t.slash("/fivetran health", ALICE, CHANNEL).await;
    assert_eq!(status, 200);
    let reply = answer(&t.await_slack(1).await);
    assert_eq!(reply["response_type"], "ephemeral");
    assert!(
        text_of(&reply).contains(
            "Could not check connector health because Fivetran did not answer as expected: HTTP 503 ServiceUnavailable: try later"
        ),
        "{reply}"
    );
    assert_eq!(t.fivetran().len(), 1);
    assert!(!text_of(&reply).contains(syncwarden::sim::stack::FIVETRAN_SECRET));
}

#[tokio::test]
async fn hostile_command_text_gets_a_usage_message_and_changes_nothing() {
    let mut t = World::new().await;
    for line in [
        "/fivetran status <!channel>",
        "/fivetran subscribe <@U0MALLORY> <#C0TEAM0001|x>",
        "/fivetran resync pg_prod ../../etc.passwd/x",
        "/fivetran audit 100000000000000000000000",
    ] {
        let (status, reply) = t.slash(line, "U0MALLORY", CHANNEL).await;
        assert_eq!(status, 200, "{line}");
        assert_eq!(reply["response_type"], "ephemeral", "{line}");
        let problems = syncwarden::slack::blocks::limit_violations(&reply);
        assert!(problems.is_empty(), "{line}: {problems:?}");
        assert!(!reply.to_string().contains("<!channel>"), "{line}: {reply}");
    }
    let long = format!("/fivetran status {}", "x".repeat(100_000));
    let (status, reply) = t.slash(&long, "U0MALLORY", CHANNEL).await;
    assert_eq!(status, 200);
    assert!(
        text_of(&reply).contains("is not a connector id or name"),
        "{}",
        &reply.to_string()[..200]
    );
    assert!(t.state.store.subscriptions().unwrap().is_empty());
    assert!(t.state.store.proposals().unwrap().is_empty());
    assert!(t.slack().is_empty() && t.fivetran().is_empty());
}

#[tokio::test]
async fn a_rate_limited_listing_holds_the_next_one_back_and_a_later_refusal_answers_from_the_last_listing(
) {
    let mut t = World::new().await;
    t.stack
        .fivetran
        .add_connection(healthy(CONNECTION, "pg_prod"));
    let refuse_next_listing = |t: &World| {
        t.stack.fivetran.inject(
            Fault::status(
                "/v1/connections",
                429,
                json!({"code": "TooManyRequests", "message": "slow down"}),
            )
            .with_method("GET")
            .with_retry_after(120),
        )
    };
    refuse_next_listing(&t);
    let _ = t.slash("/fivetran health", ALICE, CHANNEL).await;
    let first = text_of(&answer(&t.await_slack(1).await));
    assert!(
        first.contains("HTTP 429 TooManyRequests: rate limited, retry after 120s"),
        "{first}"
    );
    assert_eq!(t.fivetran().len(), 1);

    // Within the wait Fivetran asked for, the next listing is not sent at all.
    t.clock.advance(chrono::Duration::seconds(30));
    let _ = t.slash("/fivetran health", ALICE, CHANNEL).await;
    let held = text_of(&answer(&t.await_slack(1).await));
    assert!(held.contains("not sent to Fivetran"), "{held}");
    assert!(t.fivetran().is_empty());

    // After it, the listing goes out and answers.
    t.clock.advance(chrono::Duration::seconds(100));
    let _ = t.slash("/fivetran health", ALICE, CHANNEL).await;
    let answered = text_of(&answer(&t.await_slack(1).await));
    assert!(answered.contains("1 connector(s)"), "{answered}");
    assert_eq!(t.fivetran().len(), 1);

    // Once there is a listing, a later one that Fivetran refuses answers from it, saying so.
    refuse_next_listing(&t);
    t.clock.advance(chrono::Duration::seconds(90));
    let _ = t.slash("/fivetran health", ALICE, CHANNEL).await;
    let stale = text_of(&answer(&t.await_slack(1).await));
    assert!(stale.contains("1 connector(s)"), "{stale}");
    assert!(
        stale.contains("Fivetran could not be asked for a new listing (HTTP 429 TooManyRequests"),
        "{stale}"
    );
    assert!(
        stale.contains("Answered from that listing (1 min old)"),
        "{stale}"
    );
    assert_eq!(t.fivetran().len(), 1);
}
