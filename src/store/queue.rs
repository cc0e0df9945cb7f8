//! Claiming jobs and burying the ones that failed for good.
//!
//! A worker claims a due job by moving it to the end of a lease (`claimed`, `due_at` = lease
//! end) in one transaction, so no other worker takes it. The handler then finishes it with
//! the claimed copy. sled allows one process per directory, so any claim found when the store
//! is opened belongs to a process that died: [`Store::release_claims`] makes those jobs due at
//! once. Dead jobs move to the `dead_jobs` tree, where an operator can retry or drop them.

use super::jobs::{due_upper_bound, job_key, DeadJob, Job};
use super::{decode, decode_plain, encode, Store, StoreError, Tx, TxResult};
use chrono::{DateTime, Utc};

impl Tx<'_> {
    /// Moves a job that failed for good to the dead-letter tree.
    pub fn bury_job(&self, job: &Job, error: &str) -> TxResult<()> {
        self.jobs.remove(&job_key(job.due_at, job.id))?;
        let mut job = job.clone();
        job.claimed = false;
        let dead = DeadJob {
            job,
            died_at: self.now,
            error: error.to_string(),
        };
        self.dead_jobs
            .insert(&dead.job.id.to_be_bytes(), encode(&dead)?)?;
        Ok(())
    }

    /// Puts a dead job back in the queue, due now, with a fresh attempt count.
    pub fn revive_job(&self, id: u64) -> TxResult<Option<Job>> {
        let Some(bytes) = self.dead_jobs.remove(&id.to_be_bytes())? else {
            return Ok(None);
        };
        let dead: DeadJob = decode(&bytes)?;
        let mut job = dead.job;
        job.due_at = self.now;
        job.attempts = 0;
        job.throttled = 0;
        job.claimed = false;
        self.jobs
            .insert(&job_key(job.due_at, job.id), encode(&job)?)?;
        Ok(Some(job))
    }

    /// Forgets a dead job.
    pub fn drop_dead_job(&self, id: u64) -> TxResult<Option<DeadJob>> {
        match self.dead_jobs.remove(&id.to_be_bytes())? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Raw `meta` access for small markers kept with other state.
    pub fn meta_get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.meta.insert(key, value)?;
        Ok(())
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    pub due: usize,
    pub later: usize,
    pub dead: usize,
}

impl Store {
    /// Claims the earliest due job that `take` accepts, for `lease`. `None` if there is none.
    pub fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        take: impl Fn(&Job) -> bool,
    ) -> Result<Option<Job>, StoreError> {
        let lease_end = now + chrono::Duration::from_std(lease).unwrap_or_default();
        for item in self.jobs.range(..=due_upper_bound(now).to_vec()) {
            let (_, v) = item?;
            let candidate: Job = decode_plain(&v)?;
            if !take(&candidate) {
                continue;
            }
            let claimed = self.transact(now, |tx| {
                let key = job_key(candidate.due_at, candidate.id);
                // Gone or changed since the scan: another worker has it.
                if tx.jobs.get(key)?.is_none() {
                    return Ok(None);
                }
                tx.jobs.remove(&key)?;
                let mut job = candidate.clone();
                job.claimed = true;
                job.due_at = lease_end;
                tx.jobs
                    .insert(&job_key(job.due_at, job.id), encode(&job)?)?;
                Ok(Some(job))
            })?;
            if claimed.is_some() {
                return Ok(claimed);
            }
        }
        Ok(None)
    }

    /// Makes every claimed job due now: run once when the store is opened by `serve`, when no
    /// worker of this process can hold a claim yet. Returns how many were released.
    pub fn release_claims(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let claimed: Vec<Job> = self.jobs()?.into_iter().filter(|j| j.claimed).collect();
        for job in &claimed {
            self.transact(now, |tx| {
                if tx.jobs.remove(&job_key(job.due_at, job.id))?.is_some() {
                    let mut free = job.clone();
                    free.claimed = false;
                    free.due_at = now;
                    tx.jobs
                        .insert(&job_key(free.due_at, free.id), encode(&free)?)?;
                }
                Ok(())
            })?;
        }
        Ok(claimed.len())
    }

    /// Jobs in the queue, split at `now`: those due (or running) and those scheduled for later
    /// (proposal expiry, snooze ends, a transient failure's grace, backoff). A queue whose
    /// work is done still holds the later ones.
    pub fn job_counts(&self, now: DateTime<Utc>) -> Result<JobCounts, StoreError> {
        let bound = due_upper_bound(now).to_vec();
        let mut counts = JobCounts::default();
        for item in self.jobs.iter() {
            let (key, v) = item?;
            if key.as_ref() <= bound.as_slice() || decode_plain::<Job>(&v)?.claimed {
                counts.due += 1;
            } else {
                counts.later += 1;
            }
        }
        counts.dead = self.dead_jobs.len();
        Ok(counts)
    }

    pub fn dead_jobs(&self) -> Result<Vec<DeadJob>, StoreError> {
        self.dead_jobs
            .iter()
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jobs::JobKind;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    fn notify(id: &str) -> JobKind {
        JobKind::Notify {
            incident_id: id.into(),
        }
    }

    #[test]
    fn a_claimed_job_is_not_claimed_twice_and_comes_back_after_its_lease() {
        let (_d, s) = store();
        let now = Utc::now();
        s.transact(now, |tx| tx.enqueue_now(notify("a"))).unwrap();
        let lease = std::time::Duration::from_secs(60);
        let job = s.claim_due(now, lease, |_| true).unwrap().unwrap();
        assert!(job.claimed);
        assert!(s.claim_due(now, lease, |_| true).unwrap().is_none());
        // A claim that outlives its lease is due again (the holder died).
        let later = now + chrono::Duration::seconds(61);
        let again = s.claim_due(later, lease, |_| true).unwrap().unwrap();
        assert_eq!(again.id, job.id);
        assert!(s.transact(later, |tx| tx.complete_job(&again)).unwrap());
        assert!(s.jobs().unwrap().is_empty());
    }

    #[test]
    fn claims_left_by_a_dead_process_are_released_on_start() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let s = Store::open(dir.path()).unwrap();
            s.transact(now, |tx| tx.enqueue_now(notify("a"))).unwrap();
            s.claim_due(now, std::time::Duration::from_secs(600), |_| true)
                .unwrap()
                .unwrap();
            s.flush_blocking().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert!(s.due_jobs(now, 10).unwrap().is_empty(), "held by the lease");
        assert_eq!(s.release_claims(now).unwrap(), 1);
        let due = s.due_jobs(now, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert!(!due[0].claimed);
    }

    #[test]
    fn skipped_candidates_are_left_for_later() {
        let (_d, s) = store();
        let now = Utc::now();
        s.transact(now, |tx| {
            tx.enqueue_now(notify("busy"))?;
            tx.enqueue_now(notify("free"))
        })
        .unwrap();
        let lease = std::time::Duration::from_secs(60);
        let job = s
            .claim_due(now, lease, |j| {
                j.kind.subject().as_deref() != Some("message:busy")
            })
            .unwrap()
            .unwrap();
        assert_eq!(job.kind, notify("free"));
    }

    #[test]
    fn dead_jobs_can_be_revived_or_dropped() {
        let (_d, s) = store();
        let now = Utc::now();
        s.transact(now, |tx| {
            tx.enqueue_now(notify("a"))?;
            tx.enqueue_now(notify("b"))
        })
        .unwrap();
        for job in s.due_jobs(now, 10).unwrap() {
            s.transact(now, |tx| tx.bury_job(&job, "Slack said channel_not_found"))
                .unwrap();
        }
        assert!(s.jobs().unwrap().is_empty());
        let dead = s.dead_jobs().unwrap();
        assert_eq!(dead.len(), 2);
        assert_eq!(dead[0].error, "Slack said channel_not_found");
        let revived = s
            .transact(now, |tx| tx.revive_job(dead[0].job.id))
            .unwrap()
            .unwrap();
        assert_eq!(revived.attempts, 0);
        assert_eq!(s.due_jobs(now, 10).unwrap().len(), 1);
        assert!(s
            .transact(now, |tx| tx.drop_dead_job(dead[1].job.id))
            .unwrap()
            .is_some());
        assert!(s.dead_jobs().unwrap().is_empty());
        assert!(s
            .transact(now, |tx| tx.revive_job(12345))
            .unwrap()
            .is_none());
    }
}
