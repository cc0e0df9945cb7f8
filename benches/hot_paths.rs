//! Micro-benchmarks for the hot paths: `cargo bench --bench hot_paths` (figures in
//! BENCHMARKS.md). Inputs are the repository's fixtures (`tests/data/`) or come out of the
//! real pipeline run against the simulators, so they have the shapes production sees.

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use syncwarden::app::AppState;
use syncwarden::diagnosis::classify::classify_message;
use syncwarden::fivetran::model::Connection;
use syncwarden::fivetran::webhook::{self, WebhookEvent};
use syncwarden::health::{assess, rank, totals};
use syncwarden::incidents::Incident;
use syncwarden::ingest::{record, record_prepared, Prepared};
use syncwarden::remediation::proposal::Proposal;
use syncwarden::sim::fivetran::FivetranSim;
use syncwarden::sim::stack::{SimStack, APPROVER, SLACK_SIGNING_SECRET, WEBHOOK_SECRET};
use syncwarden::slack::{blocks, replies, signature};
use syncwarden::store::audit::{verify_chain, AuditEntry};
use syncwarden::store::Store;

fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

const FAILURE: &str = "fivetran/webhooks/sync_end_failure_with_task.json";

fn signatures(c: &mut Criterion) {
    let body = data(FAILURE);
    let sig = webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
    c.bench_function("fivetran_signature_verify", |b| {
        b.iter(|| webhook::verify(WEBHOOK_SECRET.as_bytes(), black_box(&body), Some(&sig)))
    });

    // Slack's worked example (the simulators use its secret): timestamp and signature from
    // Slack's documentation.
    let form = data("slack/signed_slash_command.body");
    let ts = "1531420618";
    let now = DateTime::from_timestamp(1531420618, 0).expect("timestamp");
    let slack_sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert!(signature::verify(
        SLACK_SIGNING_SECRET.as_bytes(),
        now,
        Some(ts),
        Some(slack_sig),
        &form
    )
    .is_ok());
    c.bench_function("slack_signature_verify", |b| {
        b.iter(|| {
            signature::verify(
                SLACK_SIGNING_SECRET.as_bytes(),
                now,
                Some(ts),
                Some(slack_sig),
                black_box(&form),
            )
        })
    });
}

fn parse(c: &mut Criterion) {
    let body = data(FAILURE);
    c.bench_function("webhook_parse", |b| {
        b.iter(|| WebhookEvent::parse(black_box(&body)))
    });
}

fn classify(c: &mut Criterion) {
    let text = String::from_utf8(data("fivetran-errors/dev.jsonl")).expect("utf-8");
    let cases: Vec<(String, Option<String>)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["message"].as_str().unwrap_or("").to_string(),
                v["connector_type"].as_str().map(str::to_string),
            )
        })
        .collect();
    let _ = classify_message("warm-up", None);
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.bench_function("dev_set_messages", |b| {
        b.iter(|| {
            for (message, connector_type) in &cases {
                black_box(classify_message(message, connector_type.as_deref()));
            }
        })
    });
    g.finish();
}

/// An incident and its proposal made by the real diagnose job against the simulators.
fn diagnosed_incident() -> (Incident, Option<Proposal>, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let stack = SimStack::start().await.expect("simulators");
        stack
            .fivetran
            .add_connection(FivetranSim::connection_template(
                "empty_bount",
                "google_sheets.monitoring_sheet",
                "google_sheets",
            ));
        let settings = stack.settings(&[APPROVER]);
        let url = settings.fivetran_dashboard_url.clone();
        let state = AppState::new(settings, SimStack::secrets(), None).expect("state");
        let (event, payload) = WebhookEvent::parse(&data(FAILURE)).expect("fixture");
        syncwarden::ingest::ingest(&state, &event, payload)
            .await
            .expect("ingest");
        syncwarden::worker::run_due_jobs(&state).await;
        let incident = state
            .store
            .incidents()
            .expect("incidents")
            .pop()
            .expect("the failure opened an incident");
        let proposal = incident
            .proposal_id
            .as_deref()
            .and_then(|id| state.store.proposal(id).ok().flatten());
        (incident, proposal, url)
    })
}

fn render(c: &mut Criterion) {
    let (incident, proposal, url) = diagnosed_incident();
    let now = Utc::now();
    c.bench_function("block_kit_render_alert", |b| {
        b.iter(|| {
            let content =
                blocks::incident_message(black_box(&incident), proposal.as_ref(), &url, now, None);
            serde_json::to_vec(&content).map(|v| v.len())
        })
    });
}

fn audit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let entry = AuditEntry::system("event_received")
        .connector(Some("empty_bount"))
        .event(1)
        .detail(serde_json::json!({"event": "sync_end", "status": "FAILURE_WITH_TASK", "sync_id": "b4hyg080-a5c0-4qa3-a4f3-12eef82wqw9", "handling": "diagnose"}));
    let now = Utc::now();
    c.bench_function("audit_append", |b| {
        b.iter(|| {
            store
                .transact(now, |tx| tx.audit(entry.clone()))
                .expect("append")
        })
    });

    // One webhook's whole record (event, dedupe key, audit record) alone in a transaction,
    // and 32 sharing one, as the grouped ingest does under load.
    let mut n = 0u64;
    let body = |n: u64| {
        let v = serde_json::json!({"event":"sync_end","created":"2023-07-07T09:56:43.688Z","connector_type":"postgres","connector_id":"speak_inexpensive","connector_name":"pg_prod","sync_id": format!("bench-{n}"),"destination_group_id":"deck_enjoy","data":{"status":"SUCCESSFUL"}});
        WebhookEvent::parse(v.to_string().as_bytes()).expect("body")
    };
    let policy = syncwarden::remediation::policy::Policy::new(
        ["U0APPROVER".to_string()],
        std::time::Duration::from_secs(4 * 3600),
    );
    let mut g = c.benchmark_group("ingest_record");
    g.bench_function("one_per_transaction", |b| {
        b.iter_batched(
            || {
                n += 1;
                body(n)
            },
            |(event, payload)| {
                store
                    .transact(now, |tx| record(tx, &policy, &event, &payload))
                    .expect("record")
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(32));
    g.bench_function("32_per_transaction", |b| {
        b.iter_batched(
            || {
                (0..32)
                    .map(|_| {
                        n += 1;
                        body(n)
                    })
                    .collect::<Vec<_>>()
            },
            |batch| {
                store
                    .transact(now, |tx| {
                        batch
                            .iter()
                            .map(|(e, p)| record(tx, &policy, e, p))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .expect("record")
            },
            BatchSize::SmallInput,
        )
    });
    // As the server does it: each delivery prepared (encoded event, audit entry) before
    // the shared transaction, which then only looks up, inserts and chains.
    g.bench_function("32_prepared_per_transaction", |b| {
        b.iter_batched(
            || {
                (0..32)
                    .map(|_| {
                        n += 1;
                        let (event, payload) = body(n);
                        Prepared::new(now, &event, payload).expect("prepared")
                    })
                    .collect::<Vec<_>>()
            },
            |batch| {
                store
                    .transact(now, |tx| {
                        batch
                            .iter()
                            .map(|p| record_prepared(tx, &policy, p))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .expect("record")
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn audit_verify(c: &mut Criterion) {
    const RECORDS: usize = 20_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let now = Utc::now();
    for chunk in 0..RECORDS / 1000 {
        store
            .transact(now, |tx| {
                for i in 0..1000 {
                    tx.audit(
                        AuditEntry::system("event_received")
                            .connector(Some("speak_inexpensive"))
                            .event((chunk * 1000 + i) as u64)
                            .detail(serde_json::json!({"event": "sync_end", "status": "SUCCESSFUL", "sync_id": format!("s-{chunk}-{i}"), "handling": "recorded"})),
                    )?;
                }
                Ok(())
            })
            .expect("fill");
    }
    let records = store.audit_records().expect("records");
    let mut g = c.benchmark_group("audit_verify");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(10);
    g.bench_function("read_records", |b| {
        b.iter(|| store.audit_records().expect("records").len())
    });
    g.bench_function("verify_chain", |b| {
        b.iter(|| verify_chain(black_box(&records)))
    });
    g.finish();
}

fn health(c: &mut Criterion) {
    const CONNECTORS: usize = 5_000;
    let connections: Vec<Connection> = (0..CONNECTORS)
        .map(|n| {
            let mut v = FivetranSim::connection_template(
                &format!("conn_{n:05}"),
                &format!("schema_{n:05}"),
                "postgres",
            );
            if n % 7 == 0 {
                v["status"]["setup_state"] = "broken".into();
            }
            if n % 5 == 0 {
                v["paused"] = true.into();
            }
            serde_json::from_value(v).expect("connection")
        })
        .collect();
    let now = Utc::now();
    let mut g = c.benchmark_group("health");
    g.throughput(Throughput::Elements(CONNECTORS as u64));
    g.bench_function("assess_rank_render_5000", |b| {
        b.iter(|| {
            let assessed: Vec<_> = connections.iter().map(|c| assess(c, 0, now)).collect();
            let t = totals(&assessed);
            replies::health("all connectors", &rank(assessed), &t, now, now, None)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    signatures,
    parse,
    classify,
    render,
    audit,
    audit_verify,
    health
);
criterion_main!(benches);
