//! Connector health: a score from the live connection status plus recent failure history, so
//! `/fivetran health` can rank the worst first. Pure functions; callers fetch the inputs.

use crate::fivetran::model::Connection;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Healthy,
    Paused,
    Warning,
    Failing,
}

impl Level {
    pub fn emoji(&self) -> &'static str {
        match self {
            Level::Failing => ":red_circle:",
            Level::Warning => ":large_yellow_circle:",
            Level::Paused => ":white_circle:",
            Level::Healthy => ":large_green_circle:",
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Level::Failing => "failing",
            Level::Warning => "warning",
            Level::Paused => "paused",
            Level::Healthy => "healthy",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub connection: Connection,
    /// Failures we were told about (incidents opened) in the last 7 days.
    pub failures_7d: usize,
    pub level: Level,
    /// Higher is worse.
    pub score: u32,
    pub reasons: Vec<String>,
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn eq(v: Option<&str>, want: &str) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case(want))
}

pub fn assess(c: &Connection, failures_7d: usize, now: DateTime<Utc>) -> Health {
    let mut score = 0u32;
    let mut reasons = Vec::new();
    let mut level = Level::Healthy;
    let s = &c.status;
    let paused = c.paused.unwrap_or(false);
    let succeeded = parse_time(c.succeeded_at.as_deref());
    let failed = parse_time(c.failed_at.as_deref());
    let last_failed = match (failed, succeeded) {
        (Some(f), Some(ok)) => f > ok,
        (Some(_), None) => true,
        _ => false,
    };

    if eq(s.setup_state.as_deref(), "broken") {
        score += 100;
        level = Level::Failing;
        reasons.push("setup broken".into());
    } else if eq(s.setup_state.as_deref(), "incomplete") {
        score += 40;
        level = level.max(Level::Warning);
        reasons.push("setup incomplete".into());
    }
    if last_failed {
        score += 60;
        level = Level::Failing;
        reasons.push("last sync failed".into());
    }
    if !s.tasks.is_empty() {
        score += 20 * s.tasks.len().min(5) as u32;
        level = level.max(Level::Warning);
        reasons.push(format!("{} open task(s)", s.tasks.len()));
    }
    if !s.warnings.is_empty() {
        score += 5 * s.warnings.len().min(10) as u32;
        level = level.max(Level::Warning);
        reasons.push(format!("{} warning(s)", s.warnings.len()));
    }
    if eq(s.update_state.as_deref(), "delayed") && !paused {
        score += 15;
        level = level.max(Level::Warning);
        reasons.push("data delayed".into());
    }
    if failures_7d > 0 {
        score += 10 * failures_7d.min(10) as u32;
        level = level.max(Level::Warning);
        reasons.push(format!("{failures_7d} failure(s) in 7 days"));
    }
    if let (Some(ok), Some(freq), false) = (succeeded, c.sync_frequency, paused) {
        // More than three scheduled intervals (and a day at least) without a success.
        let overdue = chrono::Duration::minutes(i64::from(freq) * 3).max(chrono::Duration::days(1));
        if now - ok > overdue {
            score += 10;
            level = level.max(Level::Warning);
            reasons.push("no success for a while".into());
        }
    }
    if paused {
        score += 5;
        if level == Level::Healthy {
            level = Level::Paused;
        }
        reasons.push("paused".into());
    }
    Health {
        connection: c.clone(),
        failures_7d,
        level,
        score,
        reasons,
    }
}

fn display_name(c: &Connection) -> &str {
    c.schema.as_deref().unwrap_or(&c.id)
}

fn worst_first(a: &Health, b: &Health) -> std::cmp::Ordering {
    b.level
        .cmp(&a.level)
        .then(b.score.cmp(&a.score))
        // Borrowed: a sort over thousands of connectors compares names tens of thousands of
        // times.
        .then_with(|| display_name(&a.connection).cmp(display_name(&b.connection)))
}

/// Worst first; ties by name so the order is stable.
pub fn rank(items: Vec<Health>) -> Vec<Health> {
    // Sorts positions, then moves each item once: a `Health` carries its whole connection,
    // and sorting the items themselves spent most of its time moving them.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| worst_first(&items[a], &items[b]));
    let mut slots: Vec<Option<Health>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub total: usize,
    pub failing: usize,
    pub warning: usize,
    pub paused: usize,
    pub healthy: usize,
}

pub fn totals(items: &[Health]) -> Totals {
    let mut t = Totals {
        total: items.len(),
        ..Totals::default()
    };
    for h in items {
        match h.level {
            Level::Failing => t.failing += 1,
            Level::Warning => t.warning += 1,
            Level::Paused => t.paused += 1,
            Level::Healthy => t.healthy += 1,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fivetran::model::{ConnectionStatus, StatusNotice};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn healthy(id: &str) -> Connection {
        Connection {
            id: id.into(),
            schema: Some(id.into()),
            paused: Some(false),
            sync_frequency: Some(60),
            succeeded_at: Some("2026-11-25T09:30:00Z".into()),
            failed_at: Some("2026-11-01T09:30:00Z".into()),
            status: ConnectionStatus {
                setup_state: Some("connected".into()),
                sync_state: Some("scheduled".into()),
                update_state: Some("on_schedule".into()),
                ..ConnectionStatus::default()
            },
            ..Connection::default()
        }
    }

    #[test]
    fn levels() {
        assert_eq!(assess(&healthy("a"), 0, now()).level, Level::Healthy);
        let mut failed = healthy("b");
        failed.failed_at = Some("2026-11-25T09:45:00Z".into());
        assert_eq!(assess(&failed, 0, now()).level, Level::Failing);
        let mut broken = healthy("c");
        broken.status.setup_state = Some("broken".into());
        let h = assess(&broken, 0, now());
        assert_eq!(h.level, Level::Failing);
        assert_eq!(h.reasons, vec!["setup broken"]);
        let mut warned = healthy("d");
        warned.status.warnings.push(StatusNotice::default());
        assert_eq!(assess(&warned, 0, now()).level, Level::Warning);
        let mut paused = healthy("e");
        paused.paused = Some(true);
        assert_eq!(assess(&paused, 0, now()).level, Level::Paused);
        assert_eq!(assess(&healthy("f"), 2, now()).level, Level::Warning);
        let mut stale = healthy("g");
        stale.succeeded_at = Some("2026-11-20T09:30:00Z".into());
        stale.failed_at = None;
        assert_eq!(
            assess(&stale, 0, now()).reasons,
            vec!["no success for a while"]
        );
    }

    #[test]
    fn ranking_puts_the_worst_first() {
        let mut broken = healthy("zz_broken");
        broken.status.setup_state = Some("broken".into());
        broken.status.tasks.push(StatusNotice::default());
        let mut failed = healthy("b_failed");
        failed.failed_at = Some("2026-11-25T09:45:00Z".into());
        let items = vec![
            assess(&healthy("a"), 0, now()),
            assess(&failed, 0, now()),
            assess(&broken, 0, now()),
            assess(&healthy("c"), 1, now()),
        ];
        let ranked: Vec<String> = rank(items.clone())
            .into_iter()
            .map(|h| h.connection.id)
            .collect();
        assert_eq!(ranked, vec!["zz_broken", "b_failed", "c", "a"]);
        assert_eq!(
            totals(&items),
            Totals {
                total: 4,
                failing: 2,
                warning: 1,
                paused: 0,
                healthy: 1
            }
        );
    }
}
