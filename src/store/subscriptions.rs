//! Channel subscriptions (which channels get which connectors' alerts) and the cached
//! connector directory (ids, names and groups from `GET /v1/connections`).
//!
//! Subscriptions live in the `subscriptions` tree, keyed `<scope>\0<channel>`, and change only
//! inside [`Store::transact`] so each change lands with its audit record. The directory is a
//! cache: it lives in its own `connectors` tree, outside transactions, and can always be
//! refetched.

use super::{decode, decode_plain, encode, Store, StoreError, Tx, TxResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a subscription covers, resolved (connector ids, not names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    Connector(String),
    Group(String),
    All,
}

impl Scope {
    pub fn key(&self) -> String {
        match self {
            Scope::Connector(id) => format!("connector:{id}"),
            Scope::Group(id) => format!("group:{id}"),
            Scope::All => "all".into(),
        }
    }

    fn prefix(&self) -> Vec<u8> {
        let mut k = self.key().into_bytes();
        k.push(0);
        k
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub scope: Scope,
    pub channel: String,
    /// How people know the scope (the connector's name), for listings.
    pub label: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

fn key(scope: &Scope, channel: &str) -> Vec<u8> {
    let mut k = scope.prefix();
    k.extend_from_slice(channel.as_bytes());
    k
}

impl Tx<'_> {
    /// Adds a route. Returns false (and changes nothing) if it already existed.
    pub fn subscribe(&self, sub: &Subscription) -> TxResult<bool> {
        let k = key(&sub.scope, &sub.channel);
        if self.subscriptions.get(&k)?.is_some() {
            return Ok(false);
        }
        self.subscriptions.insert(k, encode(sub)?)?;
        Ok(true)
    }

    /// Removes a route, returning it if it existed.
    pub fn unsubscribe(&self, scope: &Scope, channel: &str) -> TxResult<Option<Subscription>> {
        match self.subscriptions.remove(key(scope, channel))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }
}

/// The cached connector directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub id: String,
    /// `schema` in the API: the name people use.
    pub name: Option<String>,
    pub group_id: Option<String>,
    pub service: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub fetched_at: DateTime<Utc>,
    pub entries: Vec<DirectoryEntry>,
}

const DIRECTORY_KEY: &[u8] = b"directory";

impl Store {
    /// Every route, ordered by scope then channel.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.subscriptions
            .iter()
            .values()
            .map(|v| decode_plain(&v?))
            .collect()
    }

    /// Channels subscribed to exactly this scope.
    pub fn channels_subscribed_to(&self, scope: &Scope) -> Result<Vec<String>, StoreError> {
        self.subscriptions
            .scan_prefix(scope.prefix())
            .values()
            .map(|v| decode_plain::<Subscription>(&v?).map(|s| s.channel))
            .collect()
    }

    fn directory_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("connectors")?)
    }

    pub fn directory(&self) -> Result<Option<Directory>, StoreError> {
        self.directory_tree()?
            .get(DIRECTORY_KEY)?
            .map(|b| decode_plain(&b))
            .transpose()
    }

    pub fn put_directory(&self, d: &Directory) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(d).map_err(|e| StoreError::Codec(e.to_string()))?;
        self.directory_tree()?.insert(DIRECTORY_KEY, bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(scope: Scope, channel: &str) -> Subscription {
        Subscription {
            scope,
            channel: channel.into(),
            label: "x".into(),
            created_by: "U1".into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn subscribe_unsubscribe_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let s = Store::open(dir.path()).unwrap();
            let a = sub(Scope::Connector("c1".into()), "C1");
            assert!(s.transact(now, |tx| tx.subscribe(&a)).unwrap());
            assert!(!s.transact(now, |tx| tx.subscribe(&a)).unwrap());
            s.transact(now, |tx| {
                tx.subscribe(&sub(Scope::Connector("c10".into()), "C2"))
            })
            .unwrap();
            s.transact(now, |tx| tx.subscribe(&sub(Scope::All, "C3")))
                .unwrap();
            s.flush_blocking().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        // A prefix of another id must not match it.
        assert_eq!(
            s.channels_subscribed_to(&Scope::Connector("c1".into()))
                .unwrap(),
            vec!["C1"]
        );
        assert_eq!(s.channels_subscribed_to(&Scope::All).unwrap(), vec!["C3"]);
        assert_eq!(s.subscriptions().unwrap().len(), 3);
        let gone = s
            .transact(now, |tx| {
                tx.unsubscribe(&Scope::Connector("c1".into()), "C1")
            })
            .unwrap();
        assert_eq!(gone.map(|g| g.channel), Some("C1".to_string()));
        assert!(s
            .transact(now, |tx| tx
                .unsubscribe(&Scope::Connector("c1".into()), "C1"))
            .unwrap()
            .is_none());
        assert!(s
            .channels_subscribed_to(&Scope::Connector("c1".into()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn directory_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.directory().unwrap(), None);
        let d = Directory {
            fetched_at: Utc::now(),
            entries: vec![DirectoryEntry {
                id: "a".into(),
                name: Some("pg".into()),
                group_id: None,
                service: None,
            }],
        };
        s.put_directory(&d).unwrap();
        assert_eq!(s.directory().unwrap(), Some(d));
    }
}
