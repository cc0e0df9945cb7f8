//! Load generator: measures syncwarden against a bare-axum ceiling in one run, on loopback.
//!
//! 1. A bare axum server (its own process, like syncwarden) answering 200 to a POST: its
//!    throughput with the same client and concurrency is the ceiling.
//! 2. The real `syncwarden serve` binary as a child process (sled in a temp dir, simulators
//!    for Fivetran and Slack in this process), fed unique, correctly signed webhooks:
//!    durable-ingest throughput, ack latency at a fixed offered rate (coordinated-omission
//!    safe), alert-to-Slack latency for failures on the rules path, `/fivetran health` over
//!    a large account, RSS idle and after, and the stored counts checked against what was
//!    acknowledged.
//! 3. The store pre-filled to a million events: RSS of a server on it, idle and after more
//!    load, and the time to verify the audit chain.
//!
//! `cargo build --release --bins && target/release/loadgen --help`

mod bodies;
mod drive;
mod health;
mod procs;
mod report;
mod store_side;

use anyhow::{bail, Context};
use clap::Parser;
use drive::{percentile, Run, SentAt};
use report::{mb, ms, Report};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::stack::SimStack;
use syncwarden::store::{Store, StoreOptions};

/// How long after a load the server's RSS is read a second time.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Parser, Debug)]
#[command(about = "syncwarden load generator (loopback only)")]
struct Args {
    /// Requests in each throughput phase (ceiling, ingest).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent client connections in the throughput phases.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Offered rate (webhooks/s) for the latency phase.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Length of the latency phase in seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Share of the latency phase's webhooks that are sync failures (alerts), 0..1.
    #[arg(long, default_value_t = 0.02)]
    failure_share: f64,
    /// Connections in the simulated Fivetran account (what `/fivetran health` ranks).
    #[arg(long, default_value_t = 5_000)]
    connectors: usize,
    /// Fill the store to this many events for the memory-at-scale phase (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    prefill: usize,
    /// `server.cache_mb` for the server under test.
    #[arg(long, default_value_t = syncwarden::store::DEFAULT_CACHE_MB)]
    cache_mb: u64,
    /// Path to the syncwarden binary (default: next to this one).
    #[arg(long)]
    syncwarden: Option<std::path::PathBuf>,
    /// Only fill this data directory to `--prefill` events (with their audit records) and
    /// exit: a large store to profile `syncwarden serve` or `audit verify` against.
    #[arg(long)]
    prefill_into: Option<std::path::PathBuf>,
    /// Internal: serve the bare-axum ceiling on this address.
    #[arg(long, hide = true)]
    serve_bare: Option<String>,
}

fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(64))
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// Server and load-generator CPU per request between two (server, self) readings.
fn per_request(
    before: (Duration, Duration),
    after: (Duration, Duration),
    requests: usize,
) -> String {
    let per =
        |a: Duration, b: Duration| a.saturating_sub(b).as_secs_f64() * 1e6 / requests.max(1) as f64;
    format!(
        "{:.0} µs / {:.0} µs",
        per(after.0, before.0),
        per(after.1, before.1)
    )
}

fn check(run: &Run, phase: &str) -> anyhow::Result<()> {
    if let Some(why) = &run.stalled {
        bail!("{phase}: {why} after {} acknowledged", run.acked);
    }
    if run.refused > 0 {
        bail!("{phase}: {} webhooks were refused", run.refused);
    }
    Ok(())
}

/// Adds the account: the connector successes come from, one per alert, and filler up to
/// `total`, so `/fivetran health` has the whole account to rank.
fn add_connections(sim: &FivetranSim, failing: usize, total: usize) {
    sim.add_connection(FivetranSim::connection_template(
        bodies::OK_CONNECTOR,
        bodies::OK_NAME,
        "postgres",
    ));
    for n in 0..failing {
        let id = bodies::failing_connector(n);
        let mut c = FivetranSim::connection_template(&id, &format!("postgres.{id}"), "postgres");
        c["group_id"] = bodies::failing_group(n).into();
        sim.add_connection(c);
    }
    for n in failing + 1..total {
        let id = format!("lg_account_{n:05}");
        sim.add_connection(FivetranSim::connection_template(
            &id,
            &format!("schema_{n:05}"),
            "google_sheets",
        ));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(listen) = &args.serve_bare {
        return procs::serve_bare(listen).await;
    }
    if let Some(dir) = &args.prefill_into {
        let store = Store::open_with(
            dir,
            StoreOptions {
                cache_bytes: args.cache_mb * 1024 * 1024,
            },
        )?;
        let (added, took) = store_side::prefill(&store, args.prefill)?;
        println!(
            "{}: added {added} events in {:.1} s ({} in all)",
            dir.display(),
            took.as_secs_f64(),
            store.event_count()
        );
        return Ok(());
    }
    syncwarden::app::install_crypto_provider();
    let client = client(args.concurrency)?;
    let mut report = Report::new();
    report.note(format!(
        "requests per throughput phase: {}, concurrency: {}, offered rate: {}/s for {} s, \
         failure share: {}, connectors: {}, pre-fill: {}, cache_mb: {}",
        args.requests,
        args.concurrency,
        args.rate,
        args.seconds,
        args.failure_share,
        args.connectors,
        args.prefill,
        args.cache_mb
    ));

    let latency_total = (args.rate * args.seconds) as usize;
    let alerts = (0..latency_total)
        .filter(|&i| bodies::is_failure(i, args.failure_share))
        .count();

    let stack = SimStack::start().await?;
    add_connections(&stack.fivetran, alerts, args.connectors);
    let data_dir = stack.data_dir.path().join("data");
    {
        let store = Store::open(&data_dir)?;
        store_side::subscribe_failing(&store, alerts)?;
        store.flush_blocking()?;
    }
    let exe = match &args.syncwarden {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("syncwarden"),
    };
    let sw = procs::Syncwarden::configure(exe, &stack, &data_dir, args.cache_mb)?;

    // 1. The ceiling.
    eprintln!("ceiling: bare axum");
    let bare = procs::start_bare(&client).await?;
    let bare_url = format!("{}/webhooks/fivetran", bare.base);
    let warm = Arc::new(bodies::make(0, 0..2_000, 0.0, 0));
    check(
        &drive::closed_loop(&client, &bare_url, warm, args.concurrency).await,
        "ceiling warm-up",
    )?;
    let cpu_before = (bare.cpu(), procs::cpu_time("self"));
    let ceiling = drive::closed_loop(
        &client,
        &bare_url,
        Arc::new(bodies::make(1, 0..args.requests, 0.0, 0)),
        args.concurrency,
    )
    .await;
    check(&ceiling, "ceiling")?;
    let ceiling_cpu = per_request(
        cpu_before,
        (bare.cpu(), procs::cpu_time("self")),
        ceiling.acked,
    );
    drop(bare);

    // 2. syncwarden on an empty store.
    eprintln!("syncwarden: start");
    let server = sw.start(&client).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = server.rss();
    let url = format!("{}/webhooks/fivetran", server.base);
    let mut acknowledged = 0;

    let warm = drive::closed_loop(
        &client,
        &url,
        Arc::new(bodies::make(0, 0..2_000, 0.0, 0)),
        args.concurrency,
    )
    .await;
    check(&warm, "ingest warm-up")?;
    acknowledged += warm.acked;

    eprintln!("syncwarden: durable ingest, closed loop");
    let cpu_before = (server.cpu(), procs::cpu_time("self"));
    let ingest = drive::closed_loop(
        &client,
        &url,
        Arc::new(bodies::make(1, 0..args.requests, 0.0, 0)),
        args.concurrency,
    )
    .await;
    check(&ingest, "ingest")?;
    let ingest_cpu = per_request(
        cpu_before,
        (server.cpu(), procs::cpu_time("self")),
        ingest.acked,
    );
    acknowledged += ingest.acked;

    eprintln!("syncwarden: {}/s for {} s", args.rate, args.seconds);
    let sent_at: SentAt = Arc::new(Mutex::new(HashMap::new()));
    let latency = drive::open_loop(
        &client,
        &url,
        Arc::new(bodies::make(2, 0..latency_total, args.failure_share, 0)),
        args.rate,
        sent_at.clone(),
    )
    .await;
    check(&latency, "ack latency")?;
    acknowledged += latency.acked;

    // Every alert posted, then nothing left in the queue.
    let posted = |calls: &[syncwarden::sim::slack::SlackCall]| {
        calls
            .iter()
            .filter(|c| c.method == "chat.postMessage" && c.ok)
            .count()
    };
    let drain = Instant::now();
    while posted(&stack.slack.calls()) < alerts && drain.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut pending = procs::metric(&client, &server.base, "syncwarden_jobs_pending").await;
    while pending != Some(0) && drain.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pending = procs::metric(&client, &server.base, "syncwarden_jobs_pending").await;
    }
    let sent = sent_at.lock().unwrap().clone();
    let channel_to_connector: HashMap<String, String> = (0..alerts)
        .map(|n| (store_side::alert_channel(n), bodies::failing_connector(n)))
        .collect();
    let mut alert_latencies: Vec<Duration> = stack
        .slack
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.ok)
        .filter_map(|c| {
            let connector = channel_to_connector.get(c.channel()?)?;
            Some(c.received.saturating_duration_since(*sent.get(connector)?))
        })
        .collect();
    alert_latencies.sort();

    eprintln!(
        "syncwarden: /fivetran health over {} connectors",
        args.connectors
    );
    let mut health_runs = Vec::new();
    for _ in 0..3 {
        health_runs.push(
            health::time_health(&client, &server.base, &stack.slack, stack.slack_addr).await?,
        );
    }
    let rss_after = server.rss();
    tokio::time::sleep(SETTLE).await;
    let rss_settled = server.rss();
    server.stop().context("stopping syncwarden")?;

    let counts = {
        let store = Store::open(&data_dir)?;
        store_side::counts(&store)?
    };

    report.row(
        "bare axum ceiling (closed loop)",
        format!("{:.0} req/s", ceiling.rate()),
        "",
        "",
    );
    report.row(
        "CPU per request: server / load generator (ceiling)",
        ceiling_cpu,
        "",
        "",
    );
    let ratio = ingest.rate() / ceiling.rate();
    report.row(
        "durable ingest (closed loop)",
        format!("{:.0} webhooks/s", ingest.rate()),
        "≥ 50 % of ceiling",
        report::verdict(format!("{:.0} %", 100.0 * ratio), ratio >= 0.5),
    );
    report.row(
        "CPU per webhook: server / load generator (ingest)",
        ingest_cpu,
        "",
        "",
    );
    let p99 = percentile(&latency.latencies, 0.99);
    report.row(
        &format!("ack latency at {}/s: p50 / p99 / max", args.rate),
        format!(
            "{} / {} / {}",
            ms(percentile(&latency.latencies, 0.5)),
            ms(p99),
            ms(latency.latencies.last().copied().unwrap_or_default())
        ),
        "p99 ≤ 5 ms",
        report::verdict(
            format!("{:.2}× target", p99.as_secs_f64() / 0.005),
            p99 <= Duration::from_millis(5),
        ),
    );
    let achieved = latency.acked as f64 / latency.elapsed.as_secs_f64();
    report.row(
        "offered / achieved rate in the latency phase",
        format!("{} / {achieved:.0} webhooks/s", args.rate),
        "",
        "",
    );
    let a99 = percentile(&alert_latencies, 0.99);
    report.row(
        "alert-to-Slack, rules path: p50 / p99",
        format!(
            "{} / {} ({} of {alerts} alerts)",
            ms(percentile(&alert_latencies, 0.5)),
            ms(a99),
            alert_latencies.len()
        ),
        "p99 ≤ 50 ms",
        report::verdict(
            format!("{:.2}× target", a99.as_secs_f64() / 0.05),
            a99 <= Duration::from_millis(50) && alert_latencies.len() == alerts,
        ),
    );
    // The first run lists the account from Fivetran; the next ones, within the minute the
    // listing stays fresh, are answered from it (the target is "from cache").
    let fetched = health_runs.iter().find(|h| !h.cached);
    let cached = health_runs
        .iter()
        .filter(|h| h.cached)
        .map(|h| h.answered)
        .min();
    report.row(
        &format!(
            "/fivetran health over {} connectors: listed from Fivetran / from the cached listing (best of {})",
            health_runs.first().map(|h| h.connectors).unwrap_or(0),
            health_runs.iter().filter(|h| h.cached).count()
        ),
        format!(
            "{} (acknowledged in {}) / {}",
            fetched.map_or("—".into(), |h| ms(h.answered)),
            fetched.map_or("—".into(), |h| ms(h.acknowledged)),
            cached.map_or("— (no cached answer)".into(), ms)
        ),
        "≤ 300 ms from cache",
        match cached {
            Some(c) => report::verdict(
                format!("{:.2}× target", c.as_secs_f64() / 0.3),
                c <= Duration::from_millis(300),
            ),
            None => report::verdict("no cached answer".into(), false),
        },
    );
    let waits = syncwarden::config::AlertsConfig::default();
    report.row(
        "deliberate alert delays (excluded above; set to 0 s for the run)",
        format!(
            "transient_grace {} for transient failures; storm_debounce {} for others in a group",
            waits.transient_grace, waits.storm_debounce
        ),
        "reported apart",
        "",
    );
    report.row(
        "RSS idle (empty store)",
        mb(rss_idle),
        "≤ 30 MB",
        report::verdict_mb(rss_idle, 30.0),
    );
    report.row(
        &format!(
            "RSS right after the load above / {} s later",
            SETTLE.as_secs()
        ),
        format!("{} / {}", mb(rss_after), mb(rss_settled)),
        "",
        "",
    );
    let stored_ok = counts.events == acknowledged
        && counts.events_received_audited == acknowledged
        && counts.incidents == alerts
        && counts.jobs_left == 0
        && counts.chain.is_ok();
    report.row(
        "acknowledged / events stored / event audit records",
        format!(
            "{acknowledged} / {} / {}",
            counts.events, counts.events_received_audited
        ),
        "all equal",
        report::verdict(String::new(), stored_ok),
    );
    report.row(
        "alerts sent / incidents stored / jobs left (due) / scheduled for later / audit chain",
        format!(
            "{alerts} / {} / {} / {} / {}",
            counts.incidents,
            counts.jobs_left,
            counts.jobs_scheduled,
            match counts.chain {
                Ok(n) => format!("intact ({n} records)"),
                Err(seq) => format!("BROKEN at {seq}"),
            }
        ),
        "",
        "",
    );
    if !stored_ok {
        report.print();
        bail!("the store does not hold exactly what was acknowledged");
    }

    // 3. A million stored events.
    if args.prefill > 0 {
        eprintln!("store: pre-filling to {} events", args.prefill);
        let (added, took) = {
            let store = Store::open_with(
                &data_dir,
                StoreOptions {
                    cache_bytes: args.cache_mb * 1024 * 1024,
                },
            )?;
            store_side::prefill(&store, args.prefill)?
        };
        report.note(format!(
            "pre-filled {added} events (with their audit records) in {:.1} s; store on disk: {}",
            took.as_secs_f64(),
            mb(Some(report::dir_size(&data_dir)))
        ));
        let server = sw.start(&client).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_big_idle = server.rss();
        let url = format!("{}/webhooks/fivetran", server.base);
        let more = drive::closed_loop(
            &client,
            &url,
            Arc::new(bodies::make(3, 0..args.requests, 0.0, 0)),
            args.concurrency,
        )
        .await;
        check(&more, "ingest on the full store")?;
        let rss_big_after = server.rss();
        // What stays once the burst's short-lived buffers are handed back (the allocator
        // returns freed pages after a short delay, not at once).
        tokio::time::sleep(SETTLE).await;
        let rss_big_settled = server.rss();
        server.stop().context("stopping syncwarden")?;
        let stored = args.prefill + more.acked;
        report.row(
            &format!(
                "RSS with {stored} events stored: idle / right after {} more / {} s later",
                more.acked,
                SETTLE.as_secs()
            ),
            format!(
                "{} / {} / {}",
                mb(rss_big_idle),
                mb(rss_big_after),
                mb(rss_big_settled)
            ),
            "≤ 150 MB",
            report::verdict_mb(rss_big_after.max(rss_big_idle), 150.0),
        );
        report.row(
            &format!("durable ingest with {} events stored", args.prefill),
            format!("{:.0} webhooks/s", more.rate()),
            "",
            "",
        );
        let (records, took) = store_side::time_cli_verify(&sw.exe, &data_dir)?;
        report.row(
            &format!("`syncwarden audit verify`, {records} records (whole command)"),
            format!("{:.2} s", took.as_secs_f64()),
            "≤ 5 s",
            report::verdict(
                format!("{:.2}× target", took.as_secs_f64() / 5.0),
                took <= Duration::from_secs(5),
            ),
        );
        let (records, took) = store_side::time_audit_verify(&data_dir, args.cache_mb)?;
        report.row(
            &format!("`Store::verify_audit` in process, {records} records"),
            format!("{:.2} s", took.as_secs_f64()),
            "",
            "",
        );
    }
    report.print();
    Ok(())
}
