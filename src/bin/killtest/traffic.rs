//! What the kill test sends: signed webhooks (failures to alert, successes and sync starts
//! that only get stored, redeliveries), approval clicks on the alerts Slack received, and the
//! kills in between.

use crate::child::Server;
use crate::Args;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syncwarden::fivetran::webhook::{self, WebhookEvent};
use syncwarden::sim::slack::{click_body, command_body, signed_headers, SlackCall, SlackSim};
use syncwarden::sim::stack::{SimStack, APPROVER, SLACK_SIGNING_SECRET, WEBHOOK_SECRET};

pub struct Body {
    bytes: Vec<u8>,
    signature: String,
    dedupe_key: String,
}

/// An approval that got Slack's 200.
#[derive(Debug, Clone)]
pub struct Approved {
    pub connector: String,
    pub channel: String,
    pub ts: String,
}

fn group(k: usize) -> String {
    format!("kt_group_{k:02}")
}

fn channel(k: usize) -> String {
    format!("C0KILL{k:04}")
}

/// The connectors that fail once each, spread over `groups` destination groups.
pub fn failing_connectors(n: usize, groups: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("kt_fail_{i:04}"), group(i % groups)))
        .collect()
}

/// Routes each group's alerts to its own channel through signed `/fivetran subscribe`.
pub async fn subscribe_groups(
    client: &reqwest::Client,
    base: &str,
    stack: &SimStack,
    groups: usize,
) -> anyhow::Result<()> {
    for k in 0..groups {
        let text = format!("subscribe group:{} <#{}|kill-{k}>", group(k), channel(k));
        let url = SlackSim::response_url_for(stack.slack_addr, &channel(k));
        let body = command_body("/fivetran", &text, APPROVER, &channel(k), &url);
        let mut req = client
            .post(format!("{base}/slack/commands"))
            .body(body.clone());
        for (h, v) in signed_headers(SLACK_SIGNING_SECRET, chrono::Utc::now().timestamp(), &body) {
            req = req.header(h, v);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let answer = resp.text().await.unwrap_or_default();
        if !status.is_success() || !answer.contains("now go to") {
            anyhow::bail!("subscribing {} failed: {status} {answer}", group(k));
        }
    }
    Ok(())
}

fn signed(value: serde_json::Value) -> Body {
    let bytes = value.to_string().into_bytes();
    let dedupe_key = WebhookEvent::parse(&bytes)
        .map(|(e, _)| e.dedupe_key())
        .unwrap_or_default();
    Body {
        signature: webhook::sign(WEBHOOK_SECRET.as_bytes(), &bytes),
        bytes,
        dedupe_key,
    }
}

/// One failure per failing connector, the rest successful syncs and sync starts of healthy
/// connectors, and one redelivery in twenty; shuffled.
pub fn bodies(args: &Args, failing: &[(String, String)]) -> Vec<Body> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let created = "2026-11-25T10:00:00.000Z";
    let mut out: Vec<Body> = failing
        .iter()
        .enumerate()
        .map(|(i, (id, group))| {
            signed(serde_json::json!({
                "event": "sync_end", "created": created, "connector_type": "postgres",
                "connector_id": id, "connector_name": id, "sync_id": format!("kt-fail-{i}"),
                "destination_group_id": group,
                "data": {"status": "FAILURE_WITH_TASK", "reason": "java.net.SocketTimeoutException: Read timed out", "taskType": "retry_sync"}
            }))
        })
        .collect();
    for i in 0..args.webhooks - failing.len() {
        let id = format!("kt_ok_{:04}", i % 500);
        let value = if i % 2 == 0 {
            serde_json::json!({
                "event": "sync_start", "created": created, "connector_type": "postgres",
                "connector_id": id, "connector_name": id, "sync_id": format!("kt-ok-{i}"),
                "destination_group_id": group(i % 7)
            })
        } else {
            serde_json::json!({
                "event": "sync_end", "created": created, "connector_type": "postgres",
                "connector_id": id, "connector_name": id, "sync_id": format!("kt-ok-{i}"),
                "destination_group_id": group(i % 7), "data": {"status": "SUCCESSFUL"}
            })
        };
        out.push(signed(value));
    }
    let redeliveries: Vec<Body> = out
        .iter()
        .step_by(20)
        .map(|b| Body {
            bytes: b.bytes.clone(),
            signature: b.signature.clone(),
            dedupe_key: b.dedupe_key.clone(),
        })
        .collect();
    out.extend(redeliveries);
    out.shuffle(&mut rng);
    out
}

/// The incident id in an alert's context line (`… · incident inc_12 · …`).
pub fn incident_of(call: &SlackCall) -> Option<String> {
    let text = call.body["blocks"].to_string();
    let at = text.find("incident inc_")? + "incident ".len();
    let id: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

fn connector_of(call: &SlackCall) -> Option<String> {
    let text = call.body["blocks"].to_string();
    let at = text.find("kt_fail_")?;
    Some(text[at..at + "kt_fail_0000".len()].to_string())
}

async fn post_until_answered(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    deadline: Instant,
) -> Option<u16> {
    while Instant::now() < deadline {
        let mut req = client.post(url).body(body.to_vec());
        for (h, v) in headers {
            req = req.header(h.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(r) if r.status().is_success() || r.status().is_client_error() => {
                return Some(r.status().as_u16())
            }
            // Down (killed) or busy: Fivetran and Slack retry too.
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    None
}

/// Delivers every body (retrying until a 2xx, as Fivetran does), clicks Approve on every
/// alert, and kills and restarts syncwarden `args.kills` times meanwhile. Returns the
/// acknowledged dedupe keys, the approvals that got a 200, and how many kills happened.
pub async fn run(
    args: &Args,
    client: &reqwest::Client,
    stack: &SimStack,
    server: &mut Server,
    bodies: Vec<Body>,
    failures: usize,
) -> anyhow::Result<(HashSet<String>, HashMap<String, Approved>, usize)> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let base = server.base();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let queue = Arc::new(Mutex::new(VecDeque::from(bodies)));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, queue, acked) = (client.clone(), queue.clone(), acked.clone());
        let url = format!("{base}/webhooks/fivetran");
        senders.spawn(async move {
            loop {
                let Some(b) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                let headers = [
                    (webhook::SIGNATURE_HEADER.to_string(), b.signature.clone()),
                    ("content-type".to_string(), "application/json".to_string()),
                ];
                if let Some(200..=299) =
                    post_until_answered(&client, &url, &headers, &b.bytes, deadline).await
                {
                    acked.lock().unwrap().insert(b.dedupe_key.clone());
                }
            }
        });
    }

    let approvals = Arc::new(Mutex::new(HashMap::<String, Approved>::new()));
    let approver = {
        let (client, approvals) = (client.clone(), approvals.clone());
        let slack = stack.slack.clone();
        let url = format!("{base}/slack/interactions");
        tokio::spawn(async move {
            let mut clicked: HashSet<String> = HashSet::new();
            let mut n = 0u64;
            while clicked.len() < failures && Instant::now() < deadline {
                for call in slack.calls() {
                    if call.method != "chat.postMessage" || !call.ok || call.thread_ts().is_some() {
                        continue;
                    }
                    let (Some(value), Some(ts), Some(channel), Some(connector)) = (
                        call.button_value("approve"),
                        call.ts.clone(),
                        call.channel().map(str::to_string),
                        connector_of(&call),
                    ) else {
                        continue;
                    };
                    let id = call.proposal_id().unwrap_or_default();
                    if !clicked.insert(id.clone()) {
                        continue;
                    }
                    // Every tenth approval is a double click; the second must change nothing.
                    n += 1;
                    let times = if n % 10 == 0 { 2 } else { 1 };
                    for _ in 0..times {
                        let body = click_body(APPROVER, "approve", &value, &channel, &ts);
                        let headers = signed_headers(
                            SLACK_SIGNING_SECRET,
                            chrono::Utc::now().timestamp(),
                            &body,
                        );
                        if post_until_answered(&client, &url, &headers, &body, deadline).await
                            == Some(200)
                        {
                            approvals.lock().unwrap().insert(
                                id.clone(),
                                Approved {
                                    connector: connector.clone(),
                                    channel: channel.clone(),
                                    ts: ts.clone(),
                                },
                            );
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let mut kills = 0;
    for _ in 0..args.kills {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..900))).await;
        server.kill()?;
        kills += 1;
        server.start(client).await?;
    }
    while senders.join_next().await.is_some() {}
    approver.await?;
    let acked = acked.lock().unwrap().clone();
    let approvals = approvals.lock().unwrap().clone();
    Ok((acked, approvals, kills))
}

/// Waits until every approved alert shows how its call ended.
pub async fn settle(
    stack: &SimStack,
    approvals: &HashMap<String, Approved>,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let open = approvals
            .values()
            .filter(|a| {
                let text = stack
                    .slack
                    .message(&a.channel, &a.ts)
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                !(text.contains("done.") || text.contains("interrupted") || text.contains("failed"))
            })
            .count();
        if open == 0 {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("{open} approved alerts never showed a result");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
