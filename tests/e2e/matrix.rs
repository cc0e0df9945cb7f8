//! The authorization matrix, through signed requests: who clicks (a direct approver, a user
//! group member, someone else, the person who requested the fix) × what risk (low, medium,
//! high) × which mode (monitor, approve, auto). Every refusal is private, audited and changes
//! nothing; every allowed click does exactly what the policy says.

use crate::world::World;
use syncwarden::remediation::policy::Mode;
use syncwarden::remediation::proposal::ProposalState;
use syncwarden::sim::slack::SlackCall;
use syncwarden::sim::stack::APPROVER;

const REQUESTER: &str = "U0REQUEST1";
const GROUPIE: &str = "U0GROUPIE1";
const OTHER: &str = "U0OTHER001";
const DATA_ENG: &str = "S0DATAENG1";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Risk {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Refused with this audit reason; the ephemeral contains the text.
    Denied(&'static str, &'static str),
    /// Accepted as the first of two approvals.
    FirstOfTwo,
    /// Accepted; the call runs.
    Runs,
    /// Refused because someone already decided.
    AlreadyDecided,
}

fn command(risk: Risk) -> (&'static str, &'static str, &'static str) {
    match risk {
        Risk::Low => (
            "/fivetran sync pg_prod",
            "POST",
            "/v1/connections/speak_inexpensive/sync",
        ),
        Risk::Medium => (
            "/fivetran pause pg_prod",
            "PATCH",
            "/v1/connections/speak_inexpensive",
        ),
        Risk::High => (
            "/fivetran resync pg_prod",
            "POST",
            "/v1/connections/speak_inexpensive/resync",
        ),
    }
}

fn expected(mode: Mode, risk: Risk, user: &str) -> Expect {
    if mode == Mode::Monitor {
        return Expect::Denied("monitor_mode", "monitor mode");
    }
    match (user, risk) {
        (REQUESTER, _) => Expect::Denied("own_request", "You requested this fix"),
        (OTHER, _) => Expect::Denied("not_approver", "not an approver"),
        (GROUPIE, Risk::High) => Expect::FirstOfTwo,
        (GROUPIE, _) => Expect::Runs,
        (_, Risk::High) => Expect::Runs,
        _ => Expect::AlreadyDecided,
    }
}

async fn world(mode: Mode) -> World {
    let t = World::build(&[APPROVER, REQUESTER], |s, _| {
        s.policy.default_mode = mode;
        s.policy.approver_groups = vec![DATA_ENG.into()];
    })
    .await;
    t.stack.slack.set_usergroup(DATA_ENG, &[GROUPIE]);
    t
}

/// Clicks Approve (by value, so it works on a message without buttons) and checks the
/// outcome against the matrix.
async fn check_click(
    t: &mut World,
    msg: &SlackCall,
    p_id: &str,
    user: &str,
    expect: &Expect,
    cell: &str,
    write: (&str, &str),
) {
    let denials_before = t
        .audit()
        .iter()
        .filter(|r| r.entry.kind == "decision_denied")
        .count();
    let state_before = t.proposal_by_id(p_id).state;
    let ts = msg.ts.as_deref().unwrap();
    assert_eq!(
        t.click_value("approve", p_id, user, ts).await,
        200,
        "{cell}"
    );
    t.run_jobs().await;
    let slack: Vec<SlackCall> = t
        .slack()
        .into_iter()
        .filter(|c| c.method != "usergroups.users.list")
        .collect();
    let (reads, writes) = t.preflight_and_writes();
    let p = t.proposal_by_id(p_id);
    match expect {
        Expect::Denied(code, text) => {
            assert_eq!(slack.len(), 1, "{cell}: {slack:?}");
            assert_eq!(slack[0].method, "chat.postEphemeral", "{cell}");
            assert_eq!(slack[0].body["user"], user, "{cell}");
            assert!(
                slack[0].text().contains(text),
                "{cell}: {}",
                slack[0].text()
            );
            let denials: Vec<_> = t
                .audit()
                .into_iter()
                .filter(|r| r.entry.kind == "decision_denied")
                .collect();
            assert_eq!(denials.len(), denials_before + 1, "{cell}");
            let last = denials.last().unwrap();
            assert_eq!(last.entry.actor, user, "{cell}");
            assert_eq!(last.entry.detail["reason"], *code, "{cell}");
            assert_eq!((reads, writes.len()), (0, 0), "{cell}: nothing is sent");
            assert_eq!(p.state, state_before, "{cell}: no state change");
        }
        Expect::FirstOfTwo => {
            assert_eq!(p.state, ProposalState::Proposed, "{cell}");
            assert_eq!(p.governance.approvals.len(), 1, "{cell}");
            assert!(writes.is_empty(), "{cell}");
            assert!(
                slack[0].body["blocks"]
                    .to_string()
                    .contains("1 of 2 approvals"),
                "{cell}: {slack:?}"
            );
        }
        Expect::Runs => {
            assert_eq!(p.state, ProposalState::Succeeded, "{cell}");
            assert_eq!(reads, 1, "{cell}: the pre-flight re-read");
            assert_eq!(writes.len(), 1, "{cell}: {writes:?}");
            assert_eq!(
                (writes[0].method.as_str(), writes[0].path.as_str()),
                write,
                "{cell}"
            );
            assert_eq!(p.decision.as_ref().unwrap().user, user, "{cell}");
        }
        Expect::AlreadyDecided => {
            assert_eq!(slack.len(), 1, "{cell}: {slack:?}");
            assert!(slack[0].text().contains("Already approved by"), "{cell}");
            assert!(writes.is_empty(), "{cell}");
        }
    }
}

#[tokio::test]
async fn who_may_approve_what_in_every_mode() {
    for mode in [Mode::Monitor, Mode::Approve, Mode::Auto] {
        for risk in [Risk::Low, Risk::Medium, Risk::High] {
            let mut t = world(mode).await;
            let (line, method, path) = command(risk);
            let msg = t.request(line, REQUESTER).await;
            let p_id = t
                .state
                .store
                .proposals()
                .unwrap()
                .pop()
                .expect("the requested proposal")
                .id;
            let p = t.proposal_by_id(&p_id);
            assert_eq!(p.governance.mode, mode);
            assert_eq!(
                p.state,
                ProposalState::Proposed,
                "requests never run by themselves"
            );
            assert_eq!(
                msg.button_value("approve").is_some(),
                mode != Mode::Monitor,
                "{mode:?}: buttons only outside monitor mode"
            );
            for user in [REQUESTER, OTHER, GROUPIE, APPROVER] {
                let cell = format!("{mode:?} × {risk:?} × {user}");
                let expect = expected(mode, risk, user);
                check_click(&mut t, &msg, &p_id, user, &expect, &cell, (method, path)).await;
            }
        }
    }
}

#[tokio::test]
async fn alert_fixes_in_auto_mode_run_without_anyone_and_clicks_change_nothing() {
    let mut t = world(Mode::Auto).await;
    let (status, _) = t
        .fivetran_webhook(&crate::world::transient_failure("s1"))
        .await;
    assert_eq!(status, 200);
    t.run_jobs().await;
    let (_, writes) = {
        let all = t.fivetran();
        let reads = all.iter().filter(|r| r.method == "GET").count();
        (
            reads,
            all.into_iter()
                .filter(|r| r.method != "GET")
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(writes.len(), 1, "{writes:?}");
    let calls = t.slack();
    let msg = calls[0].clone();
    assert!(msg.button_value("approve").is_none());
    let p = t.state.store.proposals().unwrap().pop().unwrap();
    assert_eq!(p.state, ProposalState::Succeeded);
    for user in [REQUESTER, OTHER, GROUPIE, APPROVER] {
        t.click_value("approve", &p.id, user, msg.ts.as_deref().unwrap())
            .await;
        t.run_jobs().await;
        let eph: Vec<_> = t
            .slack()
            .into_iter()
            .filter(|c| c.method == "chat.postEphemeral")
            .collect();
        assert_eq!(eph.len(), 1, "{user}");
        assert!(
            eph[0].text().contains("Auto mode already ran this fix"),
            "{user}: {}",
            eph[0].text()
        );
        assert!(t.fivetran().is_empty(), "{user}");
    }
}

/// Five connectors of one destination group failing together make a storm with one group
/// proposal (see `alerts`); returns the grouped message.
async fn storm(t: &mut World) -> SlackCall {
    let mut posts = Vec::new();
    for i in 0..5 {
        let id = format!("dw_conn_{i:02}");
        t.stack.fivetran.add_connection(
            syncwarden::sim::fivetran::FivetranSim::connection_template(&id, &id, "postgres"),
        );
        let body = serde_json::json!({
            "event": "sync_end",
            "created": "2026-11-25T09:56:43.688Z",
            "connector_type": "postgres",
            "connector_id": id,
            "connector_name": id,
            "sync_id": format!("st{i}"),
            "destination_group_id": "projected_sickle",
            "data": {"status": "FAILURE_WITH_TASK", "reason": "java.net.SocketTimeoutException: Read timed out", "taskType": "retry_sync"}
        });
        t.clock.advance(chrono::Duration::seconds(1));
        let (status, _) = t.fivetran_webhook(body.to_string().as_bytes()).await;
        assert_eq!(status, 200);
        t.run_jobs().await;
        t.fivetran();
        posts.extend(
            t.slack()
                .into_iter()
                .filter(|c| c.method == "chat.postMessage"),
        );
    }
    let msg = posts.pop().unwrap();
    assert!(
        msg.body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("5 connectors failing in group"),
        "{:?}",
        msg.body
    );
    msg
}

#[tokio::test]
async fn a_group_proposal_needs_an_approver_of_every_connector_in_it() {
    const OWNER: &str = "U0OWNER001";
    const BOTH: &str = "U0BOTH0001";
    let mut t = World::build(&[APPROVER, BOTH], |s, _| {
        s.policy.rules = vec![syncwarden::remediation::policy::Rule {
            scope: syncwarden::remediation::policy::RuleScope::Connector("dw_conn_02".into()),
            mode: None,
            approvers: [OWNER.to_string(), BOTH.to_string()].into(),
            approver_groups: Default::default(),
        }];
    })
    .await;
    let msg = storm(&mut t).await;
    let pid = msg.proposal_id().expect("a group retry");
    assert_eq!(t.proposal_by_id(&pid).batch.len(), 5);
    for (user, ask) in [
        (APPROVER, "<@U0BOTH0001>, <@U0OWNER001>"),
        (OWNER, "<@U0APPROVER>"),
    ] {
        t.click(&msg, "approve", user).await;
        t.run_jobs().await;
        let eph = t.slack();
        assert_eq!(eph.len(), 1, "{eph:?}");
        assert!(
            eph[0].text().contains(&format!("ask one of: {ask}")),
            "{user}: {}",
            eph[0].text()
        );
        assert!(t.fivetran().is_empty());
    }
    t.click(&msg, "approve", BOTH).await;
    t.run_jobs().await;
    let (_, writes) = {
        let all = t.fivetran();
        let n = all.iter().filter(|r| r.method == "GET").count();
        (
            n,
            all.into_iter()
                .filter(|r| r.method != "GET")
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(writes.len(), 5, "one retry per member");
    t.slack();
}

#[tokio::test]
async fn a_group_proposal_is_in_the_strictest_mode_of_its_connectors() {
    let mut t = World::build(&[APPROVER], |s, _| {
        s.policy.default_mode = Mode::Auto;
        s.policy.rules = vec![syncwarden::remediation::policy::Rule {
            scope: syncwarden::remediation::policy::RuleScope::Connector("dw_conn_03".into()),
            mode: Some(Mode::Monitor),
            approvers: Default::default(),
            approver_groups: Default::default(),
        }];
    })
    .await;
    // Each single alert ran its retry at once (auto) until the storm folded them together.
    let msg = storm(&mut t).await;
    let storm = t.state.store.storms().unwrap().remove(0);
    let p = t.proposal_by_id(storm.proposal_id.as_deref().unwrap());
    assert_eq!(
        p.governance.mode,
        Mode::Monitor,
        "dw_conn_03 is watched only"
    );
    assert_eq!(
        p.state,
        ProposalState::Proposed,
        "never auto-run as a group"
    );
    assert!(
        msg.button_value("approve").is_none(),
        "no buttons in monitor mode"
    );
}
