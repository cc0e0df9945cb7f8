//! Load generator: measures syncwarden against a bare-axum ceiling in one run, on loopback.
//!
//! 1. A bare axum server answering 200 to a POST: throughput with the same client and
//!    concurrency (the ceiling).
//! 2. The real `syncwarden serve` binary as a child process (sled in a temp dir, simulators
//!    for Fivetran and Slack in this process), fed unique, correctly signed webhooks:
//!    ingest throughput, ack latency at a fixed offered rate (coordinated-omission-safe:
//!    latency counts from each request's scheduled send time), alert-to-Slack latency for
//!    failures on the rules path, RSS idle and after, and stored counts.
//!
//! `cargo run --release --bin loadgen -- --help`

use anyhow::{bail, Context};
use clap::Parser;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syncwarden::fivetran::webhook;
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::stack::{
    SimStack, APPROVER, CHANNEL, FIVETRAN_KEY, FIVETRAN_SECRET, SLACK_SIGNING_SECRET, SLACK_TOKEN,
    WEBHOOK_SECRET,
};

#[derive(Parser, Debug)]
#[command(about = "syncwarden load generator (loopback only)")]
struct Args {
    /// Requests in each throughput phase.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent client connections in the throughput phases.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Offered rate (requests/s) for the latency phase.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Length of the latency phase in seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Share of webhooks that are sync failures (alerts), 0..1.
    #[arg(long, default_value_t = 0.02)]
    failure_share: f64,
    /// Path to the syncwarden binary (default: next to this one).
    #[arg(long)]
    syncwarden: Option<std::path::PathBuf>,
}

struct Body {
    bytes: Vec<u8>,
    signature: String,
    /// Set for failures: the connector name that identifies the alert.
    alert_name: Option<String>,
}

fn make_bodies(phase: &str, n: usize, failure_share: f64) -> Vec<Body> {
    let every = if failure_share > 0.0 {
        (1.0 / failure_share).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    (0..n)
        .map(|i| {
            let failure = every != usize::MAX && i % every == every / 2;
            let name = format!("bench-{phase}-{i}");
            let value = if failure {
                serde_json::json!({
                    "event": "sync_end", "created": "2026-11-25T10:00:00.000Z",
                    "connector_type": "postgres", "connector_id": "speak_inexpensive",
                    "connector_name": name, "sync_id": format!("{phase}-{i}"),
                    "destination_group_id": "projected_sickle",
                    "data": {"status": "FAILURE_WITH_TASK", "reason": "java.net.SocketTimeoutException: Read timed out", "taskType": "retry_sync"}
                })
            } else if i % 2 == 0 {
                serde_json::json!({
                    "event": "sync_start", "created": "2026-11-25T10:00:00.000Z",
                    "connector_type": "postgres", "connector_id": "speak_inexpensive",
                    "connector_name": "pg_prod", "sync_id": format!("{phase}-{i}"),
                    "destination_group_id": "projected_sickle"
                })
            } else {
                serde_json::json!({
                    "event": "sync_end", "created": "2026-11-25T10:00:00.000Z",
                    "connector_type": "postgres", "connector_id": "speak_inexpensive",
                    "connector_name": "pg_prod", "sync_id": format!("{phase}-{i}"),
                    "destination_group_id": "projected_sickle",
                    "data": {"status": "SUCCESSFUL"}
                })
            };
            let bytes = value.to_string().into_bytes();
            let signature = webhook::sign(WEBHOOK_SECRET.as_bytes(), &bytes);
            Body {
                bytes,
                signature,
                alert_name: failure.then_some(name),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Sends every body with `concurrency` workers; returns (acknowledged, elapsed, send times).
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Body>>,
    concurrency: usize,
    sent_at: Arc<Mutex<HashMap<String, Instant>>>,
) -> (usize, Duration) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, bodies, next, acked, sent_at) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            next.clone(),
            acked.clone(),
            sent_at.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(b) = bodies.get(i) else { break };
                if let Some(name) = &b.alert_name {
                    sent_at.lock().unwrap().insert(name.clone(), Instant::now());
                }
                let ok = client
                    .post(&url)
                    .header("x-fivetran-signature-256", &b.signature)
                    .header("content-type", "application/json")
                    .body(b.bytes.clone())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        acked.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed(),
    )
}

/// Offers `rate` requests/s; each latency is measured from the request's scheduled time.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Body>>,
    rate: u64,
    sent_at: Arc<Mutex<HashMap<String, Instant>>>,
) -> (Vec<Duration>, usize) {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::with_capacity(bodies.len());
    for i in 0..bodies.len() {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url, bodies, sent_at) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            sent_at.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let b = &bodies[i];
            if let Some(name) = &b.alert_name {
                sent_at.lock().unwrap().insert(name.clone(), scheduled);
            }
            let ok = client
                .post(&url)
                .header("x-fivetran-signature-256", &b.signature)
                .header("content-type", "application/json")
                .body(b.bytes.clone())
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            (scheduled.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut acked = 0;
    for t in tasks {
        if let Ok((d, ok)) = t.await {
            latencies.push(d);
            acked += usize::from(ok);
        }
    }
    latencies.sort();
    (latencies, acked)
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("syncwarden did not become ready")
}

async fn pending_jobs(client: &reqwest::Client, base: &str) -> Option<u64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("syncwarden_jobs_pending "))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    syncwarden::app::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(64))
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()?;
    let no_alerts = Arc::new(Mutex::new(HashMap::new()));

    // 1. The ceiling.
    let bare = axum::Router::new().route(
        "/webhooks/fivetran",
        axum::routing::post(|_body: axum::body::Bytes| async { "ok" }),
    );
    let bare_addr = syncwarden::sim::spawn(bare).await?;
    let bare_url = format!("http://{bare_addr}/webhooks/fivetran");
    let warm = Arc::new(make_bodies("warm", 1_000, 0.0));
    closed_loop(
        &client,
        &bare_url,
        warm.clone(),
        args.concurrency,
        no_alerts.clone(),
    )
    .await;
    let bodies = Arc::new(make_bodies("ceiling", args.requests, 0.0));
    let (ceiling_acked, ceiling_time) = closed_loop(
        &client,
        &bare_url,
        bodies,
        args.concurrency,
        no_alerts.clone(),
    )
    .await;
    let ceiling_rps = ceiling_acked as f64 / ceiling_time.as_secs_f64();
    eprintln!("ceiling: {ceiling_acked} in {ceiling_time:?}");

    // 2. syncwarden as a child process against in-process simulators.
    let stack = SimStack::start().await?;
    stack
        .fivetran
        .add_connection(FivetranSim::connection_template(
            "speak_inexpensive",
            "pg_prod",
            "postgres",
        ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let data_dir = stack.data_dir.path().join("data");
    let config_path = stack.data_dir.path().join("syncwarden.toml");
    std::fs::write(
        &config_path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[fivetran]\napi_base = \"http://{}\"\n[slack]\napi_base = \"http://{}/api\"\ndefault_channel = \"{CHANNEL}\"\n[policy]\napprovers = [\"{APPROVER}\"]\n",
            data_dir.display(),
            stack.fivetran_addr,
            stack.slack_addr
        ),
    )?;
    let exe = match &args.syncwarden {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("syncwarden"),
    };
    let mut child = std::process::Command::new(&exe)
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("FIVETRAN_API_KEY", FIVETRAN_KEY)
        .env("FIVETRAN_API_SECRET", FIVETRAN_SECRET)
        .env("FIVETRAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SLACK_BOT_TOKEN", SLACK_TOKEN)
        .env("SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET)
        .env("RUST_LOG", "warn")
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &base).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(child.id());
    eprintln!("syncwarden ready (pid {})", child.id());
    let url = format!("{base}/webhooks/fivetran");

    let sent_at = Arc::new(Mutex::new(HashMap::new()));
    let bodies = Arc::new(make_bodies("ingest", args.requests, 0.0));
    let (ingest_acked, ingest_time) =
        closed_loop(&client, &url, bodies, args.concurrency, sent_at.clone()).await;
    let ingest_rps = ingest_acked as f64 / ingest_time.as_secs_f64();
    eprintln!("ingest: {ingest_acked} in {ingest_time:?}");

    let total = (args.rate * args.seconds) as usize;
    let bodies = Arc::new(make_bodies("latency", total, args.failure_share));
    let alerts_expected = bodies.iter().filter(|b| b.alert_name.is_some()).count();
    let (latencies, latency_acked) =
        open_loop(&client, &url, bodies, args.rate, sent_at.clone()).await;

    // Let the worker post every alert.
    let drain_start = Instant::now();
    while drain_start.elapsed() < Duration::from_secs(60) {
        if pending_jobs(&client, &base).await == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_after = rss_kib(child.id());
    let sent = sent_at.lock().unwrap().clone();
    let mut alert_latencies: Vec<Duration> = stack
        .slack
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.ok)
        .filter_map(|c| {
            let name = c.text().strip_prefix("Sync failed: ")?.split(' ').next()?;
            sent.get(name)
                .map(|t| c.received.saturating_duration_since(*t))
        })
        .collect();
    alert_latencies.sort();

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let store = syncwarden::store::Store::open(&data_dir)?;
    let events = store.event_count();
    let jobs = store.jobs()?.len();
    let audit = store.audit_records()?.len();
    let acknowledged = ingest_acked + latency_acked;

    println!("# syncwarden loadgen");
    println!();
    println!("requests per throughput phase: {}, concurrency: {}, offered rate: {}/s for {} s, failure share: {}", args.requests, args.concurrency, args.rate, args.seconds, args.failure_share);
    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| bare axum ceiling | {ceiling_rps:.0} req/s |");
    println!(
        "| syncwarden durable ingest | {ingest_rps:.0} req/s ({:.0}% of ceiling) |",
        100.0 * ingest_rps / ceiling_rps
    );
    println!(
        "| ack latency at {}/s: p50 / p99 / max | {} / {} / {} |",
        args.rate,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "| alert-to-Slack (rules path): p50 / p99 | {} / {} ({} of {} alerts) |",
        ms(percentile(&alert_latencies, 0.5)),
        ms(percentile(&alert_latencies, 0.99)),
        alert_latencies.len(),
        alerts_expected
    );
    println!(
        "| RSS idle / after | {} / {} |",
        rss_idle
            .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
            .unwrap_or("n/a".into()),
        rss_after
            .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
            .unwrap_or("n/a".into())
    );
    println!("| acknowledged / events stored | {acknowledged} / {events} |");
    println!("| audit records / jobs left | {audit} / {jobs} |");
    if events != acknowledged {
        bail!("stored events ({events}) differ from acknowledged webhooks ({acknowledged})");
    }
    Ok(())
}
