//! Alert-lifecycle state in the `alerting` tree: which incident is open for a connector,
//! snoozes, storms and the recent-failure windows storms are detected from.
//!
//! Keys are `<kind>\0<id...>`. Everything changes only inside [`super::Store::transact`], so
//! the lifecycle moves together with the incident, the audit record and the follow-up job.

use super::{decode, decode_plain, encode, Store, StoreError, Tx, TxResult};
use crate::incidents::snooze::Snooze;
use crate::incidents::storm::{Storm, WindowEntry};

const OPEN: &str = "open";
const SNOOZE: &str = "snooze";
const STORM: &str = "storm";
const ACTIVE_STORM: &str = "active_storm";
const WINDOW: &str = "window";
const SHOWN: &str = "shown";

fn key(kind: &str, parts: &[&str]) -> Vec<u8> {
    let mut k = kind.as_bytes().to_vec();
    for p in parts {
        k.push(0);
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// What is known about a connector's current failure streak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streak {
    /// A failure was received and is waiting to be diagnosed.
    Pending,
    /// This incident is open.
    Open(String),
}

impl Tx<'_> {
    pub fn streak(&self, connector_id: &str) -> TxResult<Option<Streak>> {
        Ok(self.alerting.get(key(OPEN, &[connector_id]))?.map(|v| {
            match String::from_utf8_lossy(&v).into_owned() {
                s if s.is_empty() => Streak::Pending,
                s => Streak::Open(s),
            }
        }))
    }

    /// Marks a failure as received for `connector_id` unless a streak is already known, so a
    /// success that arrives before the failure is diagnosed still closes the streak.
    pub fn mark_failing(&self, connector_id: &str) -> TxResult<()> {
        let k = key(OPEN, &[connector_id]);
        if self.alerting.get(&k)?.is_none() {
            self.alerting.insert(k, b"".to_vec())?;
        }
        Ok(())
    }

    pub fn set_open_incident(&self, connector_id: &str, incident_id: &str) -> TxResult<()> {
        self.alerting
            .insert(key(OPEN, &[connector_id]), incident_id.as_bytes())?;
        Ok(())
    }

    pub fn clear_streak(&self, connector_id: &str) -> TxResult<()> {
        self.alerting.remove(key(OPEN, &[connector_id]))?;
        Ok(())
    }

    pub fn snooze(&self, connector_id: &str) -> TxResult<Option<Snooze>> {
        match self.alerting.get(key(SNOOZE, &[connector_id]))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    pub fn put_snooze(&self, s: &Snooze) -> TxResult<()> {
        self.alerting
            .insert(key(SNOOZE, &[&s.connector_id]), encode(s)?)?;
        Ok(())
    }

    pub fn remove_snooze(&self, connector_id: &str) -> TxResult<Option<Snooze>> {
        match self.alerting.remove(key(SNOOZE, &[connector_id]))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    pub fn storm(&self, id: &str) -> TxResult<Option<Storm>> {
        match self.alerting.get(key(STORM, &[id]))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    pub fn put_storm(&self, s: &Storm) -> TxResult<()> {
        self.alerting.insert(key(STORM, &[&s.id]), encode(s)?)?;
        self.alerting.insert(
            key(ACTIVE_STORM, &[&s.group_id, s.category.as_str()]),
            s.id.as_bytes(),
        )?;
        Ok(())
    }

    /// The most recent storm for a group and category (it may have gone quiet).
    pub fn latest_storm(&self, group_id: &str, category: &str) -> TxResult<Option<Storm>> {
        match self
            .alerting
            .get(key(ACTIVE_STORM, &[group_id, category]))?
        {
            Some(id) => self.storm(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn failure_window(&self, group_id: &str, category: &str) -> TxResult<Vec<WindowEntry>> {
        match self.alerting.get(key(WINDOW, &[group_id, category]))? {
            Some(v) => decode(&v),
            None => Ok(Vec::new()),
        }
    }

    pub fn put_failure_window(
        &self,
        group_id: &str,
        category: &str,
        entries: &[WindowEntry],
    ) -> TxResult<()> {
        self.alerting
            .insert(key(WINDOW, &[group_id, category]), encode(&entries)?)?;
        Ok(())
    }

    /// Records what an incident's messages were last updated to show (a fingerprint).
    pub fn set_shown(&self, incident_id: &str, fingerprint: &str) -> TxResult<()> {
        self.alerting
            .insert(key(SHOWN, &[incident_id]), fingerprint.as_bytes())?;
        Ok(())
    }
}

impl Store {
    /// The open incident of a connector, if any.
    pub fn open_incident_id(&self, connector_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .alerting
            .get(key(OPEN, &[connector_id]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .filter(|s| !s.is_empty()))
    }

    pub fn snooze(&self, connector_id: &str) -> Result<Option<Snooze>, StoreError> {
        self.alerting
            .get(key(SNOOZE, &[connector_id]))?
            .map(|v| decode_plain(&v))
            .transpose()
    }

    pub fn snoozes(&self) -> Result<Vec<Snooze>, StoreError> {
        self.alerting
            .scan_prefix(key(SNOOZE, &[""]))
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }

    /// The fingerprint [`Tx::set_shown`] last recorded for an incident.
    pub fn shown(&self, incident_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .alerting
            .get(key(SHOWN, &[incident_id]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn storm(&self, id: &str) -> Result<Option<Storm>, StoreError> {
        self.alerting
            .get(key(STORM, &[id]))?
            .map(|v| decode_plain(&v))
            .transpose()
    }

    pub fn storms(&self) -> Result<Vec<Storm>, StoreError> {
        self.alerting
            .scan_prefix(key(STORM, &[""]))
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }
}
