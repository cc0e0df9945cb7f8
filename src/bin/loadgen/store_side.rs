//! What the load generator does to and reads from the data directory directly, while no
//! server runs on it: subscriptions that give every failing connector its own channel, a
//! pre-filled store for the memory-at-scale figure, the stored counts and the audit check.

use crate::bodies;
use chrono::Utc;
use std::path::Path;
use std::time::{Duration, Instant};
use syncwarden::fivetran::webhook::WebhookEvent;
use syncwarden::ingest::{record, Ingested};
use syncwarden::store::audit::verify_chain;
use syncwarden::store::subscriptions::{Scope, Subscription};
use syncwarden::store::{Store, StoreOptions};

/// The channel the `n`th failing connector alerts in. One channel per connector keeps
/// Slack's per-channel pacing out of the latency figure: that is a deliberate delay.
pub fn alert_channel(n: usize) -> String {
    format!("C0LG{n:06}")
}

pub fn subscribe_failing(store: &Store, failing: usize) -> anyhow::Result<()> {
    store.transact(Utc::now(), |tx| {
        for n in 0..failing {
            let id = bodies::failing_connector(n);
            tx.subscribe(&Subscription {
                scope: Scope::Connector(id.clone()),
                channel: alert_channel(n),
                label: id,
                created_by: "U0LOADGEN1".into(),
                created_at: tx.now,
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Adds successful-sync events (with their audit records, written by the same code the
/// webhook handler uses) until the store holds `target` events. Returns how many it added
/// and how long that took.
pub fn prefill(store: &Store, target: usize) -> anyhow::Result<(usize, Duration)> {
    const BATCH: usize = 2_000;
    let start = Instant::now();
    let have = store.event_count();
    let mut added = 0;
    let mut next = 0usize;
    let policy = syncwarden::remediation::policy::Policy::new(
        [syncwarden::sim::stack::APPROVER.to_string()],
        std::time::Duration::from_secs(4 * 3600),
    );
    while have + added < target {
        let n = BATCH.min(target - have - added);
        let batch: Vec<(WebhookEvent, serde_json::Value)> = bodies::make(9, next..next + n, 0.0, 0)
            .into_iter()
            .map(|b| WebhookEvent::parse(&b.bytes).map_err(|e| anyhow::anyhow!("{e}")))
            .collect::<anyhow::Result<_>>()?;
        next += n;
        let accepted = store.transact(Utc::now(), |tx| {
            let mut accepted = 0;
            for (event, payload) in &batch {
                if let Ingested::Accepted { .. } = record(tx, &policy, event, payload)?.outcome {
                    accepted += 1;
                }
            }
            Ok(accepted)
        })?;
        added += accepted;
        if accepted == 0 {
            anyhow::bail!("pre-fill made no progress (every body was a duplicate)");
        }
    }
    store.flush_blocking()?;
    Ok((added, start.elapsed()))
}

pub struct Counts {
    pub events: usize,
    pub events_received_audited: usize,
    pub incidents: usize,
    /// Jobs due (work not done) when the server stopped.
    pub jobs_left: usize,
    /// Jobs scheduled for later, such as each undecided proposal's expiry.
    pub jobs_scheduled: usize,
    pub chain: Result<u64, u64>,
}

pub fn counts(store: &Store) -> anyhow::Result<Counts> {
    let records = store.audit_records()?;
    let jobs = store.job_counts(chrono::Utc::now())?;
    Ok(Counts {
        events: store.event_count(),
        events_received_audited: records
            .iter()
            .filter(|r| r.entry.kind == "event_received")
            .count(),
        incidents: store.incidents()?.len(),
        jobs_left: jobs.due,
        jobs_scheduled: jobs.later,
        chain: verify_chain(&records),
    })
}

/// `syncwarden audit verify` on the data directory, as an operator runs it. Returns the
/// records it verified and how long the whole command took.
pub fn time_cli_verify(exe: &Path, dir: &Path) -> anyhow::Result<(u64, Duration)> {
    let start = Instant::now();
    let out = std::process::Command::new(exe)
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()?;
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "syncwarden audit verify failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let records = regex::Regex::new(r"verified: (\d+) record")?
        .captures(&text)
        .and_then(|c| c[1].parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected audit verify output: {text}"))?;
    Ok((records, took))
}

/// The same check in this process through the library (`Store::verify_audit`), without
/// process start-up. Returns (records, time).
pub fn time_audit_verify(dir: &Path, cache_mb: u64) -> anyhow::Result<(u64, Duration)> {
    let start = Instant::now();
    let store = Store::open_with(
        dir,
        StoreOptions {
            cache_bytes: cache_mb * 1024 * 1024,
        },
    )?;
    let summary = store
        .verify_audit(None)?
        .map_err(|fault| anyhow::anyhow!("audit chain is broken: {fault}"))?;
    Ok((summary.records, start.elapsed()))
}
