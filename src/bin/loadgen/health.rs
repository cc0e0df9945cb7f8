//! `/fivetran health` over a large account: a signed slash command, timed from the POST to
//! the ranked answer: at the command's `response_url` (the simulator records it) when
//! syncwarden lists the account from Fivetran, or in the command's own HTTP answer when a
//! listing from the last minute answers it.

use std::time::{Duration, Instant};
use syncwarden::sim::slack::{command_body, signed_headers, SlackSim, RESPONSE_URL};
use syncwarden::sim::stack::{APPROVER, CHANNEL, SLACK_SIGNING_SECRET};

pub struct HealthRun {
    /// Until Slack got the ranked answer.
    pub answered: Duration,
    /// Until the slash command's own HTTP answer (the acknowledgement).
    pub acknowledged: Duration,
    /// How many connectors the answer's totals line counts.
    pub connectors: usize,
    /// Answered in the HTTP answer, from the cached listing.
    pub cached: bool,
}

fn totals(text: &str) -> Option<usize> {
    regex::Regex::new(r"(\d+) connector\(s\):")
        .ok()?
        .captures(text)
        .and_then(|c| c[1].parse().ok())
}

pub async fn time_health(
    client: &reqwest::Client,
    base: &str,
    slack: &SlackSim,
    slack_addr: std::net::SocketAddr,
) -> anyhow::Result<HealthRun> {
    let before = slack.calls().len();
    let body = command_body(
        "/fivetran",
        "health",
        APPROVER,
        CHANNEL,
        &SlackSim::response_url_for(slack_addr, CHANNEL),
    );
    let mut req = client.post(format!("{base}/slack/commands"));
    for (k, v) in signed_headers(SLACK_SIGNING_SECRET, chrono::Utc::now().timestamp(), &body) {
        req = req.header(k, v);
    }
    let start = Instant::now();
    let resp = req.body(body).send().await?;
    let status = resp.status();
    let inline = resp.text().await?;
    let acknowledged = start.elapsed();
    if !status.is_success() {
        anyhow::bail!("/fivetran health answered HTTP {status}");
    }
    if let Some(connectors) = totals(&inline) {
        return Ok(HealthRun {
            answered: acknowledged,
            acknowledged,
            connectors,
            cached: true,
        });
    }
    if !slack
        .wait_for_calls(before + 1, Duration::from_secs(30))
        .await
    {
        anyhow::bail!("/fivetran health gave no answer on response_url within 30 s");
    }
    let calls = slack.calls();
    let answer = calls[before..]
        .iter()
        .find(|c| c.method == RESPONSE_URL)
        .ok_or_else(|| anyhow::anyhow!("the call after /fivetran health was not its answer"))?;
    let text = answer.body.to_string();
    let connectors = totals(&text)
        .ok_or_else(|| anyhow::anyhow!("the /fivetran health answer has no totals: {text:.300}"))?;
    Ok(HealthRun {
        answered: answer.received.saturating_duration_since(start),
        acknowledged,
        connectors,
        cached: false,
    })
}
