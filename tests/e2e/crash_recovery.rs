//! Crashes between Slack's answer and the record of it: an interrupted post is found in the
//! channel, not posted twice; and the kill test's short form against the real binary.

use crate::world::{transient_failure, World};
use syncwarden::sim::stack::CHANNEL;

/// Rewinds the posted alert as if syncwarden died right after Slack answered: the post is
/// marked in flight, the recorded message is gone, the job is back.
fn forget_the_post(t: &World) {
    let now = syncwarden::clock::Clock::now(&t.clock);
    t.state
        .store
        .transact(now, |tx| {
            let mut i = tx.incident("inc_1")?.unwrap();
            i.messages.clear();
            i.posting = vec![CHANNEL.to_string()];
            tx.put_incident(&i)?;
            tx.enqueue_now(syncwarden::store::jobs::JobKind::Notify {
                incident_id: i.id.clone(),
            })?;
            Ok(())
        })
        .unwrap();
}

async fn crash_after_post(t: &mut World) -> syncwarden::sim::slack::SlackCall {
    let first = t.alert("s1").await;
    forget_the_post(t);
    first
}

#[tokio::test]
async fn a_post_interrupted_by_a_crash_is_found_in_the_channel_not_posted_again() {
    let mut t = World::new().await;
    let first = crash_after_post(&mut t).await;
    assert_eq!(
        first.body["metadata"]["event_type"], "syncwarden_alert",
        "alerts carry their id as message metadata"
    );
    assert_eq!(first.body["metadata"]["event_payload"]["id"], "inc_1");
    t.run_jobs().await;
    let calls = t.slack();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        ["conversations.history"],
        "looked, did not post: {calls:?}"
    );
    assert_eq!(calls[0].body["channel"], CHANNEL);
    let i = t.state.store.incident("inc_1").unwrap().unwrap();
    assert_eq!(i.messages.len(), 1);
    assert_eq!(Some(i.messages[0].ts.clone()), first.ts);
    assert!(i.posting.is_empty());
    let found = t
        .audit()
        .into_iter()
        .rfind(|r| r.entry.kind == "message_posted")
        .unwrap();
    assert_eq!(found.entry.detail["found_after_restart"], true);
}

#[tokio::test]
async fn a_post_that_never_reached_slack_is_posted_after_the_look() {
    let mut t = World::new().await;
    t.fivetran_webhook(&transient_failure("s1")).await;
    t.run_jobs().await;
    t.fivetran();
    t.slack();
    // Rewind: in flight, but Slack never got it (deleted from the simulator's channel).
    forget_the_post(&t);
    t.stack.slack.forget_messages(CHANNEL);
    t.run_jobs().await;
    let calls = t.slack();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["conversations.history", "chat.postMessage"]);
    assert!(calls[1].ok);
}

#[tokio::test]
async fn the_real_binary_survives_sigkills_without_losing_or_repeating_anything() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_killtest"))
        .args([
            "--kills",
            "3",
            "--webhooks",
            "240",
            "--approvals",
            "24",
            "--settle-secs",
            "120",
            "--syncwarden",
            env!("CARGO_BIN_EXE_syncwarden"),
        ])
        .output()
        .expect("the kill test runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("kill test passed"), "{stdout}");
    assert!(stdout.contains("approvals with 2+ calls    0"), "{stdout}");
    assert!(stdout.contains("duplicate alerts           0"), "{stdout}");
}
