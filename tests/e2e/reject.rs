//! Reject with a reason: the Reject button opens a modal through `views.open`, the
//! `view_submission` comes back signed to `/slack/interactions`, and the reason is shown in
//! the alert and audited. If the modal cannot open, the reject still happens, without one.

use crate::world::World;
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::stack::{APPROVER, SLACK_TOKEN};
use syncwarden::sim::Fault;

fn rejected_record(t: &World) -> serde_json::Value {
    t.audit()
        .into_iter()
        .find(|r| r.entry.kind == "proposal_rejected")
        .expect("the reject is audited")
        .entry
        .detail
}

#[tokio::test]
async fn reject_asks_for_a_reason_in_a_modal_and_shows_it_on_the_alert() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    let reason = format!("Wrong connector <!channel> & we fix it by hand; token {SLACK_TOKEN}");
    let opened = t.reject(&msg, APPROVER, Some(&reason)).await;

    // The modal Slack was asked to open.
    let view = &opened.body["view"];
    assert!(opened.body["trigger_id"]
        .as_str()
        .unwrap()
        .starts_with("82100000"));
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "reject_reason");
    assert_eq!(view["title"]["text"], "Reject this fix");
    let input = &view["blocks"][1];
    assert_eq!(input["type"], "input");
    assert_eq!(input["optional"], true);
    assert_eq!(input["element"]["type"], "plain_text_input");
    assert_eq!(input["element"]["max_length"], 500);
    assert!(view["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("Retry the sync — pg_prod"));
    assert_eq!(
        t.proposal_of(&msg).state,
        ProposalState::Rejected,
        "the submission rejected it"
    );

    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "a reject never calls Fivetran");
    let updates = t.slack();
    assert_eq!(updates.len(), 1, "{updates:?}");
    let shown = updates[0].body["blocks"].to_string();
    assert!(shown.contains("Rejected by <@U0APPROVER>"), "{shown}");
    assert!(
        shown.contains("Reason: Wrong connector &lt;!channel&gt; &amp; we fix it by hand"),
        "escaped: {shown}"
    );
    assert!(
        !shown.contains(SLACK_TOKEN),
        "secrets are redacted: {shown}"
    );
    let detail = rejected_record(&t);
    let kept = detail["reason"].as_str().unwrap();
    assert!(
        kept.starts_with("Wrong connector <!channel> & we fix it by hand"),
        "{kept}"
    );
    assert!(!kept.contains(SLACK_TOKEN));
    assert_eq!(detail["modal_error"], serde_json::Value::Null);
}

#[tokio::test]
async fn an_empty_reason_is_fine_and_a_late_submission_changes_nothing() {
    let mut t = World::with_approvers(&[APPROVER, "U0SECOND01"]).await;
    let msg = t.alert("s1").await;
    assert_eq!(t.click(&msg, "reject", APPROVER).await, 200);
    let opened = t.slack().remove(0);
    assert_eq!(opened.method, "views.open");
    // While the modal is open, someone else approves.
    t.click(&msg, "approve", "U0SECOND01").await;
    assert_eq!(t.submit_view(&opened, APPROVER, None).await, 200);
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes.len(), 1, "the approval stands");
    let calls = t.slack();
    let eph: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "chat.postEphemeral")
        .collect();
    assert_eq!(eph.len(), 1, "{calls:?}");
    assert!(eph[0].text().contains("Already approved by <@U0SECOND01>"));
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Succeeded);

    t.recover("ok1").await;
    let msg = t.alert("s2").await;
    t.reject(&msg, APPROVER, None).await;
    t.run_jobs().await;
    let shown = t.slack().pop().unwrap().body["blocks"].to_string();
    assert!(shown.contains("Rejected by <@U0APPROVER>"), "{shown}");
    assert!(!shown.contains("Reason:"), "{shown}");
}

#[tokio::test]
async fn a_non_approver_gets_no_modal() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.click(&msg, "reject", "U0STRANGER").await;
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "chat.postEphemeral");
    assert!(calls[0].text().contains("not an approver"));
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Proposed);
}

#[tokio::test]
async fn if_the_modal_cannot_open_the_reject_happens_without_a_reason() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.stack.slack.inject(Fault::status(
        "views.open",
        200,
        serde_json::json!({"ok": false, "error": "expired_trigger_id"}),
    ));
    t.click(&msg, "reject", APPROVER).await;
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(calls[0].method, "views.open");
    assert!(!calls[0].ok);
    assert_eq!(calls[1].method, "chat.update");
    assert!(calls[1].body["blocks"]
        .to_string()
        .contains("Rejected by <@U0APPROVER>"));
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Rejected);
    let detail = rejected_record(&t);
    assert_eq!(detail["reason"], serde_json::Value::Null);
    assert!(
        detail["modal_error"]
            .as_str()
            .unwrap()
            .contains("expired_trigger_id"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_trigger_opens_one_modal_only() {
    let t = World::new().await;
    let trigger = t.stack.slack.issue_trigger_id();
    let client = reqwest::Client::new();
    let open = |view_title: &str| {
        client
            .post(format!("http://{}/api/views.open", t.stack.slack_addr))
            .bearer_auth(SLACK_TOKEN)
            .json(&serde_json::json!({
                "trigger_id": trigger,
                "view": {"type": "modal", "title": {"type": "plain_text", "text": view_title},
                         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]}
            }))
            .send()
    };
    let long: serde_json::Value = open("a title longer than twenty-four")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(long["error"], "invalid_arguments");
    let first: serde_json::Value = open("ok").await.unwrap().json().await.unwrap();
    assert_eq!(first["ok"], true);
    let again: serde_json::Value = open("ok").await.unwrap().json().await.unwrap();
    assert_eq!(again["error"], "exchanged_trigger_id");
    // The simulator's own calls are looked at here, so teardown is satisfied.
    let _ = t.stack.slack.take_calls();
}
