//! Both simulators plus settings pointing syncwarden at them: what `demo` and the tests run on.

use super::fivetran::FivetranSim;
use super::slack::SlackSim;
use crate::config::{Secrets, Settings};
use crate::secret::Secret;
use std::net::SocketAddr;
use std::time::Duration;

pub const FIVETRAN_KEY: &str = "demo-fivetran-key";
pub const FIVETRAN_SECRET: &str = "demo-fivetran-secret-value";
pub const WEBHOOK_SECRET: &str = "fivetran-fixture-secret";
pub const SLACK_TOKEN: &str = "xoxb-000000000000-demo-bot-token";
pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const CHANNEL: &str = "C0ALERTS01";
pub const APPROVER: &str = "U0APPROVER";

pub struct SimStack {
    pub fivetran: FivetranSim,
    pub slack: SlackSim,
    pub fivetran_addr: SocketAddr,
    pub slack_addr: SocketAddr,
    pub data_dir: tempfile::TempDir,
}

impl SimStack {
    pub async fn start() -> anyhow::Result<Self> {
        let fivetran = FivetranSim::new(FIVETRAN_KEY, FIVETRAN_SECRET);
        let slack = SlackSim::new(SLACK_TOKEN);
        let fivetran_addr = super::spawn(fivetran.router()).await?;
        let slack_addr = super::spawn(slack.router()).await?;
        Ok(Self {
            fivetran,
            slack,
            fivetran_addr,
            slack_addr,
            data_dir: tempfile::tempdir()?,
        })
    }

    pub fn settings(&self, approvers: &[&str]) -> Settings {
        Settings {
            listen: "127.0.0.1:0".parse().expect("loopback address"),
            data_dir: self.data_dir.path().join("data"),
            cache_mb: crate::store::DEFAULT_CACHE_MB,
            workers: crate::config::DEFAULT_WORKERS,
            public_url: None,
            fivetran_api_base: format!("http://{}", self.fivetran_addr),
            fivetran_dashboard_url: "https://fivetran.com/dashboard/connections".into(),
            fivetran_timeout: Duration::from_secs(5),
            slack_api_base: format!("http://{}/api", self.slack_addr),
            slack_default_channel: CHANNEL.into(),
            slack_timeout: Duration::from_secs(5),
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            proposal_ttl: Duration::from_secs(4 * 3600),
            // Alert at once, so a single failure shows the whole loop; tests of the grace and
            // the storm debounce set their own values.
            alerts: crate::config::AlertSettings {
                transient_grace: Duration::ZERO,
                storm_debounce: Duration::ZERO,
                ..crate::config::AlertSettings::default()
            },
            policy: crate::remediation::policy::PolicySettings::default(),
            audit: crate::config::AuditSettings::default(),
            llm: None,
        }
    }

    pub fn secrets() -> Secrets {
        Secrets {
            fivetran_api_key: Secret::new(FIVETRAN_KEY),
            fivetran_api_secret: Secret::new(FIVETRAN_SECRET),
            fivetran_webhook_secret: Secret::new(WEBHOOK_SECRET),
            slack_bot_token: Secret::new(SLACK_TOKEN),
            slack_signing_secret: Secret::new(SLACK_SIGNING_SECRET),
            llm_api_key: None,
        }
    }
}
