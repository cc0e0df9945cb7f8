//! Run-time policy state, in the `governance` tree and only ever changed inside
//! [`super::Store::transact`] (so each change lands with its audit record):
//! - `mode/<connector>`: a `/fivetran mode` override (wins over the configuration);
//! - `auto/<connector>/<YYYY-MM-DD>`: automatic fixes run that UTC day (the budget);
//! - `breaker/<connector>`: failed syncs since auto mode last acted, and whether that tripped
//!   the breaker.

use super::{decode, decode_plain, encode, Store, StoreError, Tx, TxResult};
use crate::remediation::policy::ModeOverride;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The auto-mode breaker for one connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breaker {
    /// An automatic fix ran and no sync has succeeded since.
    pub armed: bool,
    /// Failed syncs since then.
    pub failures: u32,
    /// When the failures reached `policy.auto.breaker_failures`; no automatic fixes since.
    pub tripped_at: Option<DateTime<Utc>>,
}

fn mode_key(connector: &str) -> Vec<u8> {
    format!("mode/{connector}").into_bytes()
}

fn auto_key(connector: &str, day: NaiveDate) -> Vec<u8> {
    format!("auto/{connector}/{}", day.format("%Y-%m-%d")).into_bytes()
}

fn breaker_key(connector: &str) -> Vec<u8> {
    format!("breaker/{connector}").into_bytes()
}

impl Tx<'_> {
    pub fn mode_override(&self, connector: &str) -> TxResult<Option<ModeOverride>> {
        match self.governance.get(mode_key(connector))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Sets (or with `None` clears) a connector's mode override.
    pub fn set_mode_override(&self, connector: &str, value: Option<&ModeOverride>) -> TxResult<()> {
        match value {
            Some(o) => {
                self.governance.insert(mode_key(connector), encode(o)?)?;
            }
            None => {
                self.governance.remove(mode_key(connector))?;
            }
        }
        Ok(())
    }

    /// Automatic fixes already run on `connector` on `day` (UTC).
    pub fn auto_runs(&self, connector: &str, day: NaiveDate) -> TxResult<u32> {
        Ok(match self.governance.get(auto_key(connector, day))? {
            Some(v) => v.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0),
            None => 0,
        })
    }

    /// Counts one more automatic fix; returns the new count for the day.
    pub fn count_auto_run(&self, connector: &str, day: NaiveDate) -> TxResult<u32> {
        let n = self.auto_runs(connector, day)?.saturating_add(1);
        self.governance
            .insert(auto_key(connector, day), &n.to_be_bytes())?;
        Ok(n)
    }

    pub fn breaker(&self, connector: &str) -> TxResult<Breaker> {
        match self.governance.get(breaker_key(connector))? {
            Some(v) => decode(&v),
            None => Ok(Breaker::default()),
        }
    }

    pub fn put_breaker(&self, connector: &str, b: &Breaker) -> TxResult<()> {
        if *b == Breaker::default() {
            self.governance.remove(breaker_key(connector))?;
        } else {
            self.governance.insert(breaker_key(connector), encode(b)?)?;
        }
        Ok(())
    }
}

impl Store {
    /// A connector's `/fivetran mode` override, outside a transaction (for display).
    pub fn mode_override(&self, connector: &str) -> Result<Option<ModeOverride>, StoreError> {
        self.governance
            .get(mode_key(connector))?
            .map(|v| decode_plain(&v))
            .transpose()
    }

    pub fn breaker(&self, connector: &str) -> Result<Breaker, StoreError> {
        Ok(self
            .governance
            .get(breaker_key(connector))?
            .map(|v| decode_plain(&v))
            .transpose()?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remediation::policy::Mode;

    #[test]
    fn overrides_budgets_and_breakers_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let day = now.date_naive();
        {
            let s = Store::open(dir.path()).unwrap();
            s.transact(now, |tx| {
                tx.set_mode_override(
                    "c1",
                    Some(&ModeOverride {
                        mode: Mode::Auto,
                        set_by: "U1".into(),
                        set_at: now,
                    }),
                )?;
                assert_eq!(tx.count_auto_run("c1", day)?, 1);
                assert_eq!(tx.count_auto_run("c1", day)?, 2);
                tx.put_breaker(
                    "c1",
                    &Breaker {
                        armed: true,
                        failures: 2,
                        tripped_at: None,
                    },
                )
            })
            .unwrap();
            s.flush_blocking().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.mode_override("c1").unwrap().unwrap().mode, Mode::Auto);
        assert_eq!(s.breaker("c1").unwrap().failures, 2);
        s.transact(now, |tx| {
            assert_eq!(tx.auto_runs("c1", day)?, 2);
            assert_eq!(tx.auto_runs("c1", day.succ_opt().unwrap())?, 0);
            assert_eq!(tx.auto_runs("c2", day)?, 0);
            tx.set_mode_override("c1", None)?;
            tx.put_breaker("c1", &Breaker::default())
        })
        .unwrap();
        assert!(s.mode_override("c1").unwrap().is_none());
        assert_eq!(s.breaker("c1").unwrap(), Breaker::default());
    }
}
