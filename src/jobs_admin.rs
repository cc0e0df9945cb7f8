//! Operator commands for the durable job queue (`syncwarden jobs ...`): list what is queued or
//! dead, re-queue dead jobs, drop them. They work on the data directory directly, with the
//! service stopped, and every change is audited with the operator as the actor.

use crate::store::audit::AuditEntry;
use crate::store::jobs::{DeadJob, Job};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::io::Write;

/// Who ran the command, for the audit log: `cli:<login>`.
pub fn operator() -> String {
    let login = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{}", crate::slack::blocks::clip(&login, 64))
}

fn job_line(j: &Job) -> String {
    format!(
        "{:>8}  {} {}  {:<16} attempts {:<2} waits {:<3} {}",
        j.id,
        if j.claimed { "claimed until" } else { "due" },
        j.due_at.format("%Y-%m-%d %H:%M:%S"),
        j.kind.name(),
        j.attempts,
        j.throttled,
        j.last_error.as_deref().unwrap_or("")
    )
}

fn dead_line(d: &DeadJob) -> String {
    format!(
        "{:>8}  died {}  {:<16} attempts {:<2} {}",
        d.job.id,
        d.died_at.format("%Y-%m-%d %H:%M:%S"),
        d.job.kind.name(),
        d.job.attempts + 1,
        d.error
    )
}

pub fn list(store: &Store, dead: bool, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if dead {
        for d in store.dead_jobs()? {
            if json {
                writeln!(out, "{}", serde_json::to_string(&d)?)?;
            } else {
                writeln!(out, "{}", dead_line(&d))?;
            }
        }
    } else {
        for j in store.jobs()? {
            if json {
                writeln!(out, "{}", serde_json::to_string(&j)?)?;
            } else {
                writeln!(out, "{}", job_line(&j))?;
            }
        }
    }
    Ok(())
}

/// Which dead jobs a retry or drop is about.
pub enum Selection {
    Ids(Vec<u64>),
    AllDead,
}

fn selected(store: &Store, which: &Selection) -> anyhow::Result<Vec<u64>> {
    Ok(match which {
        Selection::Ids(ids) => ids.clone(),
        Selection::AllDead => store.dead_jobs()?.iter().map(|d| d.job.id).collect(),
    })
}

/// Applies `change` to each selected dead job in its own transaction (audited as `kind`).
/// Returns (changed, not dead jobs).
fn for_each_dead(
    store: &Store,
    which: &Selection,
    now: DateTime<Utc>,
    change: impl Fn(&crate::store::Tx<'_>, u64) -> crate::store::TxResult<bool>,
) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    let mut done = Vec::new();
    let mut unknown = Vec::new();
    for id in selected(store, which)? {
        if store.transact(now, |tx| change(tx, id))? {
            done.push(id);
        } else {
            unknown.push(id);
        }
    }
    store.flush_blocking()?;
    Ok((done, unknown))
}

/// Puts dead jobs back in the queue, due now, with a fresh attempt count.
pub fn retry(
    store: &Store,
    which: &Selection,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    for_each_dead(store, which, now, |tx, id| {
        let Some(job) = tx.revive_job(id)? else {
            return Ok(false);
        };
        tx.audit(
            AuditEntry::by("job_retried", actor).detail(serde_json::json!({
                "job_id": id,
                "job": job.kind,
            })),
        )?;
        Ok(true)
    })
}

/// Forgets dead jobs.
pub fn drop(
    store: &Store,
    which: &Selection,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    for_each_dead(store, which, now, |tx, id| {
        let Some(dead) = tx.drop_dead_job(id)? else {
            return Ok(false);
        };
        tx.audit(
            AuditEntry::by("job_dropped", actor).detail(serde_json::json!({
                "job_id": id,
                "job": dead.job.kind,
                "error": dead.error,
            })),
        )?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jobs::JobKind;

    #[test]
    fn retry_and_drop_work_on_dead_jobs_only_and_are_audited() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        s.transact(now, |tx| {
            for i in 0..3 {
                tx.enqueue_now(JobKind::Notify {
                    incident_id: format!("inc_{i}"),
                })?;
            }
            Ok(())
        })
        .unwrap();
        let jobs = s.due_jobs(now, 10).unwrap();
        for j in &jobs[..2] {
            s.transact(now, |tx| tx.bury_job(j, "invalid_auth"))
                .unwrap();
        }
        let mut out = Vec::new();
        list(&s, true, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("invalid_auth"));

        let live = jobs[2].id;
        let (done, unknown) =
            retry(&s, &Selection::Ids(vec![jobs[0].id, live]), "cli:ops", now).unwrap();
        assert_eq!(done, vec![jobs[0].id]);
        assert_eq!(unknown, vec![live], "a queued job is not a dead one");
        assert_eq!(s.jobs().unwrap().len(), 2);
        let (dropped, _) = drop(&s, &Selection::AllDead, "cli:ops", now).unwrap();
        assert_eq!(dropped, vec![jobs[1].id]);
        assert!(s.dead_jobs().unwrap().is_empty());
        let kinds: Vec<String> = s
            .audit_records()
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {}", r.entry.kind, r.entry.actor))
            .collect();
        assert_eq!(kinds, ["job_retried cli:ops", "job_dropped cli:ops"]);
    }
}
