//! Wiring: shared state, the router, the background worker and graceful shutdown.

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Secrets, Settings};
use crate::diagnosis::redact::Redactor;
use crate::fivetran::api::FivetranClient;
use crate::remediation::policy::Policy;
use crate::slack::client::SlackWebClient;
use crate::store::{Store, StoreOptions};
use std::sync::Arc;
use tokio::sync::Notify;

pub struct AppState {
    pub settings: Settings,
    pub secrets: Secrets,
    pub store: Store,
    pub clock: SharedClock,
    pub fivetran: FivetranClient,
    pub slack: SlackWebClient,
    pub policy: Policy,
    /// Members of the Slack user groups the policy names (cached).
    pub approver_groups: crate::remediation::approver_groups::ApproverGroups,
    pub redactor: Redactor,
    /// Present when `[llm]` is configured.
    pub llm: Option<crate::diagnosis::llm::LlmClient>,
    /// Woken whenever a job is enqueued, so the worker does not wait for its next tick.
    pub jobs_ready: Notify,
    /// The last full listing of connections, for `/fivetran health`.
    pub listing: crate::commands::listing::ListingCache,
}

pub type SharedState = Arc<AppState>;

/// Installs the process-wide rustls crypto provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl AppState {
    pub fn new(
        settings: Settings,
        secrets: Secrets,
        clock: Option<SharedClock>,
    ) -> anyhow::Result<SharedState> {
        install_crypto_provider();
        crate::heap::purge_promptly();
        let options = StoreOptions {
            cache_bytes: settings.cache_mb * 1024 * 1024,
        };
        let store = Store::open_with(&settings.data_dir, options).map_err(|e| {
            anyhow::anyhow!(
                "cannot open the data directory {} (server.data_dir): {e}",
                settings.data_dir.display()
            )
        })?;
        // Opening freed sled's start-up buffers on this thread.
        crate::heap::release_freed();
        let clock: SharedClock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let fivetran = FivetranClient::new(
            &settings.fivetran_api_base,
            secrets.fivetran_api_key.clone(),
            secrets.fivetran_api_secret.clone(),
            settings.fivetran_timeout,
        )?
        .with_clock(clock.clone());
        fivetran
            .gate()
            .on_breaker_change(crate::notices::breaker_hook(
                store.clone(),
                clock.clone(),
                settings.slack_default_channel.clone(),
            ));
        let slack = SlackWebClient::new(
            &settings.slack_api_base,
            &secrets.slack_bot_token,
            settings.slack_timeout,
        )?
        .with_clock(clock.clone());
        let policy = Policy::with_settings(
            settings.approvers.clone(),
            settings.proposal_ttl,
            &settings.policy,
        );
        let redactor = Redactor::new(secrets.values());
        // Compile the rule tables now rather than on the first alert (hundreds of ms).
        let _ = crate::diagnosis::classify::classify_message("warm-up", None);
        let _ = redactor.redact_strict("warm-up");
        let start = clock.now();
        crate::checkpoint::ensure_scheduled(&store, settings.audit.checkpoint.as_ref(), start)?;
        let llm = settings
            .llm
            .clone()
            .map(|l| crate::diagnosis::llm::LlmClient::new(l, secrets.llm_api_key.as_ref()));
        Ok(Arc::new(AppState {
            llm,
            settings,
            secrets,
            store,
            clock,
            fivetran,
            slack,
            approver_groups: crate::remediation::approver_groups::ApproverGroups::new(
                policy.approver_groups_refresh,
            ),
            policy,
            redactor,
            jobs_ready: Notify::new(),
            listing: Default::default(),
        }))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// Serves until `shutdown` resolves, with the job worker running beside the server. In-flight
/// requests finish; the worker stops after its current job; the store is flushed last.
pub async fn serve(
    state: SharedState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(crate::worker::run(
        state.clone(),
        stop_rx.clone(),
        state.settings.workers,
    ));
    let groups = tokio::spawn(crate::remediation::approver_groups::refresh_loop(
        state.clone(),
        stop_rx.clone(),
    ));
    let trim = tokio::spawn(crate::heap::trim_loop(stop_rx));
    let router = crate::http::router(state.clone());
    tracing::info!(addr = %listener.local_addr()?, "syncwarden listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = groups.await;
    let _ = trim.await;
    state.store.flush().await?;
    tracing::info!("syncwarden stopped; store flushed");
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
