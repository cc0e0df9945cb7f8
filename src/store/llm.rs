//! LLM answer cache (by failure signature, with a TTL) and daily token accounting.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    stored_at: DateTime<Utc>,
    answer: serde_json::Value,
}

impl Store {
    fn llm_cache(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("llm_cache")?)
    }

    fn llm_usage(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("llm_usage")?)
    }

    /// A cached answer younger than `ttl`.
    pub fn llm_cached(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let Some(bytes) = self.llm_cache()?.get(key.as_bytes())? else {
            return Ok(None);
        };
        let cached: Cached =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Codec(e.to_string()))?;
        let age = (now - cached.stored_at).to_std().unwrap_or_default();
        Ok((age < ttl).then_some(cached.answer))
    }

    pub fn llm_cache_put(
        &self,
        key: &str,
        now: DateTime<Utc>,
        answer: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&Cached {
            stored_at: now,
            answer: answer.clone(),
        })
        .map_err(|e| StoreError::Codec(e.to_string()))?;
        self.llm_cache()?.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// Tokens spent on `day` (UTC, `YYYY-MM-DD`) and calls made.
    pub fn llm_usage_on(&self, day: &str) -> Result<(u64, u64), StoreError> {
        let tree = self.llm_usage()?;
        let read = |k: String| -> Result<u64, StoreError> {
            Ok(tree
                .get(k.as_bytes())?
                .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0))
        };
        Ok((
            read(format!("tokens:{day}"))?,
            read(format!("calls:{day}"))?,
        ))
    }

    pub fn llm_record_usage(&self, day: &str, tokens: u64) -> Result<(), StoreError> {
        let tree = self.llm_usage()?;
        for (key, add) in [
            (format!("tokens:{day}"), tokens),
            (format!("calls:{day}"), 1),
        ] {
            tree.fetch_and_update(key.as_bytes(), |old| {
                let current = old
                    .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
                    .unwrap_or(0);
                Some(current.saturating_add(add).to_be_bytes().to_vec())
            })?;
        }
        Ok(())
    }
}
