//! Rollout modes end to end: `/fivetran mode` (approvers only, audited, stored), auto mode
//! running low-risk fixes at once within the daily budget, and the breaker that stops it and
//! proposes pausing instead.

use crate::world::{transient_failure, World, CONNECTION};
use chrono::Duration;
use serde_json::json;
use syncwarden::remediation::policy::{Mode, PolicySettings};
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::slack::SlackCall;
use syncwarden::sim::stack::{APPROVER, CHANNEL};

const ALICE: &str = "U0ALICE001";

async fn governed(policy: impl FnOnce(&mut PolicySettings)) -> World {
    World::build(&[APPROVER], |s, _| policy(&mut s.policy)).await
}

fn text_of(v: &serde_json::Value) -> String {
    format!("{} {}", v["text"].as_str().unwrap_or(""), v["blocks"])
}

fn kinds(t: &World, kind: &str) -> Vec<syncwarden::store::audit::AuditRecord> {
    t.audit()
        .into_iter()
        .filter(|r| r.entry.kind == kind)
        .collect()
}

/// The sync that auto mode started has finished (the simulator keeps "syncing" otherwise).
fn sync_finished(t: &World) {
    t.change_connection(|c| c["status"]["sync_state"] = json!("scheduled"));
}

/// A failure that auto mode fixes at once: the alert it posts, after checking exactly which
/// Fivetran calls went out.
async fn auto_fixed_alert(t: &mut World, sync_id: &str) -> SlackCall {
    let (status, _) = t.fivetran_webhook(&transient_failure(sync_id)).await;
    assert_eq!(status, 200);
    t.run_jobs().await;
    let reqs = t.fivetran();
    let calls: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/v1/connections/speak_inexpensive"),
            ("GET", "/v1/connections/speak_inexpensive"),
            ("POST", "/v1/connections/speak_inexpensive/sync"),
        ],
        "diagnosis, pre-flight, then the fix"
    );
    // Posted once; the result may also arrive as an update of that same message.
    let calls = t.slack();
    assert_eq!(calls[0].method, "chat.postMessage", "{calls:?}");
    assert!(
        calls[1..]
            .iter()
            .all(|c| c.method == "chat.update" && c.ts == calls[0].ts),
        "{calls:?}"
    );
    let mut last = calls.last().unwrap().clone();
    last.ts = calls[0].ts.clone();
    last
}

#[tokio::test]
async fn the_mode_command_shows_the_mode_and_only_approvers_change_it() {
    let mut t = World::new().await;
    // Anyone may look.
    let (status, ack) = t.slash("/fivetran mode pg_prod", ALICE, CHANNEL).await;
    assert_eq!(status, 200, "{ack}");
    let shown = t.await_slack(1).await.remove(0).body;
    assert_eq!(shown["response_type"], "ephemeral");
    assert!(
        text_of(&shown).contains("is in *approve* mode (policy.default_mode)"),
        "{shown}"
    );
    t.fivetran();

    // Not an approver: refused privately and audited; nothing changes.
    let (_, refused) = t.slash("/fivetran mode pg_prod auto", ALICE, CHANNEL).await;
    assert_eq!(refused["response_type"], "ephemeral");
    assert!(
        text_of(&refused).contains("You can't change the mode: you are not an approver"),
        "{refused}"
    );
    let denied = &kinds(&t, "mode_change_denied")[0];
    assert_eq!(denied.entry.actor, ALICE);
    assert_eq!(denied.entry.detail["requested"], "auto");
    assert!(t.state.store.mode_override(CONNECTION).unwrap().is_none());

    // An approver switches it: announced in the channel, stored, audited.
    let (_, changed) = t
        .slash("/fivetran mode pg_prod auto", APPROVER, CHANNEL)
        .await;
    assert_eq!(changed["response_type"], "in_channel");
    assert!(
        text_of(&changed).contains(
            "<@U0APPROVER> set *pg_prod* (`speak_inexpensive`) to *auto* mode (was approve)"
        ),
        "{changed}"
    );
    let stored = t.state.store.mode_override(CONNECTION).unwrap().unwrap();
    assert_eq!(
        (stored.mode, stored.set_by.as_str()),
        (Mode::Auto, APPROVER)
    );
    let change = &kinds(&t, "mode_changed")[0];
    assert_eq!(change.entry.actor, APPROVER);
    assert_eq!(change.entry.detail["from"], "approve");
    assert_eq!(change.entry.detail["to"], "auto");

    // The override applies to the next alert: the retry runs at once, no buttons.
    let msg = auto_fixed_alert(&mut t, "s1").await;
    assert!(msg.button_value("approve").is_none());
    let shown = msg.body["blocks"].to_string();
    assert!(
        shown.contains(
            "*Auto mode* ran this at once (automatic fix 1 of 3 today for this connector); done."
        ),
        "{shown}"
    );
    assert!(shown.contains("200 Success"), "{shown}");

    // Back to the configuration.
    let (_, back) = t
        .slash("/fivetran mode pg_prod default", APPROVER, CHANNEL)
        .await;
    assert!(
        text_of(&back).contains("to *approve* mode (was auto)"),
        "{back}"
    );
    assert!(text_of(&back).contains("Source: policy.default_mode"));
    assert!(t.state.store.mode_override(CONNECTION).unwrap().is_none());
}

#[tokio::test]
async fn auto_mode_runs_low_risk_fixes_within_the_daily_budget_then_asks() {
    let mut t = governed(|p| {
        p.default_mode = Mode::Auto;
        p.auto.max_per_connector_per_day = 2;
    })
    .await;
    for (i, nth) in [(1, 1), (2, 2)] {
        let msg = auto_fixed_alert(&mut t, &format!("s{i}")).await;
        let shown = msg.body["blocks"].to_string();
        assert!(
            shown.contains(&format!("automatic fix {nth} of 2 today")),
            "{shown}"
        );
        let p = t
            .state
            .store
            .proposals()
            .unwrap()
            .into_iter()
            .find(|p| p.governance.auto.is_some_and(|a| a.nth == nth))
            .expect("the auto-run proposal");
        assert_eq!(p.state, ProposalState::Succeeded);
        assert_eq!(p.decision.as_ref().unwrap().user, "system");
        // A click on an auto-run fix changes nothing.
        t.click_value("approve", &p.id, APPROVER, msg.ts.as_deref().unwrap())
            .await;
        t.run_jobs().await;
        let eph = t.slack();
        assert!(
            eph[0].text().contains("Auto mode already ran this fix"),
            "{eph:?}"
        );
        sync_finished(&t);
        t.recover(&format!("ok{i}")).await;
    }
    let approved = kinds(&t, "proposal_auto_approved");
    assert_eq!(approved.len(), 2);
    assert_eq!(approved[0].entry.actor, "system");
    assert_eq!(approved[1].entry.detail["nth_today"], 2);

    // The third today waits for an approver and says why.
    let msg = t.alert("s3").await;
    assert!(msg.button_value("approve").is_some());
    let shown = msg.body["blocks"].to_string();
    assert!(
        shown.contains("today's budget of 2 automatic fixes for this connector is used"),
        "{shown}"
    );
    assert_eq!(kinds(&t, "auto_budget_exhausted").len(), 1);
    t.recover("ok3").await;

    // A new UTC day, a new budget.
    t.clock.advance(Duration::hours(24));
    t.run_jobs().await;
    t.slack(); // the unanswered third proposal expired meanwhile
    let msg = auto_fixed_alert(&mut t, "s4").await;
    assert!(msg.body["blocks"]
        .to_string()
        .contains("automatic fix 1 of 2 today"));
}

#[tokio::test]
async fn auto_mode_still_asks_for_medium_and_high_risk_and_for_requests() {
    let mut t = governed(|p| p.default_mode = Mode::Auto).await;
    // A fix someone requests always waits, even a low-risk one.
    let msg = t.request("/fivetran sync pg_prod", ALICE).await;
    assert!(msg.button_value("approve").is_some());
    let msg = t.request("/fivetran pause pg_prod", ALICE).await;
    assert!(msg.button_value("approve").is_some());
    assert!(t.fivetran().is_empty(), "nothing ran");
    assert!(kinds(&t, "proposal_auto_approved").is_empty());
}

#[tokio::test]
async fn the_breaker_stops_auto_fixes_after_repeated_failures_and_proposes_a_pause() {
    let mut t = governed(|p| {
        p.default_mode = Mode::Auto;
        p.auto.breaker_failures = 2;
        p.auto.max_per_connector_per_day = 10;
    })
    .await;
    let alert = auto_fixed_alert(&mut t, "s1").await;
    sync_finished(&t);

    // The automatic retry did not help: the same failure again (a thread reply).
    t.fivetran_webhook(&transient_failure("s2")).await;
    t.run_jobs().await;
    assert!(t.fivetran().iter().all(|r| r.method == "GET"));
    let replies = t.slack();
    assert!(
        replies.iter().any(|c| c.method == "chat.postMessage"
            && c.body["thread_ts"] == json!(alert.ts.clone().unwrap())),
        "{replies:?}"
    );
    assert!(kinds(&t, "auto_breaker_tripped").is_empty());

    // The second failure since the automatic fix opens the breaker: pause is proposed.
    t.fivetran_webhook(&transient_failure("s3")).await;
    t.run_jobs().await;
    assert!(
        t.fivetran().iter().all(|r| r.method == "GET"),
        "no automatic fix this time"
    );
    let calls = t.slack();
    let update = calls
        .iter()
        .find(|c| c.method == "chat.update")
        .expect("the alert now proposes pausing");
    assert_eq!(update.ts, alert.ts);
    let shown = update.body["blocks"].to_string();
    assert!(shown.contains("Approve: Pause the connector"), "{shown}");
    assert!(
        shown.contains("Auto mode stopped fixing this connector: 2 syncs in a row failed"),
        "{shown}"
    );
    let tripped = &kinds(&t, "auto_breaker_tripped")[0];
    assert_eq!(tripped.entry.detail["failures"], 2);
    let pause = t.proposal_of(update);
    assert_eq!(pause.state, ProposalState::Proposed);
    assert!(t
        .state
        .store
        .breaker(CONNECTION)
        .unwrap()
        .tripped_at
        .is_some());

    // An approver pauses it.
    t.click(update, "approve", APPROVER).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes[0].body, Some(json!({"paused": true})));
    t.slack();

    // Setting the mode again re-arms automatic fixes.
    let (_, changed) = t
        .slash("/fivetran mode pg_prod auto", APPROVER, CHANNEL)
        .await;
    let changed = if changed["response_type"] == "in_channel" {
        changed
    } else {
        // The connector directory was not cached yet: answered on the response URL.
        t.await_slack(1).await.remove(0).body
    };
    t.fivetran();
    assert!(
        text_of(&changed).contains("stopped by the breaker; they are re-enabled"),
        "{changed}"
    );
    assert!(t
        .state
        .store
        .breaker(CONNECTION)
        .unwrap()
        .tripped_at
        .is_none());
}
