//! Replies to `/fivetran` commands, as the JSON Slack takes in a command answer or a
//! `response_url` post. One named builder per reply; everything user- or Fivetran-supplied is
//! escaped and clipped here, and every reply stays within Block Kit's limits.

use super::blocks::{clip, escape, MAX_FALLBACK_TEXT, MAX_HEADER_TEXT, MAX_SECTION_TEXT};
use super::command::{CommandError, SUBCOMMANDS};
use crate::fivetran::model::Connection;
use crate::health::{Health, Totals};
use crate::remediation::action::Action;
use crate::remediation::proposal::Proposal;
use crate::store::audit::AuditRecord;
use crate::store::events::StoredEvent;
use crate::store::subscriptions::{DirectoryEntry, Subscription};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Rows shown by `health` before "and N more".
pub const HEALTH_TOP: usize = 15;

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": true}})
}

fn section(md: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(md, MAX_SECTION_TEXT)}})
}

fn context(md: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(md, MAX_SECTION_TEXT)}]})
}

fn message(response_type: &str, text: &str, blocks: Vec<Value>) -> Value {
    let mut blocks = blocks;
    blocks.truncate(super::blocks::MAX_BLOCKS);
    json!({
        "response_type": response_type,
        "text": clip(text, MAX_FALLBACK_TEXT),
        "blocks": blocks,
    })
}

fn ephemeral(text: &str, blocks: Vec<Value>) -> Value {
    message("ephemeral", text, blocks)
}

fn time_label(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn fivetran_time(s: Option<&str>) -> String {
    match s.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        Some(t) => time_label(t.with_timezone(&Utc)),
        None => "never".into(),
    }
}

fn cmd(command: &str) -> &str {
    let c = command.trim();
    if c.is_empty() {
        "/fivetran"
    } else {
        c
    }
}

/// Human name of a connector: `name` (`id`).
pub fn connector_label(name: Option<&str>, id: &str) -> String {
    match name {
        Some(n) if n != id => format!("*{}* (`{}`)", escape(n), escape(id)),
        _ => format!("`{}`", escape(id)),
    }
}

fn entry_label(e: &DirectoryEntry) -> String {
    connector_label(e.name.as_deref(), &e.id)
}

pub fn help(command: &str) -> Value {
    let c = escape(cmd(command));
    let mut lines = String::new();
    for (_, usage, example) in SUBCOMMANDS {
        lines.push_str(&format!(
            "• `{c} {}` — e.g. `{c} {}`\n",
            escape(usage),
            escape(example)
        ));
    }
    ephemeral(
        &format!("{c}: connector health, alert routing and fixes. Try `{c} health`."),
        vec![
            section(
                "*syncwarden* watches your Fivetran connectors, posts failed syncs with a proposed fix, and runs it when an approver clicks *Approve*.\nConnectors can be named by id or by name.",
            ),
            section(&lines),
            context("Fixes you request (sync, pause, resume, frequency, resync) are posted in the channel for an approver; nothing runs without a click."),
        ],
    )
}

pub fn usage_error(command: &str, err: &CommandError) -> Value {
    let c = escape(cmd(command));
    match err {
        CommandError::UnknownSubcommand { given, suggestions } => {
            let hint = match suggestions.as_slice() {
                [] => String::new(),
                [one] => format!(" Did you mean `{c} {}`?", escape(one)),
                many => format!(
                    " Did you mean one of {}?",
                    many.iter()
                        .map(|s| format!("`{c} {}`", escape(s)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let text = format!(
                "`{}` is not a {c} subcommand.{hint} `{c} help` lists them all.",
                escape(given)
            );
            ephemeral(&text, vec![section(&format!(":grey_question: {text}"))])
        }
        CommandError::Usage {
            subcommand,
            problem,
        } => {
            let usage = super::command::usage(subcommand);
            let example = SUBCOMMANDS
                .iter()
                .find(|(n, _, _)| n == subcommand)
                .map(|(_, _, e)| *e)
                .unwrap_or("help");
            let text = format!(
                "`{c} {subcommand}`: {}\nUsage: `{c} {}` — e.g. `{c} {}`",
                escape(problem),
                escape(usage),
                escape(example)
            );
            ephemeral(&text, vec![section(&format!(":grey_question: {text}"))])
        }
    }
}

/// The immediate answer while the real one is fetched from Fivetran.
pub fn working(what: &str) -> Value {
    let text = format!(":hourglass_flowing_sand: {}…", escape(what));
    ephemeral(&text, vec![context(&text)])
}

pub fn unknown_connector(word: &str, suggestions: &[String]) -> Value {
    let hint = if suggestions.is_empty() {
        " `/fivetran health` lists every connector.".to_string()
    } else {
        format!(
            " Did you mean {}?",
            suggestions
                .iter()
                .map(|s| format!("`{}`", escape(s)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let text = format!(
        "No connector is called `{}` (by id or name).{hint}",
        escape(&clip(word, 100))
    );
    ephemeral(&text, vec![section(&format!(":grey_question: {text}"))])
}

pub fn ambiguous_connector(word: &str, candidates: &[DirectoryEntry]) -> Value {
    let mut text = format!(
        "`{}` names {} connectors; use the id of the one you mean:",
        escape(&clip(word, 100)),
        candidates.len()
    );
    for c in candidates.iter().take(20) {
        text.push_str(&format!(
            "\n• {} in group `{}`{}",
            entry_label(c),
            escape(c.group_id.as_deref().unwrap_or("?")),
            c.service
                .as_deref()
                .map(|s| format!(", {}", escape(s)))
                .unwrap_or_default()
        ));
    }
    ephemeral(&text, vec![section(&text)])
}

pub fn fivetran_unavailable(what: &str, error: &str) -> Value {
    let text = format!(
        ":warning: Could not {} because Fivetran did not answer as expected: {}. Try again in a minute.",
        escape(what),
        escape(&clip(error, 300))
    );
    ephemeral(&text, vec![section(&text)])
}

pub fn failure(text: &str) -> Value {
    let text = format!(":warning: {}", escape(text));
    ephemeral(&text, vec![section(&text)])
}

fn health_line(h: &Health) -> String {
    let c = &h.connection;
    let s = &c.status;
    let state = |v: &Option<String>| escape(v.as_deref().unwrap_or("?"));
    let mut line = format!(
        "{} {} · {}\nsetup {} · sync {} · update {} · last success {} · {} failure(s) in 7 days · {} task(s), {} warning(s)",
        h.level.emoji(),
        connector_label(c.schema.as_deref(), &c.id),
        escape(c.service.as_deref().unwrap_or("?")),
        state(&s.setup_state),
        state(&s.sync_state),
        state(&s.update_state),
        fivetran_time(c.succeeded_at.as_deref()),
        h.failures_7d,
        s.tasks.len(),
        s.warnings.len()
    );
    if c.paused.unwrap_or(false) {
        line.push_str(" · paused");
    }
    line
}

pub fn totals_line(t: &Totals) -> String {
    format!(
        "{} connector(s): {} failing · {} warning · {} paused · {} healthy",
        t.total, t.failing, t.warning, t.paused, t.healthy
    )
}

/// `health`: ranked worst first, top [`HEALTH_TOP`], with totals.
/// `fetched_at` is when Fivetran listed the statuses (earlier than `now` when the answer comes
/// from the cached listing); `unavailable` says why a new listing could not be had.
pub fn health(
    scope: &str,
    ranked: &[Health],
    totals: &Totals,
    fetched_at: DateTime<Utc>,
    now: DateTime<Utc>,
    unavailable: Option<&str>,
) -> Value {
    let t = totals_line(totals);
    let mut blocks = vec![
        header(&format!("Connector health: {scope}")),
        section(&format!("*{t}*")),
    ];
    if ranked.is_empty() {
        blocks.push(section("No connectors found."));
    }
    for h in ranked.iter().take(HEALTH_TOP) {
        blocks.push(section(&health_line(h)));
    }
    let mut note = format!("Fetched from Fivetran at {}.", time_label(fetched_at));
    if let Some(why) = unavailable {
        note = format!(
            ":warning: Fivetran could not be asked for a new listing ({}). {note}",
            escape(&clip(why, 200))
        );
    }
    if now - fetched_at >= chrono::Duration::seconds(1) {
        note.push_str(&format!(
            " Answered from that listing ({} old); failure counts are current.",
            crate::slack::blocks::human_duration(now - fetched_at)
        ));
    }
    if ranked.len() > HEALTH_TOP {
        note = format!(
            "…and {} more, healthier ones. Narrow with `/fivetran health group:<id>`. {note}",
            ranked.len() - HEALTH_TOP
        );
    }
    blocks.push(context(&note));
    let worst = ranked
        .first()
        .map(|h| {
            format!(
                " Worst: {} ({}).",
                h.connection.schema.as_deref().unwrap_or(&h.connection.id),
                h.level.word()
            )
        })
        .unwrap_or_default();
    ephemeral(&format!("Connector health: {t}.{worst}"), blocks)
}

/// `status`: one connector in detail.
/// `/fivetran status <connector>`. `mode` is the effective mode and where it comes from
/// ([`crate::remediation::policy::ModeSource::describe`]: built from validated ids, so it is
/// mrkdwn already).
pub fn status(
    c: &Connection,
    h: &Health,
    mode: (crate::remediation::policy::Mode, &str),
    recent: &[StoredEvent],
    proposals: &[Proposal],
) -> Value {
    let s = &c.status;
    let name = c.schema.as_deref().unwrap_or(&c.id);
    let mut blocks = vec![header(&format!("{name}: {}", h.level.word()))];
    let schedule = match (c.sync_frequency, c.schedule_type.as_deref()) {
        (Some(f), Some(t)) => format!("every {f} min ({})", escape(t)),
        (Some(f), None) => format!("every {f} min"),
        _ => "?".into(),
    };
    let opt = |v: &Option<String>| escape(v.as_deref().unwrap_or("?"));
    blocks.push(section(&format!(
        "{} {} · {} · group `{}`\n*State* setup {} · sync {} · update {}{}\n*Schedule* {}\n*Mode* {} ({})\n*Last success* {} · *last failure* {}",
        h.level.emoji(),
        connector_label(c.schema.as_deref(), &c.id),
        opt(&c.service),
        opt(&c.group_id),
        opt(&s.setup_state),
        opt(&s.sync_state),
        opt(&s.update_state),
        if c.paused.unwrap_or(false) { " · *paused*" } else { "" },
        schedule,
        mode.0.as_str(),
        mode.1,
        fivetran_time(c.succeeded_at.as_deref()),
        fivetran_time(c.failed_at.as_deref()),
    )));
    let notices: Vec<String> = s
        .tasks
        .iter()
        .map(|t| ("Task", t))
        .chain(s.warnings.iter().map(|w| ("Warning", w)))
        .take(10)
        .map(|(kind, n)| {
            format!(
                "• {kind} `{}`: {}",
                escape(&clip(&n.code, 80)),
                escape(&clip(&n.message, 300))
            )
        })
        .collect();
    blocks.push(section(&if notices.is_empty() {
        "*Open tasks and warnings*: none".to_string()
    } else {
        format!("*Open tasks and warnings*\n{}", notices.join("\n"))
    }));
    let syncs: Vec<String> = recent
        .iter()
        .take(5)
        .map(|e| {
            format!(
                "• {} `{}` {}",
                time_label(e.received_at),
                escape(&e.event),
                escape(e.status.as_deref().unwrap_or(""))
            )
        })
        .collect();
    blocks.push(section(&if syncs.is_empty() {
        "*Recent syncs*: none reported to syncwarden yet".to_string()
    } else {
        format!("*Recent syncs* (webhooks received)\n{}", syncs.join("\n"))
    }));
    let open: Vec<String> = proposals
        .iter()
        .take(10)
        .map(|p| {
            format!(
                "• {} — {} (requested by {}, risk {}) `{}`",
                escape(&p.action.label()),
                p.state.as_str(),
                mention(&p.requested_by),
                p.risk.as_str(),
                escape(&p.id)
            )
        })
        .collect();
    blocks.push(section(&if open.is_empty() {
        "*Open proposals*: none".to_string()
    } else {
        format!("*Open proposals*\n{}", open.join("\n"))
    }));
    if !h.reasons.is_empty() {
        blocks.push(context(&escape(&h.reasons.join(" · "))));
    }
    ephemeral(
        &format!(
            "{name}: {} — setup {}, sync {}, update {}",
            h.level.word(),
            s.setup_state.as_deref().unwrap_or("?"),
            s.sync_state.as_deref().unwrap_or("?"),
            s.update_state.as_deref().unwrap_or("?")
        ),
        blocks,
    )
}

fn mention(user: &str) -> String {
    if user == "system" || user.is_empty() {
        "syncwarden".into()
    } else {
        format!("<@{}>", escape(user))
    }
}

fn channel(id: &str) -> String {
    format!("<#{}>", escape(id))
}

/// `unknown_group`: the group id matches no connector in the last listing, with close ids.
pub fn subscribed(
    label: &str,
    channel_id: &str,
    added: bool,
    unknown_group: Option<&[String]>,
) -> Value {
    let mut text = if added {
        format!(
            ":white_check_mark: Alerts for {label} now go to {}.",
            channel(channel_id)
        )
    } else {
        format!(
            "Alerts for {label} already go to {}; nothing changed.",
            channel(channel_id)
        )
    };
    if let Some(close) = unknown_group {
        text.push_str(" :warning: No connector Fivetran listed recently is in that group");
        if close.is_empty() {
            text.push_str("; check the id.");
        } else {
            text.push_str(&format!(
                "; did you mean {}?",
                close
                    .iter()
                    .map(|g| format!("`group:{}`", escape(g)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    ephemeral(&text, vec![section(&text)])
}

pub fn unsubscribed(
    label: &str,
    channel_id: &str,
    removed: bool,
    default_channel: Option<&str>,
) -> Value {
    let mut text = if removed {
        format!(
            ":white_check_mark: Alerts for {label} no longer go to {}.",
            channel(channel_id)
        )
    } else {
        format!(
            "{} was not subscribed to {label}; nothing changed.",
            channel(channel_id)
        )
    };
    if let Some(d) = default_channel {
        text.push_str(&format!(
            " With no subscription left, its alerts go to the default channel {}.",
            channel(d)
        ));
    }
    ephemeral(&text, vec![section(&text)])
}

pub fn subscriptions(
    subs: &[Subscription],
    only_channel: Option<&str>,
    default_channel: &str,
) -> Value {
    let mut lines: Vec<String> = Vec::new();
    let mut sorted: Vec<&Subscription> = subs.iter().collect();
    sorted.sort_by(|a, b| a.channel.cmp(&b.channel).then(a.label.cmp(&b.label)));
    for s in &sorted {
        lines.push(format!(
            "• {} ← {} (added by {} on {})",
            channel(&s.channel),
            s.label,
            mention(&s.created_by),
            s.created_at.format("%Y-%m-%d")
        ));
    }
    let title = match only_channel {
        Some(c) => format!("Alert routes into {}", channel(c)),
        None => "Alert routes".to_string(),
    };
    let mut blocks = vec![section(&format!("*{title}*"))];
    let shown = 40usize;
    for chunk in lines.chunks(20).take(shown / 20) {
        blocks.push(section(&chunk.join("\n")));
    }
    if lines.is_empty() {
        blocks.push(section("No subscriptions."));
    }
    if lines.len() > shown {
        blocks.push(context(&format!("…and {} more.", lines.len() - shown)));
    }
    blocks.push(context(&format!(
        "Connectors nobody subscribed to alert {}.",
        channel(default_channel)
    )));
    ephemeral(&format!("{title}: {} route(s)", lines.len()), blocks)
}

/// Posted in the channel when someone asks for a fix: the alert with the buttons follows.
pub fn proposal_requested(user: &str, label: &str, action: &Action, proposal_id: &str) -> Value {
    let text = format!(
        "{} asked to *{}* for {label}. An approver can Approve or Reject it on the message below.",
        mention(user),
        escape(&action.label().to_lowercase()),
    );
    message(
        "in_channel",
        &text,
        vec![
            section(&text),
            context(&format!(
                "risk {} · {} · proposal `{}`",
                action.risk().as_str(),
                escape(action.effect()),
                escape(proposal_id)
            )),
        ],
    )
}

/// `snooze`: the connector's alerts are held until `until`.
pub fn snoozed(label: &str, until: DateTime<Utc>, had_open_failure: bool) -> Value {
    let mut text = format!(
        ":zzz: Alerts for {label} are snoozed until {}. Failures are still recorded and counted; when the snooze ends, one message says whether it is still failing.",
        until.format("%Y-%m-%d %H:%M UTC")
    );
    if had_open_failure {
        text.push_str(" Its open alert now shows the snooze.");
    }
    ephemeral(&text, vec![section(&text)])
}

/// `unsnooze`: the snooze is lifted (or there was none).
pub fn unsnoozed(label: &str, was_until: Option<DateTime<Utc>>) -> Value {
    let text = match was_until {
        Some(until) => format!(
            ":bell: Alerts for {label} are back on (the snooze would have run until {}). If it is still failing, the alert follows now.",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("Alerts for {label} were not snoozed; nothing changed."),
    };
    ephemeral(&text, vec![section(&text)])
}

fn audit_line(r: &AuditRecord) -> String {
    let mut subject = Vec::new();
    if let Some(c) = &r.entry.connector_id {
        subject.push(format!("`{}`", escape(c)));
    }
    if let Some(p) = &r.entry.proposal_id {
        subject.push(format!("proposal `{}`", escape(p)));
    }
    let detail = if r.entry.detail.is_null() {
        String::new()
    } else {
        format!(" — {}", escape(&clip(&r.entry.detail.to_string(), 160)))
    };
    format!(
        "`#{}` {} *{}* by {} {}{}",
        r.seq,
        r.at.format("%m-%d %H:%M:%S"),
        escape(&r.entry.kind),
        mention(&r.entry.actor),
        subject.join(" "),
        detail
    )
}

/// `audit`: the last records, newest last.
pub fn audit(records: &[AuditRecord], scope: &str, chain_ok: bool) -> Value {
    let lines: Vec<String> = records.iter().map(audit_line).collect();
    let mut blocks = vec![section(&format!(
        "*Last {} audit record(s){}*",
        records.len(),
        if scope.is_empty() {
            String::new()
        } else {
            format!(" for {scope}")
        }
    ))];
    if lines.is_empty() {
        blocks.push(section("Nothing recorded yet."));
    }
    for chunk in lines.chunks(10) {
        blocks.push(section(&chunk.join("\n")));
    }
    blocks.push(context(if chain_ok {
        "Hash chain verified."
    } else {
        ":warning: The audit hash chain is broken: a record was changed or removed."
    }));
    ephemeral(&format!("{} audit record(s)", records.len()), blocks)
}

/// What `/fivetran mode` says about a connector's mode and where it comes from.
pub struct ModeView<'a> {
    pub label: &'a str,
    pub mode: crate::remediation::policy::Mode,
    /// Where the effective mode comes from, in words ([`crate::remediation::policy::ModeSource::describe`]:
    /// built from validated ids, so it is mrkdwn already).
    pub source: &'a str,
    /// What the configuration alone would give.
    pub configured: crate::remediation::policy::Mode,
}

fn mode_meaning(m: crate::remediation::policy::Mode) -> &'static str {
    use crate::remediation::policy::Mode;
    match m {
        Mode::Monitor => "alerts only, no buttons; nothing runs",
        Mode::Approve => "Approve / Reject buttons; nothing runs without an approver",
        Mode::Auto => {
            "low-risk fixes run at once within the daily budget; the rest need an approver"
        }
    }
}

/// `/fivetran mode <connector>`: the current mode, privately.
pub fn mode_shown(v: &ModeView<'_>) -> Value {
    let text = format!(
        "{} is in *{}* mode ({}): {}.",
        v.label,
        v.mode.as_str(),
        v.source,
        mode_meaning(v.mode)
    );
    ephemeral(
        &text,
        vec![
            section(&text),
            context(&format!(
                "The configuration says *{}*; a `/fivetran mode` override wins over it until `/fivetran mode <connector> default`.",
                v.configured.as_str()
            )),
        ],
    )
}

/// A mode change, posted in the channel so the team sees it.
pub fn mode_changed(
    user: &str,
    v: &ModeView<'_>,
    before: crate::remediation::policy::Mode,
    breaker_rearmed: bool,
) -> Value {
    let text = format!(
        "{} set {} to *{}* mode (was {}): {}.",
        mention(user),
        v.label,
        v.mode.as_str(),
        before.as_str(),
        mode_meaning(v.mode)
    );
    let mut notes = vec![format!("Source: {}.", v.source)];
    if breaker_rearmed {
        notes.push("Automatic fixes were stopped by the breaker; they are re-enabled.".into());
    }
    message(
        "in_channel",
        &text,
        vec![section(&text), context(&notes.join(" "))],
    )
}

/// A mode change someone may not make.
pub fn mode_refused(why: &str) -> Value {
    let text = format!(":no_entry: {}", escape(why));
    ephemeral(&text, vec![section(&text)])
}

/// A tiny snapshot check for tests (no extra dependency): compares text with
/// `src/slack/snapshots/<name>`; `UPDATE_SNAPSHOTS=1 cargo test` writes them instead.
#[cfg(test)]
pub(crate) mod snapshot {
    /// Panics with a diff-friendly message if `actual` differs from the stored snapshot.
    pub fn assert_snapshot(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/slack/snapshots")
            .join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, actual).expect("write snapshot");
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "no snapshot {}; run with UPDATE_SNAPSHOTS=1 and review it",
                path.display()
            )
        });
        assert!(
        expected == actual,
        "snapshot {name} changed (UPDATE_SNAPSHOTS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{assess, rank, totals};
    use crate::slack::blocks::limit_violations;
    use crate::slack::command::parse_text;

    fn check(v: &Value) {
        let problems = limit_violations(v);
        assert!(problems.is_empty(), "{problems:?}\n{v:#}");
    }

    #[test]
    fn help_lists_every_subcommand_with_an_example() {
        let v = help("/fivetran");
        check(&v);
        let s = v.to_string();
        for (name, _, example) in SUBCOMMANDS {
            assert!(s.contains(&format!("/fivetran {example}")), "{name}");
        }
        assert_eq!(v["response_type"], "ephemeral");
    }

    #[test]
    fn usage_errors_snapshot() {
        let err = parse_text("helth").unwrap_err();
        let v = usage_error("/fivetran", &err);
        check(&v);
        assert_eq!(
            v["text"],
            "`helth` is not a /fivetran subcommand. Did you mean `/fivetran health`? `/fivetran help` lists them all."
        );
        let err = parse_text("frequency pg 7").unwrap_err();
        let v = usage_error("/fivetran", &err);
        check(&v);
        assert_eq!(
            v["text"],
            "`/fivetran frequency`: `7` is not a sync frequency Fivetran accepts; use minutes: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440.\nUsage: `/fivetran frequency &lt;connector&gt; &lt;minutes&gt;` — e.g. `/fivetran frequency pg_prod 360`"
        );
        let err = parse_text("xyzzy").unwrap_err();
        assert_eq!(
            usage_error("", &err)["text"],
            "`xyzzy` is not a /fivetran subcommand. `/fivetran help` lists them all."
        );
    }

    #[test]
    fn hostile_text_is_escaped_and_clipped() {
        let v = unknown_connector(&format!("<!channel>{}", "x".repeat(5000)), &[]);
        check(&v);
        assert!(!v.to_string().contains("<!channel>"));
        let v = failure(&"<@U1>".repeat(2000));
        check(&v);
    }

    #[test]
    fn health_caps_rows_and_counts_the_rest() {
        let now = Utc::now();
        let items: Vec<Health> = (0..40)
            .map(|i| {
                assess(
                    &Connection {
                        id: format!("c{i:02}"),
                        schema: Some(format!("name_{i:02}")),
                        ..Connection::default()
                    },
                    0,
                    now,
                )
            })
            .collect();
        let t = totals(&items);
        let v = health("all connectors", &rank(items), &t, now, now, None);
        check(&v);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 2 + HEALTH_TOP + 1);
        assert!(v.to_string().contains("…and 25 more"));
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn snap(name: &str, v: &Value) {
        check(v);
        snapshot::assert_snapshot(
            &format!("reply_{name}.json"),
            &format!("{}\n", serde_json::to_string_pretty(v).unwrap()),
        );
    }

    fn conn(id: &str, name: &str, setup: &str, failed: &str) -> Connection {
        serde_json::from_value(json!({
            "id": id, "schema": name, "service": "postgres", "group_id": "projected_sickle",
            "paused": false, "sync_frequency": 360, "schedule_type": "auto",
            "succeeded_at": "2026-11-25T09:00:00Z", "failed_at": failed,
            "status": {"setup_state": setup, "sync_state": "scheduled", "update_state": "on_schedule",
                "tasks": if setup == "broken" { json!([{"code": "reconnect", "message": "Reconnect the <source>"}]) } else { json!([]) },
                "warnings": []}
        }))
        .unwrap()
    }

    #[test]
    fn snapshots() {
        snap("help", &help("/fivetran"));
        snap(
            "unknown_subcommand",
            &usage_error("/fivetran", &parse_text("subscribtions").unwrap_err()),
        );
        snap(
            "bad_arguments",
            &usage_error("/fivetran", &parse_text("resync pg orders").unwrap_err()),
        );
        snap("working", &working("Asking Fivetran about `pg_prod`"));
        snap(
            "unknown_connector",
            &unknown_connector("pg_prd", &["pg_prod".into(), "pg_stage".into()]),
        );
        let e = |id: &str| DirectoryEntry {
            id: id.into(),
            name: Some("shared".into()),
            group_id: Some("g1".into()),
            service: Some("mysql".into()),
        };
        snap(
            "ambiguous_connector",
            &ambiguous_connector("shared", &[e("a_1"), e("b_2")]),
        );
        let items = vec![
            assess(
                &conn("ok_1", "orders", "connected", "2026-11-01T00:00:00Z"),
                0,
                at(),
            ),
            assess(
                &conn("bad_1", "billing", "broken", "2026-11-25T09:30:00Z"),
                2,
                at(),
            ),
        ];
        let t = totals(&items);
        snap(
            "health",
            &health("all connectors", &rank(items), &t, at(), at(), None),
        );
        let c = conn("bad_1", "billing", "broken", "2026-11-25T09:30:00Z");
        let h = assess(&c, 2, at());
        let event = StoredEvent {
            id: 7,
            received_at: at(),
            dedupe_key: "k".into(),
            event: "sync_end".into(),
            connector_id: Some("bad_1".into()),
            connector_name: Some("billing".into()),
            connector_type: Some("postgres".into()),
            sync_id: Some("s1".into()),
            status: Some("FAILURE_WITH_TASK".into()),
            handling: "diagnose".into(),
            payload: Value::Null,
        };
        snap(
            "status",
            &status(
                &c,
                &h,
                (
                    crate::remediation::policy::Mode::Approve,
                    "policy.default_mode",
                ),
                &[event],
                &[],
            ),
        );
        snap(
            "subscribed",
            &subscribed("*billing* (`bad_1`)", "C0TEAM0001", true, None),
        );
        snap(
            "subscribed_unknown_group",
            &subscribed(
                "group `projected_sickel`",
                "C0TEAM0001",
                true,
                Some(&["projected_sickle".into()]),
            ),
        );
        snap(
            "unsubscribed",
            &unsubscribed(
                "*billing* (`bad_1`)",
                "C0TEAM0001",
                true,
                Some("C0ALERTS01"),
            ),
        );
        let sub = Subscription {
            scope: crate::store::subscriptions::Scope::Group("g1".into()),
            channel: "C0TEAM0001".into(),
            label: "group `g1`".into(),
            created_by: "U0ALICE001".into(),
            created_at: at(),
        };
        snap("subscriptions", &subscriptions(&[sub], None, "C0ALERTS01"));
        snap(
            "proposal_requested",
            &proposal_requested(
                "U0ALICE001",
                "*billing* (`bad_1`)",
                &Action::SetSyncFrequency { minutes: 720 },
                "p_0123",
            ),
        );
        let record = AuditRecord::seal(
            1,
            at(),
            crate::store::audit::AuditEntry::by("subscription_added", "U0ALICE001")
                .connector(Some("bad_1"))
                .detail(json!({"scope": "connector:bad_1", "channel": "C0TEAM0001"})),
            crate::store::audit::GENESIS_HASH.into(),
        );
        snap("audit", &audit(&[record], "`bad_1`", true));
        snap(
            "snoozed",
            &snoozed(
                "*billing* (`bad_1`)",
                at() + chrono::Duration::hours(2),
                true,
            ),
        );
        snap(
            "unsnoozed",
            &unsnoozed(
                "*billing* (`bad_1`)",
                Some(at() + chrono::Duration::hours(2)),
            ),
        );
        snap(
            "fivetran_unavailable",
            &fivetran_unavailable(
                "check connector health",
                "HTTP 503 ServiceUnavailable: try later",
            ),
        );
    }

    #[test]
    fn mode_replies_snapshot() {
        use crate::remediation::policy::Mode;
        let v = ModeView {
            label: "*pg_prod* (`speak_inexpensive`)",
            mode: Mode::Auto,
            source: "set by <@U0ALICE001> with /fivetran mode at 2026-11-25 10:00 UTC",
            configured: Mode::Approve,
        };
        snap("mode_shown", &mode_shown(&v));
        snap(
            "mode_changed",
            &mode_changed("U0ALICE001", &v, Mode::Approve, true),
        );
        let refused = mode_refused("You can't change the mode: you are not an approver for this connector; ask one of: <@U0OWNER01>.");
        snap("mode_refused", &refused);
        assert_eq!(
            mode_changed("U1", &v, Mode::Approve, false)["response_type"],
            "in_channel"
        );
        assert_eq!(mode_shown(&v)["response_type"], "ephemeral");
    }

    #[test]
    fn proposal_announcement_is_in_channel_and_names_the_requester() {
        let v = proposal_requested("U0ALICE", "*pg_prod*", &Action::PauseConnector, "p_1");
        check(&v);
        assert_eq!(v["response_type"], "in_channel");
        assert_eq!(
            v["text"],
            "<@U0ALICE> asked to *pause the connector* for *pg_prod*. An approver can Approve or Reject it on the message below."
        );
    }
}
