//! Faithful in-process fakes of the services syncwarden talks to: same paths, envelopes,
//! status codes, headers and signatures as the real APIs, with inspectable state and fault
//! injection. Used by `syncwarden demo` and by the tests.

pub mod fivetran;
pub mod llm;
pub mod slack;

use std::net::SocketAddr;

/// A fault to inject: the next matching request gets this answer instead of the normal one.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Matches when the request path contains this (empty matches all).
    pub path_contains: String,
    pub method: Option<String>,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: serde_json::Value,
    /// Delay before answering, to simulate a slow service.
    pub delay_ms: u64,
}

impl Fault {
    pub fn status(path_contains: &str, status: u16, body: serde_json::Value) -> Self {
        Self {
            path_contains: path_contains.into(),
            method: None,
            status,
            retry_after: None,
            body,
            delay_ms: 0,
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        path.contains(&self.path_contains)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

pub(crate) fn take_fault(faults: &mut Vec<Fault>, method: &str, path: &str) -> Option<Fault> {
    let i = faults.iter().position(|f| f.matches(method, path))?;
    Some(faults.remove(i))
}

/// Binds a loopback port and serves `router` on it in the background.
pub async fn spawn(router: axum::Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}
pub mod server_process;
pub mod stack;
