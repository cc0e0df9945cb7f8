//! The connector directory: every connection from `GET /v1/connections` (paginated with
//! `cursor`), cached in the store so names resolve without asking Fivetran each time.

use crate::app::AppState;
use crate::fivetran::api::ApiError;
use crate::fivetran::model::{Connection, Envelope};
use crate::slack::command::did_you_mean;
use crate::store::subscriptions::{Directory, DirectoryEntry};
use serde::Deserialize;

/// Page size asked for; Fivetran allows up to 1000 and may return fewer with a cursor.
pub const PAGE_LIMIT: usize = 1000;
/// A directory younger than this answers name lookups without asking Fivetran.
pub const FRESH_FOR: chrono::Duration = chrono::Duration::minutes(10);
/// Guard against a cursor that never ends.
const MAX_PAGES: usize = 200;

#[derive(Deserialize)]
struct Page {
    /// Each item as its text: one unreadable connection is skipped, not the whole page, and no
    /// JSON tree of the page is built (as `Value`s, a page of 1,000 took several times its
    /// own size in memory).
    #[serde(default)]
    items: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// Every connection, following `next_cursor` to the end, through the Fivetran client (and its
/// gate). Errors are readable and hold no secret (the URL has none; credentials travel in a
/// header).
pub async fn list_connections(state: &AppState) -> Result<Vec<Connection>, String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let body = state
            .fivetran
            .list_connections_page(PAGE_LIMIT, cursor.as_deref())
            .await
            .map_err(|e| describe(&e))?;
        let envelope: Envelope<Page> = serde_json::from_slice(&body)
            .map_err(|_| "HTTP 200 with an unreadable body".to_string())?;
        let page = envelope
            .data
            .ok_or_else(|| "the answer had no data".to_string())?;
        out.extend(
            page.items
                .into_iter()
                .filter_map(|raw| serde_json::from_str::<Connection>(raw.get()).ok()),
        );
        match page.next_cursor.filter(|c| !c.is_empty()) {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => return Ok(out),
        }
    }
    Err(format!("more than {MAX_PAGES} pages of connections"))
}

/// A listing failure as the slash command's answer shows it.
fn describe(e: &ApiError) -> String {
    match e {
        ApiError::Server { response } | ApiError::Refused { response } => format!(
            "HTTP {} {}: {}",
            response.status, response.code, response.message
        ),
        ApiError::RateLimited {
            retry_after,
            response,
        } => format!(
            "HTTP {} {}: rate limited, retry after {}s",
            response.status,
            response.code,
            retry_after.as_secs()
        ),
        ApiError::Transport { message, .. } if message == "timed out" => "timed out".into(),
        ApiError::Transport { .. } => "could not reach Fivetran".into(),
        ApiError::Decode(_) | ApiError::Deferred { .. } => e.to_string(),
    }
}

pub fn entry(c: &Connection) -> DirectoryEntry {
    DirectoryEntry {
        id: c.id.clone(),
        name: c.schema.clone(),
        group_id: c.group_id.clone(),
        service: c.service.clone(),
    }
}

/// The directory of the connections listed at `fetched_at`.
fn directory(fetched_at: chrono::DateTime<chrono::Utc>, connections: &[Connection]) -> Directory {
    Directory {
        fetched_at,
        entries: connections.iter().map(entry).collect(),
    }
}

/// The directory a kept listing gives (names resolved against what it listed).
pub fn of_listing(listing: &super::listing::Listing) -> Directory {
    directory(listing.fetched_at, &listing.connections)
}

/// Stores a fresh listing as the directory.
pub fn remember(state: &AppState, connections: &[Connection]) -> Directory {
    let d = directory(state.now(), connections);
    if let Err(e) = state.store.put_directory(&d) {
        tracing::warn!(error = %e, "could not cache the connector directory");
    }
    d
}

/// The cached directory if it is fresh.
pub fn fresh(state: &AppState) -> Option<Directory> {
    let d = state.store.directory().ok()??;
    (state.now() - d.fetched_at < FRESH_FOR).then_some(d)
}

/// Fetches the directory from Fivetran and caches it.
pub async fn refresh(state: &AppState) -> Result<Directory, String> {
    let all = list_connections(state).await?;
    Ok(remember(state, &all))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    One(DirectoryEntry),
    Ambiguous(Vec<DirectoryEntry>),
    Unknown { suggestions: Vec<String> },
}

/// An id matches exactly; a name matches case-insensitively and may be ambiguous.
pub fn resolve_in(d: &Directory, word: &str) -> Resolved {
    if let Some(e) = d.entries.iter().find(|e| e.id == word) {
        return Resolved::One(e.clone());
    }
    let named: Vec<DirectoryEntry> = d
        .entries
        .iter()
        .filter(|e| {
            e.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(word))
        })
        .cloned()
        .collect();
    match named.len() {
        0 => Resolved::Unknown {
            suggestions: did_you_mean(
                word,
                d.entries
                    .iter()
                    .flat_map(|e| e.name.as_deref().into_iter().chain([e.id.as_str()])),
                5,
            ),
        },
        1 => Resolved::One(named.into_iter().next().unwrap_or_else(|| DirectoryEntry {
            id: word.into(),
            name: None,
            group_id: None,
            service: None,
        })),
        _ => Resolved::Ambiguous(named),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, name: &str) -> DirectoryEntry {
        DirectoryEntry {
            id: id.into(),
            name: Some(name.into()),
            group_id: Some("g".into()),
            service: None,
        }
    }

    #[test]
    fn resolves_by_id_name_and_suggests() {
        let d = Directory {
            fetched_at: chrono::Utc::now(),
            entries: vec![
                e("id_1", "pg_prod"),
                e("id_2", "shared"),
                e("id_3", "shared"),
            ],
        };
        assert_eq!(resolve_in(&d, "id_1"), Resolved::One(e("id_1", "pg_prod")));
        assert_eq!(
            resolve_in(&d, "PG_PROD"),
            Resolved::One(e("id_1", "pg_prod"))
        );
        assert!(matches!(resolve_in(&d, "shared"), Resolved::Ambiguous(v) if v.len() == 2));
        assert_eq!(
            resolve_in(&d, "pg_prd"),
            Resolved::Unknown {
                suggestions: vec!["pg_prod".into()]
            }
        );
    }
}
