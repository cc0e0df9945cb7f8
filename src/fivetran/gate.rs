//! When syncwarden may call Fivetran. Every request asks the gate first, and tells it how the
//! call went. The gate holds three limits, all against the injectable clock:
//!
//! - **Retry-After.** After a 429 nothing is sent before the time Fivetran named.
//! - **Budget.** Fivetran reports `X-Rate-Limit-Remaining` for its rolling hour; when it runs
//!   low, calls are spaced so the rest lasts the hour.
//! - **Breaker.** After [`BREAKER_FAILURES`] 5xx answers or timeouts in a row Fivetran is taken
//!   to be down: nothing is sent for a cool-down, then one probe. The probe's success closes
//!   the breaker. Opening and closing are reported once each, for one Slack notice apiece.
//!
//! A refused call costs nothing and never reaches Fivetran; its caller waits (a rescheduled
//! job) or does without (an alert without connection details).

use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Consecutive failures (5xx, timeout, no connection) that open the breaker.
pub const BREAKER_FAILURES: u32 = 5;
/// First cool-down after opening; doubled after each failed probe up to the maximum.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);
pub const BREAKER_MAX_COOLDOWN: Duration = Duration::from_secs(300);
/// Below this many remaining requests in Fivetran's hour, calls are spaced out.
pub const LOW_REMAINING: u64 = 500;
/// A probe that has not reported after this long (its task was cancelled) no longer holds
/// the others back. Longer than any per-call timeout.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(180);
/// Fivetran's window for `X-Rate-Limit-Remaining`.
const BUDGET_WINDOW_SECS: u64 = 3600;
/// Longest spacing the budget imposes (at 0 remaining; a 429 then says more).
const MAX_PACE: Duration = Duration::from_secs(60);

/// Why a call was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Fivetran's `Retry-After` has not passed.
    RetryAfter,
    /// Few requests left in Fivetran's hour: spacing calls out.
    Budget { remaining: u64 },
    /// The breaker is open: Fivetran looks down.
    Down,
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::RetryAfter => write!(f, "waiting out Fivetran's Retry-After"),
            Hold::Budget { remaining } => write!(
                f,
                "only {remaining} Fivetran API requests left this hour; spacing calls"
            ),
            Hold::Down => write!(f, "Fivetran looks down (circuit breaker open)"),
        }
    }
}

/// How a sent call went, as far as the gate cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// An HTTP answer. `retry_after` for 429s, `remaining` from `X-Rate-Limit-Remaining`.
    Answered {
        status: u16,
        retry_after: Option<Duration>,
        remaining: Option<u64>,
    },
    /// Timed out or could not connect.
    Failed,
}

/// A change of the breaker, reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerChange {
    Opened { failures: u32, last_error: String },
    Closed { down_since: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Breaker {
    Closed,
    Open {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        cooldown: Duration,
    },
    /// Cool-down over: one probe is out; everyone else waits for its answer (or, should the
    /// probe never report, for [`PROBE_TIMEOUT`]).
    Probing {
        since: DateTime<Utc>,
        cooldown: Duration,
        started: DateTime<Utc>,
    },
}

#[derive(Debug)]
struct State {
    retry_after_until: Option<DateTime<Utc>>,
    /// Earliest next call while the budget is low.
    paced_until: Option<DateTime<Utc>>,
    remaining: Option<u64>,
    failures: u32,
    breaker: Breaker,
}

pub type BreakerHook = Arc<dyn Fn(BreakerChange) + Send + Sync>;

#[derive(Clone)]
pub struct Gate {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
    hook: Arc<Mutex<Option<BreakerHook>>>,
}

fn add(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn until(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}

impl Gate {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                retry_after_until: None,
                paced_until: None,
                remaining: None,
                failures: 0,
                breaker: Breaker::Closed,
            })),
            clock,
            hook: Arc::new(Mutex::new(None)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called with every breaker change (outside the gate's lock).
    pub fn on_breaker_change(&self, hook: BreakerHook) {
        *self.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// May a call go out now? `Err` says how long to wait and why. An admitted call must be
    /// followed by [`Gate::record`].
    pub fn admit(&self) -> Result<(), (Duration, Hold)> {
        let now = self.clock.now();
        let mut s = self.lock();
        match s.breaker {
            Breaker::Closed => {}
            Breaker::Open {
                since,
                until: open_until,
                cooldown,
            } => {
                if now < open_until {
                    return Err((until(now, open_until), Hold::Down));
                }
                // This caller is the probe; the Retry-After and budget still apply to it.
                s.breaker = Breaker::Probing {
                    since,
                    cooldown,
                    started: now,
                };
            }
            Breaker::Probing {
                since,
                cooldown,
                started,
            } => {
                let stale = add(started, PROBE_TIMEOUT);
                if now < stale {
                    return Err((Duration::from_secs(1), Hold::Down));
                }
                s.breaker = Breaker::Probing {
                    since,
                    cooldown,
                    started: now,
                };
            }
        }
        if let Some(t) = s.retry_after_until.filter(|t| now < *t) {
            self.undo_probe(&mut s);
            return Err((until(now, t), Hold::RetryAfter));
        }
        if let (Some(t), Some(remaining)) = (s.paced_until.filter(|t| now < *t), s.remaining) {
            self.undo_probe(&mut s);
            return Err((until(now, t), Hold::Budget { remaining }));
        }
        if let Some(pace) = s.remaining.and_then(pace_for) {
            s.paced_until = Some(add(now, pace));
        }
        Ok(())
    }

    fn undo_probe(&self, s: &mut State) {
        if let Breaker::Probing {
            since, cooldown, ..
        } = s.breaker
        {
            let now = self.clock.now();
            s.breaker = Breaker::Open {
                since,
                until: now,
                cooldown,
            };
        }
    }

    /// Records how an admitted call went.
    pub fn record(&self, sent: Sent, error: &str) {
        let now = self.clock.now();
        let change = {
            let mut s = self.lock();
            let failed = match sent {
                Sent::Failed => true,
                Sent::Answered {
                    status,
                    retry_after,
                    remaining,
                } => {
                    if let Some(r) = remaining {
                        s.remaining = Some(r);
                        // The next call waits its share of what is left, from this answer on.
                        // On a 429 Fivetran's Retry-After says exactly how long instead.
                        if let Some(pace) = pace_for(r).filter(|_| status != 429) {
                            let t = add(now, pace);
                            s.paced_until = Some(s.paced_until.map_or(t, |u| u.max(t)));
                        }
                    }
                    if status == 429 {
                        let wait = retry_after.unwrap_or(super::api::DEFAULT_RETRY_AFTER);
                        let t = add(now, wait);
                        // Concurrent answers: keep the latest deadline.
                        s.retry_after_until = Some(s.retry_after_until.map_or(t, |u| u.max(t)));
                    }
                    (500..=599).contains(&status)
                }
            };
            if failed {
                s.failures = s.failures.saturating_add(1);
                match s.breaker {
                    Breaker::Closed if s.failures >= BREAKER_FAILURES => {
                        s.breaker = Breaker::Open {
                            since: now,
                            until: add(now, BREAKER_COOLDOWN),
                            cooldown: BREAKER_COOLDOWN,
                        };
                        Some(BreakerChange::Opened {
                            failures: s.failures,
                            last_error: error.to_string(),
                        })
                    }
                    Breaker::Probing {
                        since, cooldown, ..
                    } => {
                        let cooldown = (cooldown * 2).min(BREAKER_MAX_COOLDOWN);
                        s.breaker = Breaker::Open {
                            since,
                            until: add(now, cooldown),
                            cooldown,
                        };
                        None
                    }
                    _ => None,
                }
            } else {
                s.failures = 0;
                match s.breaker {
                    Breaker::Closed => None,
                    Breaker::Open { since, .. } | Breaker::Probing { since, .. } => {
                        s.breaker = Breaker::Closed;
                        Some(BreakerChange::Closed { down_since: since })
                    }
                }
            }
        };
        if let Some(change) = change {
            tracing::warn!(?change, "Fivetran circuit breaker changed");
            let hook = self.hook.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(hook) = hook {
                hook(change);
            }
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.lock().breaker, Breaker::Closed)
    }
}

/// Spacing between calls for `remaining` requests left in the hour, if any is needed.
fn pace_for(remaining: u64) -> Option<Duration> {
    if remaining >= LOW_REMAINING {
        return None;
    }
    let secs = BUDGET_WINDOW_SECS as f64 / remaining.max(1) as f64;
    Some(Duration::from_secs_f64(secs).min(MAX_PACE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::TimeZone;

    fn gate() -> (Gate, ManualClock, Arc<Mutex<Vec<BreakerChange>>>) {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let g = Gate::new(Arc::new(clock.clone()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        g.on_breaker_change(Arc::new(move |c| s.lock().unwrap().push(c)));
        (g, clock, seen)
    }

    fn answered(status: u16) -> Sent {
        Sent::Answered {
            status,
            retry_after: None,
            remaining: None,
        }
    }

    #[test]
    fn retry_after_holds_every_call_until_it_passes() {
        let (g, clock, _) = gate();
        g.admit().unwrap();
        g.record(
            Sent::Answered {
                status: 429,
                retry_after: Some(Duration::from_secs(30)),
                remaining: Some(0),
            },
            "",
        );
        assert_eq!(g.admit(), Err((Duration::from_secs(30), Hold::RetryAfter)));
        clock.advance(chrono::Duration::seconds(29));
        assert_eq!(g.admit(), Err((Duration::from_secs(1), Hold::RetryAfter)));
        clock.advance(chrono::Duration::seconds(1));
        g.admit().unwrap();
    }

    #[test]
    fn a_low_budget_spaces_calls_out() {
        let (g, clock, _) = gate();
        g.admit().unwrap();
        g.record(
            Sent::Answered {
                status: 200,
                retry_after: None,
                remaining: Some(1000),
            },
            "",
        );
        g.admit().unwrap();
        g.admit().unwrap();
        g.record(
            Sent::Answered {
                status: 200,
                retry_after: None,
                remaining: Some(100),
            },
            "",
        );
        // 100 left in the hour: one call every 36 s.
        let (wait, why) = g.admit().unwrap_err();
        assert_eq!(wait, Duration::from_secs(36));
        clock.advance(chrono::Duration::seconds(36));
        g.admit().unwrap();
        let (wait, why2) = g.admit().unwrap_err();
        assert_eq!(why2, why);
        assert_eq!(why, Hold::Budget { remaining: 100 });
        assert_eq!(wait, Duration::from_secs(36));
        clock.advance(chrono::Duration::seconds(36));
        g.admit().unwrap();
        assert_eq!(pace_for(0), Some(MAX_PACE));
        assert_eq!(pace_for(LOW_REMAINING), None);
    }

    #[test]
    fn breaker_opens_once_probes_and_closes_once() {
        let (g, clock, seen) = gate();
        for _ in 0..BREAKER_FAILURES - 1 {
            g.admit().unwrap();
            g.record(answered(503), "503");
        }
        assert!(!g.is_open());
        // A 4xx in between means Fivetran answers: the count starts again.
        g.admit().unwrap();
        g.record(answered(404), "");
        for _ in 0..BREAKER_FAILURES {
            g.admit().unwrap();
            g.record(Sent::Failed, "timed out");
        }
        assert!(g.is_open());
        assert_eq!(g.admit(), Err((BREAKER_COOLDOWN, Hold::Down)));
        clock.advance(chrono::Duration::seconds(30));
        // One probe; the others wait for it. It fails: a longer cool-down, no second notice.
        g.admit().unwrap();
        assert_eq!(g.admit().unwrap_err().1, Hold::Down);
        g.record(answered(500), "500");
        assert_eq!(g.admit(), Err((Duration::from_secs(60), Hold::Down)));
        clock.advance(chrono::Duration::seconds(60));
        g.admit().unwrap();
        g.record(answered(200), "");
        assert!(!g.is_open());
        g.admit().unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            matches!(&seen[0], BreakerChange::Opened { failures: 5, last_error } if last_error == "timed out")
        );
        assert!(matches!(seen[1], BreakerChange::Closed { .. }));
    }

    #[test]
    fn a_probe_held_by_retry_after_does_not_wedge_the_breaker() {
        let (g, clock, _) = gate();
        g.admit().unwrap();
        g.record(
            Sent::Answered {
                status: 429,
                retry_after: Some(Duration::from_secs(100)),
                remaining: None,
            },
            "",
        );
        for _ in 0..BREAKER_FAILURES {
            // Failures recorded by calls admitted before the 429 arrived.
            g.record(Sent::Failed, "x");
        }
        clock.advance(chrono::Duration::seconds(30));
        assert_eq!(g.admit().unwrap_err().1, Hold::RetryAfter);
        clock.advance(chrono::Duration::seconds(70));
        g.admit().unwrap();
        g.record(answered(200), "");
        assert!(!g.is_open());
    }
}
