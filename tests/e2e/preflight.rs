//! Approvals that stay true: before an approved call is sent the connection is re-read, and a
//! pointless or no-longer-matching call is not sent; the alert says why.

use crate::world::{failure, World, CONNECTION};
use serde_json::json;
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::stack::APPROVER;

const ALICE: &str = "U0ALICE001";

/// The last message update, as text.
fn last_update(t: &mut World) -> String {
    let updates = t.slack();
    assert!(
        updates.iter().all(|c| c.method == "chat.update"),
        "{updates:?}"
    );
    updates.last().expect("the alert was updated").body["blocks"].to_string()
}

fn skipped_record(t: &World) -> serde_json::Value {
    t.audit()
        .into_iter()
        .find(|r| r.entry.kind == "execution_skipped")
        .expect("the skip is audited")
        .entry
        .detail
}

#[tokio::test]
async fn a_pause_is_not_sent_when_the_connector_is_already_paused() {
    let mut t = World::new().await;
    let msg = t.request("/fivetran pause pg_prod", ALICE).await;
    t.change_connection(|c| c["paused"] = json!(true));
    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    let (reads, writes) = t.preflight_and_writes();
    assert_eq!(
        (reads, writes.len()),
        (1, 0),
        "nothing was sent: {writes:?}"
    );
    let p = t.proposal_of(&msg);
    assert_eq!(p.state, ProposalState::Skipped);
    let shown = last_update(&mut t);
    assert!(
        shown.contains("but not run: the connector is already paused"),
        "{shown}"
    );
    assert!(!shown.contains("\"action_id\":\"approve\""), "{shown}");
    let detail = skipped_record(&t);
    assert_eq!(detail["reason"], "the connector is already paused");
    assert_eq!(detail["observed"]["paused"], true);
    assert_eq!(detail["method"], "PATCH");
}

#[tokio::test]
async fn a_retry_is_not_sent_while_a_sync_is_already_running() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.change_connection(|c| c["status"]["sync_state"] = json!("syncing"));
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert!(writes.is_empty(), "{writes:?}");
    let shown = last_update(&mut t);
    assert!(
        shown.contains("but not run: a sync is already running"),
        "{shown}"
    );
    assert_eq!(skipped_record(&t)["observed"]["sync_state"], "syncing");
}

#[tokio::test]
async fn a_slower_frequency_is_not_sent_when_the_connector_changed_since_the_proposal() {
    let mut t = World::new().await;
    // A daily quota: the proposal is "one step slower than now" (360 → 480 minutes).
    let (status, _) = t
        .fivetran_webhook(&failure("s1", "Daily API rate limit met"))
        .await;
    assert_eq!(status, 200);
    t.run_jobs().await;
    t.fivetran();
    let msg = t.slack().remove(0);
    let shown = msg.body["blocks"].to_string();
    assert!(
        shown.contains(r#"PATCH /v1/connections/speak_inexpensive {\"sync_frequency\":480}"#),
        "{shown}"
    );
    // Someone slowed it to 720 in the dashboard meanwhile: 480 would now speed it up.
    t.change_connection(|c| c["sync_frequency"] = json!(720));
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(
        t.stack.fivetran.connection(CONNECTION).unwrap()["sync_frequency"],
        720
    );
    let shown = last_update(&mut t);
    assert!(
        shown.contains("its sync frequency is 720 min now, not 360 min"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_call_that_still_makes_sense_runs_and_captures_the_value_before_it() {
    let mut t = World::new().await;
    let msg = t.request("/fivetran frequency pg_prod 1440", ALICE).await;
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let (reads, writes) = t.preflight_and_writes();
    assert_eq!(reads, 1);
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body, Some(json!({"sync_frequency": 1440})));
    let p = t.proposal_of(&msg);
    assert_eq!(p.state, ProposalState::Succeeded);
    assert_eq!(p.governance.prior.unwrap().sync_frequency, Some(360));
    let started = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "execution_started")
        .unwrap();
    assert_eq!(started.entry.detail["prior"]["sync_frequency"], 360);
    t.slack();
}

#[tokio::test]
async fn an_approval_is_only_for_the_exact_call_the_message_showed() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let value = msg.button_value("approve").unwrap();
    let (id, hash) = value.split_once(':').unwrap();
    let p = t.proposal_of(&msg);
    assert!(p.call_hash().starts_with(hash));
    assert!(
        msg.body["blocks"]
            .to_string()
            .contains(&format!("sha256 `{hash}`")),
        "the pinned hash is shown"
    );

    // A button claiming another call (a forged or stale value) is refused.
    let ts = msg.ts.clone().unwrap();
    t.click_value("approve", &format!("{id}:000000000000"), APPROVER, &ts)
        .await;
    t.run_jobs().await;
    assert!(t.fivetran().is_empty());
    let eph = t.slack();
    assert_eq!(eph.len(), 1, "{eph:?}");
    assert!(eph[0].text().contains("not the one syncwarden would send"));
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Proposed);

    // If the stored call were changed after approval, the executor would not send it.
    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    let now = syncwarden::clock::Clock::now(&t.clock);
    t.state
        .store
        .transact(now, |tx| {
            let mut p = tx.proposal(id)?.unwrap();
            p.call = syncwarden::remediation::action::Action::ResyncConnector.call(CONNECTION);
            tx.put_proposal(&p)
        })
        .unwrap();
    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "not even the pre-flight read");
    let shown = last_update(&mut t);
    assert!(
        shown.contains("is not the call that was approved"),
        "{shown}"
    );
    assert_eq!(t.proposal_by_id(id).state, ProposalState::Skipped);
}
