//! Slack's posting limits, kept on our side so a burst of alerts queues instead of being
//! refused: `chat.postMessage` allows about one message per second per channel, with short
//! bursts. A token bucket per channel (burst [`BURST`], one token per [`INTERVAL`]) says when
//! the next post may go out; a 429's `Retry-After` blocks that channel (or, for other methods,
//! that method) until it has passed. A held call is not sent: the caller gets the wait and its
//! job is rescheduled, so the alert is delivered late rather than lost.

use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Posts one channel may take at once.
pub const BURST: f64 = 3.0;
/// Sustained spacing of posts in one channel.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Buckets kept before idle ones are forgotten (one per channel posted to).
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was counted (may lie in the future after a 429).
    at: DateTime<Utc>,
}

pub struct Pacer {
    clock: SharedClock,
    buckets: Mutex<HashMap<String, Bucket>>,
}

fn wait_until(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}

impl Pacer {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(b: Bucket, now: DateTime<Utc>) -> Bucket {
        if now <= b.at {
            return b;
        }
        let elapsed = (now - b.at).to_std().unwrap_or_default().as_secs_f64();
        Bucket {
            tokens: (b.tokens + elapsed / INTERVAL.as_secs_f64()).min(BURST),
            at: now,
        }
    }

    /// Takes a posting slot for `key`, or says how long until there is one.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        self.check(key, true)
    }

    /// Only checks that `key` is not held by a 429 (for methods Slack limits per workspace).
    pub fn check_blocked(&self, key: &str) -> Result<(), Duration> {
        self.check(key, false)
    }

    fn check(&self, key: &str, consume: bool) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_KEYS {
            buckets.retain(|_, b| Self::refilled(*b, now).tokens < BURST);
        }
        let b = buckets.get(key).copied().unwrap_or(Bucket {
            tokens: BURST,
            at: now,
        });
        if now < b.at {
            return Err(wait_until(now, b.at));
        }
        let mut b = Self::refilled(b, now);
        if consume {
            if b.tokens < 1.0 {
                let secs = (1.0 - b.tokens) * INTERVAL.as_secs_f64();
                return Err(Duration::from_secs_f64(secs).max(Duration::from_millis(1)));
            }
            b.tokens -= 1.0;
        }
        buckets.insert(key.to_string(), b);
        Ok(())
    }

    /// Slack answered 429: nothing for `key` before `retry_after`, then one post at a time.
    pub fn block(&self, key: &str, retry_after: Duration) {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(retry_after).unwrap_or_default();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let at = buckets.get(key).map_or(until, |b| b.at.max(until));
        buckets.insert(key.to_string(), Bucket { tokens: 1.0, at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::TimeZone;
    use std::sync::Arc;

    fn pacer() -> (Pacer, ManualClock) {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        (Pacer::new(Arc::new(clock.clone())), clock)
    }

    #[test]
    fn a_burst_then_one_a_second_per_channel() {
        let (p, clock) = pacer();
        for _ in 0..3 {
            p.take("C1").unwrap();
        }
        assert_eq!(p.take("C1"), Err(Duration::from_secs(1)));
        // Other channels have their own allowance.
        p.take("C2").unwrap();
        clock.advance(chrono::Duration::milliseconds(500));
        assert_eq!(p.take("C1"), Err(Duration::from_millis(500)));
        clock.advance(chrono::Duration::milliseconds(500));
        p.take("C1").unwrap();
        assert!(p.take("C1").is_err());
    }

    #[test]
    fn retry_after_blocks_the_channel_then_allows_one_at_a_time() {
        let (p, clock) = pacer();
        p.block("C1", Duration::from_secs(30));
        assert_eq!(p.take("C1"), Err(Duration::from_secs(30)));
        assert_eq!(p.check_blocked("C1"), Err(Duration::from_secs(30)));
        clock.advance(chrono::Duration::seconds(30));
        p.take("C1").unwrap();
        assert_eq!(p.take("C1"), Err(Duration::from_secs(1)));
        p.check_blocked("C1").unwrap();
    }
}
