//! The last full listing of connections with their statuses, kept in memory so a repeated
//! `/fivetran health` within [`FRESH_FOR`] is answered at once, inside the slash command's
//! own HTTP answer, without listing the whole account from Fivetran again (5 pages for 5,000
//! connectors). The answer says when Fivetran listed it; failure counts come from the store
//! and are always current.

use crate::fivetran::model::Connection;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// How old a listing may be and still answer `/fivetran health`.
pub const FRESH_FOR: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Clone)]
pub struct Listing {
    pub fetched_at: DateTime<Utc>,
    pub connections: Arc<Vec<Connection>>,
}

#[derive(Default)]
pub struct ListingCache(Mutex<Option<Listing>>);

impl ListingCache {
    /// The last listing, if it was fetched less than [`FRESH_FOR`] before `now` (and not
    /// after it: a clock that went back does not make an old listing new).
    pub fn fresh(&self, now: DateTime<Utc>) -> Option<Listing> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|l| l.fetched_at <= now && now - l.fetched_at < FRESH_FOR)
            .cloned()
    }

    /// The last listing whatever its age (not one from after `now`): what `/fivetran health`
    /// shows, saying so, when Fivetran cannot be asked for a new one.
    pub fn latest(&self, now: DateTime<Utc>) -> Option<Listing> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref().filter(|l| l.fetched_at <= now).cloned()
    }

    pub fn put(&self, fetched_at: DateTime<Utc>, connections: Vec<Connection>) -> Listing {
        let listing = Listing {
            fetched_at,
            connections: Arc::new(connections),
        };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(listing.clone());
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_answers_for_a_minute_and_not_from_the_future() {
        let cache = ListingCache::default();
        let t0 = Utc::now();
        assert!(cache.fresh(t0).is_none());
        cache.put(t0, Vec::new());
        assert!(cache.fresh(t0 + chrono::Duration::seconds(59)).is_some());
        assert!(cache.fresh(t0 + FRESH_FOR).is_none());
        assert!(cache.fresh(t0 - chrono::Duration::seconds(1)).is_none());
        assert!(cache.latest(t0 + chrono::Duration::hours(5)).is_some());
        assert!(cache.latest(t0 - chrono::Duration::seconds(1)).is_none());
    }
}
