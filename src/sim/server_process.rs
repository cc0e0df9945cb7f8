//! The real `syncwarden serve` as a child process, for the harness binaries (`killtest`,
//! `loadgen`) that run it against the simulators.

use anyhow::{bail, Context};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a stopped server may take to finish its in-flight work and flush.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// Sends SIGTERM and waits for a clean exit (graceful shutdown flushes the store). A server
/// that exits with an error, or not within 30 s (then killed), is an error.
pub fn stop_gracefully(mut child: Child) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("sending SIGTERM")?;
    let deadline = Instant::now() + STOP_WITHIN;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("syncwarden exited with {status} after SIGTERM");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("syncwarden did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
