//! `syncwarden demo`, the README's first command, run as a user runs it.

fn demo(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_syncwarden"))
        .arg("demo")
        .args(args)
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_demo_shows_the_whole_loop_and_exits_zero() {
    let out = demo(&[]);
    for expected in [
        "1. Fivetran → POST /webhooks/fivetran (signed, sync_end FAILURE_WITH_TASK for pg_prod)",
        "## Sync failed: pg_prod (postgres)",
        "[ Approve: Retry the sync ] [ Reject ]",
        "clicked Approve",
        "POST /v1/connections/speak_inexpensive/sync {\"force\":false} → 200",
        ":white_check_mark: Approved by <@U0APPROVER>",
        "\"status\":\"duplicate\"",
        "## Recovered: pg_prod (postgres)",
        "hash chain intact over",
        "demo finished: one alert, one approved call, recovery shown, audit verified.",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Secrets the demo configures never appear in what it prints.
    for secret in [
        syncwarden::sim::stack::SLACK_TOKEN,
        syncwarden::sim::stack::FIVETRAN_SECRET,
        syncwarden::sim::stack::SLACK_SIGNING_SECRET,
    ] {
        assert!(!out.contains(secret), "{secret} printed");
    }
}

#[test]
fn the_llm_demo_labels_the_model_summary() {
    let out = demo(&["--llm-sim"]);
    assert!(out.contains("LLM simulator (OpenAI-compatible)"), "{out}");
    assert!(out.contains("summary: model ·"), "{out}");
}
