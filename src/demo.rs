//! `syncwarden demo`: the whole approval loop on loopback against the simulators, narrated.

use crate::app::{self, AppState};
use crate::fivetran::webhook;
use crate::sim::slack::{click_body, signed_headers};
use crate::sim::stack::{SimStack, APPROVER, CHANNEL, WEBHOOK_SECRET};
use crate::slack::blocks::render_text;
use crate::store::audit::{verify_chain, AuditRecord};
use anyhow::{bail, Context};
use std::io::Write;
use std::time::{Duration, Instant};

/// A real-shaped `sync_end` failure (field names as in tests/data/fivetran/webhooks) whose
/// reason is a read timeout: transient, so syncwarden proposes a retry.
pub fn demo_failure_body() -> Vec<u8> {
    serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T09:56:43.688Z",
        "connector_type": "postgres",
        "connector_id": "speak_inexpensive",
        "connector_name": "pg_prod",
        "sync_id": "5c8e6a1e-1d2b-4f7a-9d0e-8b1f3a2c4d5e",
        "destination_group_id": "projected_sickle",
        "data": {
            "status": "FAILURE_WITH_TASK",
            "reason": "java.net.SocketTimeoutException: Read timed out while reading from pg.example.internal:5432",
            "taskType": "retry_sync"
        }
    })
    .to_string()
    .into_bytes()
}

/// The sync Fivetran runs after the approved retry, succeeding.
pub fn demo_success_body() -> Vec<u8> {
    serde_json::json!({
        "event": "sync_end",
        "created": "2026-11-25T10:04:12.001Z",
        "connector_type": "postgres",
        "connector_id": "speak_inexpensive",
        "connector_name": "pg_prod",
        "sync_id": "9d41f0b2-5a7e-4c11-8f3e-2b6d9c0a1e7f",
        "destination_group_id": "projected_sickle",
        "data": {"status": "SUCCESSFUL"}
    })
    .to_string()
    .into_bytes()
}

pub fn audit_line(r: &AuditRecord) -> String {
    let mut subject = Vec::new();
    if let Some(c) = &r.entry.connector_id {
        subject.push(format!("connector={c}"));
    }
    if let Some(e) = r.entry.event_id {
        subject.push(format!("event={e}"));
    }
    if let Some(p) = &r.entry.proposal_id {
        subject.push(format!("proposal={p}"));
    }
    let detail = if r.entry.detail.is_null() {
        String::new()
    } else {
        format!(" {}", r.entry.detail)
    };
    format!(
        "#{:<4} {} {:<22} by {:<11} {}{}",
        r.seq,
        r.at.format("%H:%M:%S%.3f"),
        r.entry.kind,
        r.entry.actor,
        subject.join(" "),
        detail
    )
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(out: &mut impl Write, llm_sim: bool) -> anyhow::Result<()> {
    app::install_crypto_provider();
    let stack = SimStack::start().await?;
    stack
        .fivetran
        .add_connection(crate::sim::fivetran::FivetranSim::connection_template(
            "speak_inexpensive",
            "pg_prod",
            "postgres",
        ));
    let mut settings = stack.settings(&[APPROVER]);
    let mut secrets = SimStack::secrets();
    let llm_addr = if llm_sim {
        let sim = crate::sim::llm::LlmSim::new("sk-demo-llm-key-000000000000");
        let addr = crate::sim::spawn(sim.router()).await?;
        settings.llm = Some(crate::config::LlmSettings {
            base_url: format!("http://{addr}/v1"),
            model: "sim-model".into(),
            api_key_env: "OPENAI_API_KEY".into(),
            timeout: Duration::from_secs(5),
            max_tokens: 700,
            daily_token_budget: 200_000,
            cache_ttl: Duration::from_secs(3600),
        });
        secrets.llm_api_key = Some(crate::secret::Secret::new("sk-demo-llm-key-000000000000"));
        Some(addr)
    } else {
        None
    };
    let state = AppState::new(settings, secrets, None)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(state.clone(), listener, async {
        let _ = stop_rx.await;
    }));
    let http = reqwest::Client::new();

    writeln!(
        out,
        "syncwarden demo: server {base}, Fivetran simulator http://{}, Slack simulator http://{}",
        stack.fivetran_addr, stack.slack_addr
    )?;
    if let Some(addr) = llm_addr {
        writeln!(out, "LLM simulator (OpenAI-compatible): http://{addr}/v1")?;
    }
    writeln!(
        out,
        "data dir (temporary): {}\n",
        stack.data_dir.path().display()
    )?;

    // 1. Fivetran reports a failed sync.
    let body = demo_failure_body();
    let signature = webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
    let resp = http
        .post(format!("{base}/webhooks/fivetran"))
        .header("content-type", "application/json")
        .header("x-fivetran-signature-256", &signature)
        .body(body.clone())
        .send()
        .await
        .context("delivering the webhook")?;
    writeln!(
        out,
        "1. Fivetran → POST /webhooks/fivetran (signed, sync_end FAILURE_WITH_TASK for pg_prod)"
    )?;
    writeln!(
        out,
        "   ← {} {}\n",
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default()
    )?;

    // 2. The alert lands in Slack.
    let posted = wait_for("the Slack alert", || {
        stack
            .slack
            .calls()
            .into_iter()
            .find(|c| c.method == "chat.postMessage" && c.ok)
    })
    .await?;
    writeln!(out, "2. syncwarden → Slack chat.postMessage to {CHANNEL}:")?;
    for line in render_text(&posted.body).lines() {
        writeln!(out, "   │ {line}")?;
    }
    writeln!(out)?;

    // 3. An approver clicks Approve.
    let proposal_id = posted
        .button_value(crate::slack::blocks::ACTION_APPROVE)
        .context("the alert has no Approve button")?;
    let ts = posted.ts.clone().unwrap_or_default();
    let click = click_body(APPROVER, "approve", &proposal_id, CHANNEL, &ts);
    let mut req = http
        .post(format!("{base}/slack/interactions"))
        .body(click.clone());
    for (k, v) in signed_headers(
        crate::sim::stack::SLACK_SIGNING_SECRET,
        chrono::Utc::now().timestamp(),
        &click,
    ) {
        req = req.header(k, v);
    }
    let resp = req.send().await?;
    writeln!(out, "3. Slack → POST /slack/interactions: <@{APPROVER}> clicked Approve on {proposal_id} (signed v0)")?;
    writeln!(out, "   ← {}\n", resp.status().as_u16())?;

    // 4. The approved call runs, and the message is updated.
    let updated = wait_for("the updated Slack message", || {
        stack
            .slack
            .calls()
            .into_iter()
            .filter(|c| c.method == "chat.update" && c.ok)
            .find(|c| c.text().contains("[succeeded]") || c.text().contains("[failed]"))
    })
    .await?;
    writeln!(out, "4. syncwarden → Fivetran (mutating calls):")?;
    for r in stack
        .fivetran
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
    {
        writeln!(
            out,
            "   {} {} {} → {}",
            r.method,
            r.path,
            r.body.as_ref().map(|b| b.to_string()).unwrap_or_default(),
            r.status
        )?;
    }
    writeln!(
        out,
        "\n5. syncwarden → Slack chat.update (buttons gone, result shown):"
    )?;
    for line in render_text(&updated.body).lines() {
        writeln!(out, "   │ {line}")?;
    }

    // 5. Redelivery is deduplicated.
    let resp = http
        .post(format!("{base}/webhooks/fivetran"))
        .header("x-fivetran-signature-256", &signature)
        .body(body)
        .send()
        .await?;
    writeln!(
        out,
        "\n6. Fivetran redelivers the same webhook → {} {}",
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default()
    )?;

    // 6. The retried sync succeeds: the alert says the connector recovered.
    let ok = demo_success_body();
    let resp = http
        .post(format!("{base}/webhooks/fivetran"))
        .header("content-type", "application/json")
        .header(
            "x-fivetran-signature-256",
            webhook::sign(WEBHOOK_SECRET.as_bytes(), &ok),
        )
        .body(ok)
        .send()
        .await?;
    writeln!(
        out,
        "\n7. Fivetran → sync_end SUCCESSFUL for pg_prod → {}; syncwarden closes the incident:",
        resp.status().as_u16()
    )?;
    let recovered = wait_for("the recovered alert", || {
        stack
            .slack
            .calls()
            .into_iter()
            .filter(|c| c.method == "chat.update" && c.ok)
            .find(|c| c.text().starts_with("Recovered"))
    })
    .await?;
    for line in render_text(&recovered.body).lines().take(3) {
        writeln!(out, "   │ {line}")?;
    }

    let _ = stop_tx.send(());
    server.await??;
    let records = state.store.audit_records()?;
    writeln!(out, "\n8. Audit trail ({} records):", records.len())?;
    for r in &records {
        writeln!(out, "   {}", audit_line(r))?;
    }
    match verify_chain(&records) {
        Ok(n) => writeln!(out, "   hash chain intact over {n} records")?,
        Err(seq) => bail!("audit chain broken at {seq}"),
    }
    let posts = stack
        .slack
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .count();
    if posts != 1 {
        bail!("expected exactly one alert, Slack got {posts}");
    }
    writeln!(
        out,
        "\ndemo finished: one alert, one approved call, recovery shown, audit verified."
    )?;
    Ok(())
}
