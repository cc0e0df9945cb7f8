//! Undo: after a reversible action succeeds the alert offers Undo, which creates a new
//! proposal restoring the value captured just before the call, under the same approval rules.

use crate::world::{World, CONNECTION};
use serde_json::json;
use syncwarden::remediation::action::Action;
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::slack::SlackCall;
use syncwarden::sim::stack::APPROVER;

const SECOND: &str = "U0SECOND01";
const ALICE: &str = "U0ALICE001";

/// Requests `line`, has APPROVER approve it, runs it; returns the alert as last updated.
async fn ran(t: &mut World, line: &str) -> SlackCall {
    let msg = t.request(line, ALICE).await;
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let updates = t.slack();
    let last = updates.last().expect("updated").clone();
    assert_eq!(last.ts, msg.ts);
    last
}

/// Clicks Undo and returns the undo proposal's message (consuming the original's update).
async fn undo(t: &mut World, done: &SlackCall, user: &str) -> SlackCall {
    assert_eq!(t.click(done, "undo", user).await, 200);
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let posted = calls
        .iter()
        .find(|c| c.method == "chat.postMessage")
        .expect("the undo proposal is posted")
        .clone();
    let updated = calls.iter().find(|c| c.method == "chat.update").unwrap();
    assert_eq!(updated.ts, done.ts);
    let shown = updated.body["blocks"].to_string();
    assert!(shown.contains("Undo requested: proposal"), "{shown}");
    assert!(updated.button_value("undo").is_none(), "offered once");
    posted
}

#[tokio::test]
async fn undo_a_pause_is_a_resume_proposal_that_someone_else_approves() {
    let mut t = World::with_approvers(&[APPROVER, SECOND]).await;
    let done = ran(&mut t, "/fivetran pause pg_prod").await;
    let undo_value = done.button_value("undo").expect("an Undo button");
    let original = t.proposal_by_id(&undo_value);
    assert_eq!(original.state, ProposalState::Succeeded);
    assert_eq!(
        original.governance.prior.as_ref().unwrap().paused,
        Some(false)
    );
    assert!(done.body["blocks"]
        .to_string()
        .contains("Undo: Resume the connector"));

    let msg = undo(&mut t, &done, APPROVER).await;
    let shown = msg.body["blocks"].to_string();
    assert!(
        shown.contains(r#"PATCH /v1/connections/speak_inexpensive {\"paused\":false}"#),
        "{shown}"
    );
    assert!(shown.contains("This undoes proposal"), "{shown}");
    let p = t.proposal_of(&msg);
    assert_eq!(p.action, Action::ResumeConnector);
    assert_eq!(p.requested_by, APPROVER);
    assert_eq!(p.governance.undo_of.as_deref(), Some(original.id.as_str()));
    let asked = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "undo_requested")
        .unwrap();
    assert_eq!(asked.entry.actor, APPROVER);
    assert_eq!(asked.entry.detail["restores"]["paused"], false);

    // Same rules: whoever asked for the undo does not approve it.
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let eph = t.slack();
    assert!(eph[0].text().contains("You requested this fix"), "{eph:?}");
    assert!(t.fivetran().is_empty());

    t.click(&msg, "approve", SECOND).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body, Some(json!({"paused": false})));
    assert_eq!(
        t.stack.fivetran.connection(CONNECTION).unwrap()["paused"],
        false
    );
    t.slack();
    // The original's Undo is used up.
    t.click(&done, "undo", SECOND).await;
    t.run_jobs().await;
    let eph = t.slack();
    assert!(eph[0].text().contains("already requested"), "{eph:?}");
}

#[tokio::test]
async fn undo_a_frequency_change_restores_the_value_captured_before_it() {
    let mut t = World::with_approvers(&[APPROVER, SECOND]).await;
    let done = ran(&mut t, "/fivetran frequency pg_prod 1440").await;
    let msg = undo(&mut t, &done, ALICE).await;
    assert_eq!(
        t.proposal_of(&msg).action,
        Action::SetSyncFrequency { minutes: 360 }
    );
    t.click(&msg, "approve", SECOND).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes[0].body, Some(json!({"sync_frequency": 360})));
    t.slack();
}

#[tokio::test]
async fn an_undo_is_not_sent_when_the_connector_changed_since() {
    let mut t = World::with_approvers(&[APPROVER, SECOND]).await;
    let done = ran(&mut t, "/fivetran pause pg_prod").await;
    let msg = undo(&mut t, &done, APPROVER).await;
    // Someone resumed it in the dashboard meanwhile.
    t.change_connection(|c| c["paused"] = json!(false));
    t.click(&msg, "approve", SECOND).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert!(writes.is_empty(), "{writes:?}");
    let p = t.proposal_of(&msg);
    assert_eq!(p.state, ProposalState::Skipped);
    let shown = t.slack().pop().unwrap().body["blocks"].to_string();
    assert!(
        shown.contains("the connector changed since this was proposed"),
        "{shown}"
    );
}

#[tokio::test]
async fn only_reversible_actions_that_ran_offer_undo() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    t.fivetran();
    let done = t.slack().pop().unwrap();
    assert!(done.body["blocks"].to_string().contains("done."));
    assert!(done.button_value("undo").is_none(), "a retry has no undo");
    // A forged undo click on it is refused.
    let id = msg.proposal_id().unwrap();
    t.click_value("undo", &id, APPROVER, msg.ts.as_deref().unwrap())
        .await;
    t.run_jobs().await;
    let eph = t.slack();
    assert!(eph[0].text().contains("nothing to undo"), "{eph:?}");
    assert!(t.audit_kinds().contains(&"undo_refused".to_string()));
}
