//! Child processes: the bare-axum ceiling and `syncwarden serve`, their memory, readiness and
//! shutdown. A child is killed if the load generator stops early, so no run leaves a server
//! behind.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use syncwarden::sim::stack::{
    SimStack, APPROVER, CHANNEL, FIVETRAN_KEY, FIVETRAN_SECRET, SLACK_SIGNING_SECRET, SLACK_TOKEN,
    WEBHOOK_SECRET,
};

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident memory of a process, in bytes (Linux `/proc`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`
/// (`self` for this process). Clock ticks are 1/100 s on Linux.
pub fn cpu_time(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

impl Server {
    pub fn rss(&self) -> Option<u64> {
        rss_bytes(self.pid)
    }

    pub fn cpu(&self) -> Duration {
        cpu_time(&self.pid.to_string())
    }

    async fn wait_ready(&mut self, client: &reqwest::Client, path: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    bail!("server exited during start-up: {status}");
                }
            }
            if let Ok(r) = client.get(format!("{}{path}", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("server at {} did not become ready in 20 s", self.base)
    }

    /// SIGTERM, then waits for a clean exit (graceful shutdown flushes the store).
    pub fn stop(mut self) -> anyhow::Result<()> {
        match self.child.take() {
            Some(child) => syncwarden::sim::server_process::stop_gracefully(child),
            None => Ok(()),
        }
    }
}

/// This executable again, as the bare-axum ceiling in its own process (like syncwarden).
pub async fn start_bare(client: &reqwest::Client) -> anyhow::Result<Server> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["--serve-bare", &format!("127.0.0.1:{port}")])
        .spawn()
        .context("starting the bare-axum server")?;
    let mut s = Server {
        pid: child.id(),
        child: Some(child),
        base: format!("http://127.0.0.1:{port}"),
    };
    s.wait_ready(client, "/healthz").await?;
    Ok(s)
}

/// The ceiling: the same route and body handling a webhook gets, and nothing else.
pub async fn serve_bare(listen: &str) -> anyhow::Result<()> {
    let router = axum::Router::new()
        .route(
            "/webhooks/fivetran",
            axum::routing::post(|_body: axum::body::Bytes| async { "ok" }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// The alert settings under test: no deliberate waits, so the alert-to-Slack figure is the
/// pipeline's own latency. What the waits add by default is reported beside it.
pub const ALERTS: &str =
    "transient_grace = \"0s\"\nstorm_debounce = \"0s\"\nstorm_threshold = 1000\n";

pub struct Syncwarden {
    pub exe: PathBuf,
    pub config: PathBuf,
}

impl Syncwarden {
    /// Writes a config pointing at the simulators, with the store in `data_dir`.
    pub fn configure(
        exe: PathBuf,
        stack: &SimStack,
        data_dir: &Path,
        cache_mb: u64,
    ) -> anyhow::Result<Self> {
        let config = stack.data_dir.path().join("syncwarden.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ncache_mb = {cache_mb}\n\
                 [fivetran]\napi_base = \"http://{}\"\n\
                 [slack]\napi_base = \"http://{}/api\"\ndefault_channel = \"{CHANNEL}\"\n\
                 [policy]\napprovers = [\"{APPROVER}\"]\n\
                 [alerts]\n{ALERTS}",
                data_dir.display(),
                stack.fivetran_addr,
                stack.slack_addr
            ),
        )?;
        Ok(Self { exe, config })
    }

    pub async fn start(&self, client: &reqwest::Client) -> anyhow::Result<Server> {
        let port = free_port()?;
        let child = Command::new(&self.exe)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("SYNCWARDEN_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("FIVETRAN_API_KEY", FIVETRAN_KEY)
            .env("FIVETRAN_API_SECRET", FIVETRAN_SECRET)
            .env("FIVETRAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("SLACK_BOT_TOKEN", SLACK_TOKEN)
            .env("SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET)
            // The default log level, as a user runs it; the log goes to a file beside the
            // config so the report stays readable.
            .env_remove("RUST_LOG")
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.config.with_extension("log"))?,
            )
            .spawn()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        let mut s = Server {
            pid: child.id(),
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        s.wait_ready(client, "/readyz").await?;
        Ok(s)
    }
}

/// A gauge from `/metrics`.
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Option<u64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
