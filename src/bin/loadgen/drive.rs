//! Firing webhooks: a closed loop (N workers, as fast as answers come back) for throughput,
//! and an open loop (a fixed offered rate) for latency. The open loop is
//! coordinated-omission-safe: every request has a scheduled send time and its latency counts
//! from then, so a stalled server cannot hide its stall by slowing the sender down.

use crate::bodies::Body;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syncwarden::fivetran::webhook::SIGNATURE_HEADER;

/// When each alert's webhook was (scheduled to be) sent, by connector id.
pub type SentAt = Arc<Mutex<HashMap<String, Instant>>>;

pub struct Run {
    pub acked: usize,
    pub refused: usize,
    pub elapsed: Duration,
    /// Sorted, for the open loop.
    pub latencies: Vec<Duration>,
    /// Why the run stopped early, if it did.
    pub stalled: Option<String>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }
}

async fn send(client: &reqwest::Client, url: &str, b: &Body) -> Result<bool, String> {
    client
        .post(url)
        .header(SIGNATURE_HEADER, &b.signature)
        .header("content-type", "application/json")
        .body(b.bytes.clone())
        .send()
        .await
        .map(|r| r.status().is_success())
        .map_err(|e| {
            if e.is_timeout() {
                "no answer within the client timeout".to_string()
            } else {
                format!("request failed: {e}")
            }
        })
}

/// Sends every body with `concurrency` workers. Stops at the first transport error (a
/// timeout means the server stalled; going on would only wait for more timeouts).
pub async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Body>>,
    concurrency: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, bodies) = (client.clone(), url.to_string(), bodies.clone());
            let (next, acked, refused, stop, stalled) = (
                next.clone(),
                acked.clone(),
                refused.clone(),
                stop.clone(),
                stalled.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = bodies.get(i) else { break };
                    match send(&client, &url, b).await {
                        Ok(true) => acked.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            stalled.lock().unwrap().get_or_insert(e);
                            break;
                        }
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let stalled = stalled.lock().unwrap().take();
    Run {
        acked: acked.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        latencies: Vec::new(),
        stalled,
    }
}

/// Offers `rate` requests/s; each latency counts from the request's scheduled time. Alert
/// webhooks record their scheduled time in `sent_at`.
pub async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Body>>,
    rate: u64,
    sent_at: SentAt,
) -> Run {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(bodies.len());
    for i in 0..bodies.len() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url, bodies, sent_at, stop) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            sent_at.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let b = &bodies[i];
            if let Some(id) = &b.alert_connector {
                sent_at.lock().unwrap().insert(id.clone(), scheduled);
            }
            let r = send(&client, &url, b).await;
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            (scheduled.elapsed(), r)
        }));
    }
    let mut run = Run {
        acked: 0,
        refused: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(tasks.len()),
        stalled: None,
    };
    for t in tasks {
        if let Ok((d, r)) = t.await {
            match r {
                Ok(true) => {
                    run.acked += 1;
                    run.latencies.push(d);
                }
                Ok(false) => run.refused += 1,
                Err(e) => {
                    run.stalled.get_or_insert(e);
                }
            }
        }
    }
    run.elapsed = start.elapsed();
    run.latencies.sort();
    run
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
