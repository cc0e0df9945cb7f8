//! `syncwarden serve` as a child process that can be killed and restarted on the same port
//! and data directory.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use syncwarden::sim::stack::{
    SimStack, APPROVER, CHANNEL, FIVETRAN_KEY, FIVETRAN_SECRET, SLACK_SIGNING_SECRET, SLACK_TOKEN,
    WEBHOOK_SECRET,
};

pub struct Server {
    exe: PathBuf,
    config: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// Writes a config pointing at the simulators. No deliberate alert waits (grace, storm
    /// debounce) and no storm grouping: every failure is its own alert with its own proposal.
    pub fn new(exe: &Path, stack: &SimStack, data_dir: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = stack.data_dir.path().join("killtest.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n\
                 [fivetran]\napi_base = \"http://{}\"\n\
                 [slack]\napi_base = \"http://{}/api\"\ndefault_channel = \"{CHANNEL}\"\n\
                 [policy]\napprovers = [\"{APPROVER}\"]\n\
                 [alerts]\ntransient_grace = \"0s\"\nstorm_debounce = \"0s\"\nstorm_threshold = 1000\n",
                data_dir.display(),
                stack.fivetran_addr,
                stack.slack_addr
            ),
        )?;
        Ok(Self {
            exe: exe.to_path_buf(),
            log: stack.data_dir.path().join("syncwarden.log"),
            config,
            port,
            child: None,
        })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub async fn start(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.exe)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("FIVETRAN_API_KEY", FIVETRAN_KEY)
            .env("FIVETRAN_API_SECRET", FIVETRAN_SECRET)
            .env("FIVETRAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("SLACK_BOT_TOKEN", SLACK_TOKEN)
            .env("SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "syncwarden exited during start-up ({status}); see {}",
                    self.log.display()
                );
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base())).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!(
            "syncwarden did not become ready in 30 s; see {}",
            self.log.display()
        )
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().context("SIGKILL")?;
            c.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and a clean exit (graceful shutdown flushes the store).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        match self.child.take() {
            Some(child) => syncwarden::sim::server_process::stop_gracefully(child),
            None => Ok(()),
        }
    }
}
