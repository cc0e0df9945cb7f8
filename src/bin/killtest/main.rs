//! Kill test: the real `syncwarden serve` binary against the simulators (in this process),
//! under a stream of signed webhooks and approval clicks, killed with SIGKILL at random
//! moments and restarted on the same data directory. Afterwards it checks what a user relies
//! on, and prints the figures:
//!
//! - every webhook that got a 2xx is stored;
//! - every approved proposal produced exactly one Fivetran call (or is Interrupted, saying so);
//! - no incident was alerted twice in one channel, and every failure was alerted;
//! - `syncwarden audit verify` passes.
//!
//! `cargo run --release --bin killtest -- --help`; the test suite runs a short form.

mod child;
mod traffic;

use anyhow::{bail, Context};
use clap::Parser;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::stack::SimStack;
use syncwarden::store::Store;

#[derive(Parser, Debug, Clone)]
#[command(about = "syncwarden kill test (loopback only)")]
pub struct Args {
    /// How many times syncwarden is killed with SIGKILL and restarted.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Distinct webhooks to deliver (about one in ten is a failure to alert and approve).
    #[arg(long, default_value_t = 3000)]
    pub webhooks: usize,
    /// Failures among them; each gets an alert and an approval click.
    #[arg(long, default_value_t = 300)]
    pub approvals: usize,
    /// Concurrent webhook senders.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Path to the syncwarden binary (default: next to this one).
    #[arg(long)]
    pub syncwarden: Option<std::path::PathBuf>,
    /// Seed for the kill times and the delivery order.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Give up waiting for the system to settle after this long.
    #[arg(long, default_value_t = 180)]
    pub settle_secs: u64,
}

/// Destination groups (one alert channel each, so Slack's per-channel pacing does not
/// dominate the run).
const GROUPS: usize = 40;

fn default_binary() -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("no directory for this executable")?;
    Ok(dir.join("syncwarden"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.approvals == 0 || args.approvals > args.webhooks {
        bail!("--approvals must be between 1 and --webhooks");
    }
    syncwarden::app::install_crypto_provider();
    let exe = match &args.syncwarden {
        Some(p) => p.clone(),
        None => default_binary()?,
    };
    let stack = SimStack::start().await?;
    let failing = traffic::failing_connectors(args.approvals, GROUPS);
    for (id, _) in &failing {
        stack
            .fivetran
            .add_connection(FivetranSim::connection_template(id, id, "postgres"));
    }
    let data_dir = stack.data_dir.path().join("data");
    let mut server = child::Server::new(&exe, &stack, &data_dir)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    server.start(&client).await?;
    traffic::subscribe_groups(&client, &server.base(), &stack, GROUPS).await?;

    let bodies = traffic::bodies(&args, &failing);
    let started = Instant::now();
    let (acked, approvals, kills) =
        traffic::run(&args, &client, &stack, &mut server, bodies, failing.len()).await?;
    let settled = traffic::settle(&stack, &approvals, Duration::from_secs(args.settle_secs)).await;
    server.stop().context("stopping syncwarden at the end")?;
    let elapsed = started.elapsed();

    let report = check(&exe, &stack, &data_dir, &acked, &approvals, &failing)?;
    println!(
        "kill test: {kills} SIGKILLs in {:.1} s",
        elapsed.as_secs_f64()
    );
    println!("  webhooks acknowledged      {}", acked.len());
    println!("  acknowledged and stored    {}", report.stored);
    println!(
        "  alerts posted              {} (failures delivered: {})",
        report.alerts,
        failing.len()
    );
    println!("  duplicate alerts           {}", report.duplicate_alerts);
    println!("  approved                   {}", approvals.len());
    println!("  executed (one call each)   {}", report.executed);
    println!(
        "  already in effect at resume{:>4}",
        report.resumed_in_effect
    );
    println!("  interrupted (said so)      {}", report.interrupted);
    println!("  approvals with 2+ calls    {}", report.double_calls);
    println!(
        "  audit verify               {}",
        if report.audit_ok { "ok" } else { "FAILED" }
    );
    let mut problems = report.problems;
    if !settled {
        problems.push("the system did not settle in time (see the counts above)".into());
    }
    if problems.is_empty() {
        println!("kill test passed");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("FAIL: {p}");
        }
        eprintln!("syncwarden's log: {}", server.log_path().display());
        std::process::exit(1);
    }
}

struct Report {
    stored: usize,
    alerts: usize,
    duplicate_alerts: usize,
    executed: usize,
    resumed_in_effect: usize,
    interrupted: usize,
    double_calls: usize,
    audit_ok: bool,
    problems: Vec<String>,
}

fn check(
    exe: &std::path::Path,
    stack: &SimStack,
    data_dir: &std::path::Path,
    acked: &HashSet<String>,
    approvals: &HashMap<String, traffic::Approved>,
    failing: &[(String, String)],
) -> anyhow::Result<Report> {
    let mut problems = Vec::new();
    let store = Store::open(data_dir)?;
    let stored_keys: HashSet<String> = store.events()?.into_iter().map(|e| e.dedupe_key).collect();
    let missing = acked.iter().filter(|k| !stored_keys.contains(*k)).count();
    if missing > 0 {
        problems.push(format!("{missing} acknowledged webhooks are not stored"));
    }

    // Alerts: top-level posts per (channel, incident).
    let mut alerts: HashMap<(String, String), usize> = HashMap::new();
    for call in stack.slack.calls() {
        if call.method != "chat.postMessage" || !call.ok || call.thread_ts().is_some() {
            continue;
        }
        if let Some(incident) = traffic::incident_of(&call) {
            let channel = call.channel().unwrap_or_default().to_string();
            *alerts.entry((channel, incident)).or_default() += 1;
        }
    }
    let duplicate_alerts: usize = alerts.values().map(|n| n.saturating_sub(1)).sum();
    if duplicate_alerts > 0 {
        problems.push(format!(
            "{duplicate_alerts} incidents were alerted twice in one channel"
        ));
    }
    let alerted: HashSet<&String> = alerts.keys().map(|(_, i)| i).collect();
    let incidents = store.incidents()?;
    for (connector, _) in failing {
        let opened: Vec<_> = incidents
            .iter()
            .filter(|i| &i.connector_id == connector)
            .collect();
        match opened.as_slice() {
            [one] if alerted.contains(&one.id) => {}
            [one] => problems.push(format!("{connector}: incident {} was never posted", one.id)),
            [] => problems.push(format!("{connector}: its failure opened no incident")),
            many => problems.push(format!(
                "{connector}: {} incidents for one failure",
                many.len()
            )),
        }
    }

    // Approvals: one call each, or Interrupted.
    let requests = stack.fivetran.requests();
    let mut executed = 0;
    let mut interrupted = 0;
    let mut resumed_in_effect = 0;
    let mut double_calls = 0;
    for (proposal_id, approved) in approvals {
        let connector = &approved.connector;
        let path = format!("/v1/connections/{connector}/sync");
        let calls = requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == path && r.status < 500)
            .count();
        let Some(p) = store.proposal(proposal_id)? else {
            problems.push(format!("approved proposal {proposal_id} is not stored"));
            continue;
        };
        let state = p.state.as_str();
        match (state, calls) {
            ("succeeded", 1) => {
                executed += 1;
                if p.execution
                    .as_ref()
                    .is_some_and(|e| e.message.contains("already in effect"))
                {
                    resumed_in_effect += 1;
                }
            }
            ("interrupted", 0 | 1) => interrupted += 1,
            (_, n) if n > 1 => {
                double_calls += 1;
                problems.push(format!(
                    "{proposal_id} ({connector}): {n} calls for one approval"
                ));
            }
            (s, n) => problems.push(format!(
                "{proposal_id} ({connector}): state {s} after {n} call(s)"
            )),
        }
    }
    drop(store);

    let verify = std::process::Command::new(exe)
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .output()
        .context("running syncwarden audit verify")?;
    let audit_ok = verify.status.success();
    if !audit_ok {
        problems.push(format!(
            "audit verify failed: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        ));
    }
    Ok(Report {
        stored: acked.len() - missing,
        alerts: alerts.len(),
        duplicate_alerts,
        executed,
        resumed_in_effect,
        interrupted,
        double_calls,
        audit_ok,
        problems,
    })
}
