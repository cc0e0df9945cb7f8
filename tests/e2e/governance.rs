//! Who may approve what: approver groups resolved through Slack, per-connector owners, the
//! two-person rule, requesters who may not approve their own request, monitor mode, and
//! proposals that expire by themselves.

use crate::world::{World, CONNECTION};
use chrono::Duration;
use syncwarden::remediation::policy::{Mode, PolicySettings, Rule, RuleScope};
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::slack::SlackCall;
use syncwarden::sim::stack::APPROVER;

const SECOND: &str = "U0SECOND01";
const GROUPIE: &str = "U0GROUPIE1";
const ALICE: &str = "U0ALICE001";
const DATA_ENG: &str = "S0DATAENG1";

async fn governed(approvers: &[&str], policy: impl FnOnce(&mut PolicySettings)) -> World {
    World::build(approvers, |s, _| policy(&mut s.policy)).await
}

fn ephemeral_to(calls: &[SlackCall], user: &str) -> String {
    let e: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "chat.postEphemeral")
        .collect();
    assert_eq!(e.len(), 1, "{calls:?}");
    assert_eq!(e[0].body["user"], user);
    e[0].text().to_string()
}

fn kinds(t: &World, kind: &str) -> Vec<syncwarden::store::audit::AuditRecord> {
    t.audit()
        .into_iter()
        .filter(|r| r.entry.kind == kind)
        .collect()
}

#[tokio::test]
async fn user_group_members_may_approve_with_membership_read_from_slack_and_cached() {
    let mut t = governed(&[APPROVER], |p| p.approver_groups = vec![DATA_ENG.into()]).await;
    t.stack
        .slack
        .set_usergroup(DATA_ENG, &[GROUPIE, "U0OTHER001"]);
    let msg = t.alert("s1").await;
    assert_eq!(t.click(&msg, "approve", GROUPIE).await, 200);
    // The click looked the group up before deciding.
    let lookup = t.slack();
    assert_eq!(lookup.len(), 1, "{lookup:?}");
    assert_eq!(lookup[0].method, "usergroups.users.list");
    assert_eq!(lookup[0].body["usergroup"], DATA_ENG);
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes.len(), 1);
    let approved = &kinds(&t, "proposal_approved")[0];
    assert_eq!(approved.entry.actor, GROUPIE);
    t.slack();

    // Within the refresh interval the cached members answer; a direct approver needs none.
    t.stack.slack.set_usergroup(DATA_ENG, &["U0OTHER001"]);
    // (A successful sync ends the first failure streak, so the next failure is a new alert.)
    t.fivetran_webhook(&crate::world::success_of(crate::world::CONNECTION, "ok-1"))
        .await;
    t.run_jobs().await;
    assert_eq!(t.slack()[0].method, "chat.update");
    let msg = t.alert("s2").await;
    t.click(&msg, "reject", "U0STRANGER").await;
    assert!(t
        .slack()
        .iter()
        .all(|c| c.method != "usergroups.users.list"));
    t.run_jobs().await;
    assert!(ephemeral_to(&t.slack(), "U0STRANGER").contains("not an approver"));

    // After the interval the group is read again: the removed member is refused.
    t.clock.advance(Duration::minutes(6));
    t.click(&msg, "approve", GROUPIE).await;
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(calls[0].method, "usergroups.users.list");
    let text = ephemeral_to(&calls, GROUPIE);
    assert!(text.contains("<!subteam^S0DATAENG1>"), "{text}");
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Proposed);
    assert!(t.fivetran().is_empty());
}

#[tokio::test]
async fn an_unreadable_group_admits_nobody_and_says_so() {
    let mut t = governed(&[APPROVER], |p| p.approver_groups = vec![DATA_ENG.into()]).await;
    // The group does not exist in Slack: no_such_subteam.
    let msg = t.alert("s1").await;
    t.click(&msg, "approve", GROUPIE).await;
    t.run_jobs().await;
    let calls = t.slack();
    assert_eq!(calls[0].method, "usergroups.users.list");
    assert!(!calls[0].ok);
    let text = ephemeral_to(&calls, GROUPIE);
    assert!(
        text.contains("could not list user group S0DATAENG1"),
        "{text}"
    );
    assert!(t.fivetran().is_empty());
}

#[tokio::test]
async fn a_connector_rule_lets_only_its_owning_team_approve() {
    let mut t = governed(&[APPROVER], |p| {
        p.rules = vec![Rule {
            scope: RuleScope::Connector(CONNECTION.into()),
            mode: None,
            approvers: [SECOND.to_string()].into(),
            approver_groups: Default::default(),
        }]
    })
    .await;
    let msg = t.alert("s1").await;
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let text = ephemeral_to(&t.slack(), APPROVER);
    assert!(text.contains("ask one of: <@U0SECOND01>"), "{text}");
    let denied = &kinds(&t, "decision_denied")[0];
    assert_eq!(denied.entry.detail["reason"], "not_approver");
    assert!(t.fivetran().is_empty());
    t.click(&msg, "approve", SECOND).await;
    t.run_jobs().await;
    assert_eq!(t.preflight_and_writes().1.len(), 1);
    t.slack();
}

#[tokio::test]
async fn two_person_actions_need_two_different_approvers() {
    let mut t = World::with_approvers(&[APPROVER, SECOND]).await;
    let msg = t.request("/fivetran resync pg_prod", ALICE).await;
    let shown = msg.body["blocks"].to_string();
    assert!(shown.contains("0 of 2 approvals"), "{shown}");
    assert_eq!(t.proposal_of(&msg).governance.required_approvals, 2);

    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    assert!(t.fivetran().is_empty(), "one approval runs nothing");
    let update = t.slack();
    assert_eq!(update.len(), 1, "{update:?}");
    let shown = update[0].body["blocks"].to_string();
    assert!(shown.contains("1 of 2 approvals: <@U0APPROVER>"), "{shown}");
    assert!(
        update[0].button_value("approve").is_some(),
        "still open for the second approver"
    );
    assert_eq!(kinds(&t, "approval_recorded").len(), 1);

    // The same person again does not count twice.
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let text = ephemeral_to(&t.slack(), APPROVER);
    assert!(
        text.contains("You already approved this (1 of 2 approvals)"),
        "{text}"
    );
    assert!(t.fivetran().is_empty());

    t.click(&msg, "approve", SECOND).await;
    t.run_jobs().await;
    let (_, writes) = t.preflight_and_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, "/v1/connections/speak_inexpensive/resync");
    let done = t.slack().pop().unwrap().body["blocks"].to_string();
    assert!(
        done.contains("Approved by <@U0APPROVER> at") && done.contains("and <@U0SECOND01> at"),
        "{done}"
    );
    let approved = &kinds(&t, "proposal_approved")[0];
    assert_eq!(
        approved.entry.detail["approvers"],
        serde_json::json!([APPROVER, SECOND])
    );
}

#[tokio::test]
async fn a_requester_may_not_approve_their_own_request_but_may_withdraw_it() {
    let mut t = World::with_approvers(&[APPROVER, SECOND]).await;
    let msg = t.request("/fivetran pause pg_prod", APPROVER).await;
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    let text = ephemeral_to(&t.slack(), APPROVER);
    assert!(text.contains("You requested this fix"), "{text}");
    assert_eq!(
        kinds(&t, "decision_denied")[0].entry.detail["reason"],
        "own_request"
    );
    assert!(t.fivetran().is_empty());
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Proposed);

    let second = t.request("/fivetran resume pg_prod", APPROVER).await;
    t.click(&second, "reject", APPROVER).await;
    t.run_jobs().await;
    assert_eq!(t.proposal_of(&second).state, ProposalState::Rejected);
    t.slack();

    t.click(&msg, "approve", SECOND).await;
    t.run_jobs().await;
    assert_eq!(t.preflight_and_writes().1.len(), 1);
    t.slack();
}

#[tokio::test]
async fn monitor_mode_posts_the_summary_without_buttons_and_refuses_clicks() {
    let mut t = governed(&[APPROVER], |p| p.default_mode = Mode::Monitor).await;
    let msg = t.alert("s1").await;
    assert!(msg.button_value("approve").is_none());
    assert!(msg.button_value("reject").is_none());
    let shown = msg.body["blocks"].to_string();
    assert!(shown.contains("Monitor mode"), "{shown}");
    assert!(
        shown.contains("POST /v1/connections/speak_inexpensive/sync"),
        "{shown}"
    );
    // A click crafted from the id is still refused.
    let p = t
        .state
        .store
        .proposals()
        .unwrap()
        .pop()
        .expect("the suggestion is kept");
    assert_eq!(p.governance.mode, Mode::Monitor);
    t.click_value("approve", &p.id, APPROVER, msg.ts.as_deref().unwrap())
        .await;
    t.run_jobs().await;
    assert!(ephemeral_to(&t.slack(), APPROVER).contains("monitor mode"));
    assert!(t.fivetran().is_empty());
    assert_eq!(
        kinds(&t, "decision_denied")[0].entry.detail["reason"],
        "monitor_mode"
    );
    // It expires quietly: the message had nothing to remove.
    t.clock.advance(Duration::hours(5));
    t.run_jobs().await;
    assert!(t.slack().is_empty());
    assert_eq!(t.proposal_by_id(&p.id).state, ProposalState::Expired);
}

#[tokio::test]
async fn a_proposal_expires_by_itself_and_later_clicks_are_refused() {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    t.clock.advance(Duration::hours(4) - Duration::seconds(1));
    t.run_jobs().await;
    assert!(t.slack().is_empty(), "not before the TTL");
    t.clock.advance(Duration::seconds(1));
    t.run_jobs().await;
    let updates = t.slack();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].method, "chat.update");
    assert_eq!(updates[0].ts, msg.ts);
    let shown = updates[0].body["blocks"].to_string();
    assert!(shown.contains("Expired at 2026-11-25 14:00 UTC"), "{shown}");
    assert!(updates[0].button_value("approve").is_none());
    let expired = &kinds(&t, "proposal_expired")[0];
    assert_eq!(expired.entry.actor, "system");
    assert_eq!(t.proposal_of(&msg).state, ProposalState::Expired);

    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    assert!(ephemeral_to(&t.slack(), APPROVER).contains("expired"));
    assert!(t.fivetran().is_empty());
    assert!(kinds(&t, "decision_refused")
        .iter()
        .any(|r| r.entry.actor == APPROVER));
}
