//! The command line. Thin: each verb calls the library.

use crate::app::{self, AppState};
use crate::config::{Config, Secrets};
use crate::diagnosis::classify::{classify, FailureSignals};
use crate::store::Store;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "syncwarden",
    version,
    about = "Keeps Fivetran connectors healthy from Slack"
)]
pub struct Cli {
    /// Config file (TOML). Every key can be overridden by SYNCWARDEN_<SECTION>__<KEY>.
    #[arg(long, global = true, default_value = "syncwarden.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service against Fivetran and Slack.
    Serve,
    /// Run the whole approval loop against built-in simulators, on a temporary data dir.
    Demo {
        /// Also run an OpenAI-compatible simulator and use LLM summaries.
        #[arg(long)]
        llm_sim: bool,
    },
    /// Read the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Read stored webhook events.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Read the durable job queue.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Classify failure messages with the deterministic rules.
    Classify {
        /// JSON-lines file with at least `message` per line (optional id, connector_type, task_type, status).
        #[arg(long)]
        jsonl: Option<PathBuf>,
        /// One message to classify.
        message: Option<String>,
    },
    /// Print the Slack app manifest (manifests/slack-app.yaml) with your public URL filled in.
    Manifest {
        /// The HTTPS URL Slack reaches syncwarden at, e.g. https://syncwarden.acme.com
        #[arg(long)]
        url: String,
    },
}

/// The shipped Slack app manifest, as in `manifests/slack-app.yaml`.
pub const SLACK_MANIFEST: &str = include_str!("../manifests/slack-app.yaml");
const MANIFEST_PLACEHOLDER: &str = "https://syncwarden.example.com";

/// The Slack app manifest with the command and interactivity URLs pointing at `url`.
pub fn slack_manifest(url: &str) -> anyhow::Result<String> {
    let parsed =
        url::Url::parse(url.trim()).with_context(|| format!("--url {url:?} is not a URL"))?;
    if parsed.scheme() != "https" {
        anyhow::bail!("--url must be https:// (Slack only calls HTTPS request URLs)");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        anyhow::bail!("--url must be a plain base URL without query, fragment or credentials");
    }
    let base = parsed.as_str().trim_end_matches('/');
    Ok(SLACK_MANIFEST.replace(
        &format!("url: {MANIFEST_PLACEHOLDER}"),
        &format!("url: {base}"),
    ))
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    List {
        #[arg(long)]
        connector: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Walk the hash chain; exit 2 naming the first bad record (changed, missing, reordered,
    /// rewritten, truncated).
    Verify {
        /// A checkpoint posted earlier (`SEQ:HASH`): that record must still have that hash.
        #[arg(long)]
        checkpoint: Option<crate::store::audit::Checkpoint>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Write records with their hashes, one JSON object per line, oldest first.
    Export {
        /// Only records at or after this time: RFC 3339 (`2026-11-25T00:00:00Z`), a date
        /// (`2026-11-25`, UTC midnight) or an age (`24h`, `7d`).
        #[arg(long, value_parser = parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line (for a SIEM or a warehouse loader).
    Jsonl,
}

/// `--since`: an RFC 3339 time, a UTC date, or an age such as `24h` (relative to now).
pub fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_since_at(text, chrono::Utc::now())
}

fn parse_since_at(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let t = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    match crate::duration::parse_duration(t) {
        Ok(age) => Ok(now - chrono::Duration::from_std(age).map_err(|e| e.to_string())?),
        Err(_) => Err(format!(
            "{t:?} is not a time: use RFC 3339 (2026-11-25T00:00:00Z), a date (2026-11-25) or an age (24h, 7d)"
        )),
    }
}

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Queued jobs (or, with --dead, jobs that failed for good).
    List {
        #[arg(long)]
        json: bool,
        /// The dead-letter list instead of the queue.
        #[arg(long)]
        dead: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Put dead jobs back in the queue, due now, with a fresh attempt count.
    Retry {
        /// Dead job ids (see `jobs list --dead`).
        ids: Vec<u64>,
        /// Every dead job.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Forget dead jobs.
    Drop {
        ids: Vec<u64>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn selection(ids: Vec<u64>, all: bool) -> anyhow::Result<crate::jobs_admin::Selection> {
    match (all, ids.is_empty()) {
        (true, _) => Ok(crate::jobs_admin::Selection::AllDead),
        (false, false) => Ok(crate::jobs_admin::Selection::Ids(ids)),
        (false, true) => {
            anyhow::bail!("name dead job ids (see `syncwarden jobs list --dead`) or pass --all")
        }
    }
}

fn report(verb: &str, done: &[u64], unknown: &[u64]) -> ExitCode {
    println!("{verb} {} dead job(s): {:?}", done.len(), done);
    if unknown.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("not in the dead-letter list: {unknown:?}");
        ExitCode::from(2)
    }
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn open_store(config: &Path, data_dir: Option<PathBuf>) -> anyhow::Result<Store> {
    let dir = match data_dir {
        Some(d) => d,
        None => Config::load(config, false)?.server.data_dir,
    };
    if !dir.exists() {
        anyhow::bail!(
            "data directory {} does not exist (server.data_dir / --data-dir)",
            dir.display()
        );
    }
    Store::open(&dir).with_context(|| {
        format!(
            "cannot open {}; if syncwarden is running on it, stop it first (sled allows one process)",
            dir.display()
        )
    })
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => {
            init_tracing("info");
            let config = Config::load(&cli.config, true)?;
            let settings = config.settings()?;
            let secrets = Secrets::from_env()?
                .with_llm_key(settings.llm.as_ref(), |v| std::env::var(v).ok())?;
            runtime()?.block_on(async move {
                let state = AppState::new(settings.clone(), secrets, None)?;
                let listener = tokio::net::TcpListener::bind(settings.listen)
                    .await
                    .with_context(|| {
                        format!("cannot listen on {} (server.listen)", settings.listen)
                    })?;
                app::serve(state, listener, app::shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { llm_sim } => {
            init_tracing("warn");
            runtime()?.block_on(crate::demo::run(&mut std::io::stdout(), llm_sim))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::List {
                    connector,
                    json,
                    data_dir,
                },
        } => {
            let store = open_store(&cli.config, data_dir)?;
            let chain = store.verify_audit(None)?;
            let mut out = std::io::stdout().lock();
            for r in store.each_audit_record() {
                let r = r?;
                if connector.is_some() && r.entry.connector_id != connector {
                    continue;
                }
                if json {
                    writeln!(out, "{}", serde_json::to_string(&r)?)?;
                } else {
                    writeln!(out, "{}", crate::demo::audit_line(&r))?;
                }
            }
            if let Err(fault) = chain {
                eprintln!(
                    "warning: audit chain broken at record {}: {fault}",
                    fault.first_bad()
                );
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    checkpoint,
                    data_dir,
                },
        } => {
            let store = open_store(&cli.config, data_dir)?;
            match store.verify_audit(checkpoint.clone())? {
                Ok(summary) => {
                    println!(
                        "audit log verified: {} record(s), head {}{}",
                        summary.records,
                        summary.head,
                        checkpoint
                            .map(|c| format!(", checkpoint {} matches", c.seq))
                            .unwrap_or_default()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(fault) => {
                    eprintln!(
                        "audit chain broken at record {}: {fault}",
                        fault.first_bad()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Audit {
            command:
                AuditCommand::Export {
                    since,
                    format: ExportFormat::Jsonl,
                    output,
                    data_dir,
                },
        } => {
            let store = open_store(&cli.config, data_dir)?;
            let n = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    store.export_audit(&mut std::io::BufWriter::new(file), since)?
                }
                None => store.export_audit(&mut std::io::stdout().lock(), since)?,
            };
            eprintln!("exported {n} audit record(s)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Events {
            command: EventsCommand::List { json, data_dir },
        } => {
            let store = open_store(&cli.config, data_dir)?;
            let mut out = std::io::stdout().lock();
            for e in store.each_event() {
                let e = e?;
                if json {
                    writeln!(out, "{}", serde_json::to_string(&e)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>6}  {}  {:<20} {:<24} {:<18} {}",
                        e.id,
                        e.received_at.format("%Y-%m-%d %H:%M:%S"),
                        e.event,
                        e.connector_id.as_deref().unwrap_or("-"),
                        e.status.as_deref().unwrap_or("-"),
                        e.handling
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs {
            command:
                JobsCommand::List {
                    json,
                    dead,
                    data_dir,
                },
        } => {
            let store = open_store(&cli.config, data_dir)?;
            crate::jobs_admin::list(&store, dead, json, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs {
            command: JobsCommand::Retry { ids, all, data_dir },
        } => {
            let which = selection(ids, all)?;
            let store = open_store(&cli.config, data_dir)?;
            let (done, unknown) = crate::jobs_admin::retry(
                &store,
                &which,
                &crate::jobs_admin::operator(),
                chrono::Utc::now(),
            )?;
            Ok(report("re-queued", &done, &unknown))
        }
        Command::Jobs {
            command: JobsCommand::Drop { ids, all, data_dir },
        } => {
            let which = selection(ids, all)?;
            let store = open_store(&cli.config, data_dir)?;
            let (done, unknown) = crate::jobs_admin::drop(
                &store,
                &which,
                &crate::jobs_admin::operator(),
                chrono::Utc::now(),
            )?;
            Ok(report("dropped", &done, &unknown))
        }
        Command::Manifest { url } => {
            print!("{}", slack_manifest(&url)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Classify { jsonl, message } => {
            let mut out = std::io::stdout().lock();
            match (jsonl, message) {
                (Some(path), _) => {
                    let file = std::fs::File::open(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                        let line = line?;
                        if line.trim().is_empty() {
                            continue;
                        }
                        let v: serde_json::Value = serde_json::from_str(&line)
                            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
                        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                        let Some(message) = text("message") else {
                            anyhow::bail!("{}:{}: missing `message`", path.display(), n + 1);
                        };
                        let signals = FailureSignals {
                            reason: message,
                            connector_type: text("connector_type"),
                            task_type: text("task_type"),
                            status: text("status"),
                            ..FailureSignals::default()
                        };
                        writeln!(
                            out,
                            "{}",
                            classification_json(v.get("id").cloned(), &signals)
                        )?;
                    }
                }
                (None, Some(message)) => {
                    let signals = FailureSignals {
                        reason: message,
                        ..FailureSignals::default()
                    };
                    writeln!(out, "{}", classification_json(None, &signals))?;
                }
                (None, None) => anyhow::bail!("give a message or --jsonl FILE"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn classification_json(
    id: Option<serde_json::Value>,
    signals: &FailureSignals,
) -> serde_json::Value {
    let c = classify(signals);
    serde_json::json!({
        "id": id,
        "category": c.category,
        "transient": c.transient,
        "action": c.action,
        "confidence": (f64::from(c.confidence) * 100.0).round() / 100.0,
        "evidence": c.evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_dates_and_ages() {
        use chrono::TimeZone;
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .unwrap();
        assert_eq!(
            parse_since_at("2026-11-25T10:30:00+01:00", now).unwrap(),
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 25, 9, 30, 0)
                .unwrap()
        );
        assert_eq!(
            parse_since_at("2026-11-24", now).unwrap(),
            chrono::Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
        assert_eq!(
            parse_since_at("36h", now).unwrap(),
            chrono::Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
        assert!(parse_since_at("yesterday", now).is_err());
    }

    #[test]
    fn manifest_gets_the_public_url() {
        let m = slack_manifest("https://sw.acme.com/").unwrap();
        assert!(m.contains("url: https://sw.acme.com/slack/commands"));
        assert!(m.contains("request_url: https://sw.acme.com/slack/interactions"));
        assert!(!m.contains("syncwarden.example.com/slack"));
        assert!(slack_manifest("http://sw.acme.com").is_err());
        assert!(slack_manifest("nonsense").is_err());
        assert!(slack_manifest("https://u:p@sw.acme.com").is_err());
    }
}
