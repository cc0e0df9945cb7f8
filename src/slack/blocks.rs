//! Block Kit rendering of alerts. Everything user-supplied is escaped and clipped to Slack's
//! limits here, so no caller has to remember to.

use super::proposal_status;
use crate::diagnosis::classify::Category;
use crate::incidents::snooze::Snooze;
use crate::incidents::Incident;
use crate::remediation::proposal::Proposal;
use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_BUTTON_VALUE: usize = 2000;
pub const MAX_ID: usize = 255;
pub const MAX_FALLBACK_TEXT: usize = 4000;

pub const ACTION_APPROVE: &str = "approve";
pub const ACTION_REJECT: &str = "reject";
pub const ACTION_OPEN: &str = "open_dashboard";
pub const ACTION_UNDO: &str = "undo";
pub const ACTIONS_BLOCK_ID: &str = "proposal-actions";
pub const ACTION_SNOOZE_1H: &str = "snooze_1h";
pub const ACTION_SNOOZE_24H: &str = "snooze_24h";

/// "45 s", "18 min", "2 h 5 min", "3 d 4 h".
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => match (s / 3600, (s % 3600) / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        s => match (s / 86_400, (s % 86_400) / 3600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

fn clock_label(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts to at most `max` characters, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(crate) fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(md!(clip(&text, MAX_SECTION_TEXT)))
        .into()
}

pub(crate) fn field(label: &str, value: &str) -> SlackBlockText {
    md!(clip(
        &format!("*{label}*\n{}", escape(value)),
        MAX_FIELD_TEXT
    ))
}

pub(crate) fn time_label(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn dashboard_link(dashboard_url: &str, connector_id: &str) -> String {
    format!(
        "{}/{}/status",
        dashboard_url.trim_end_matches('/'),
        connector_id
    )
}

pub(crate) fn category_emoji(c: Category) -> &'static str {
    match c {
        Category::Auth | Category::Permissions => ":closed_lock_with_key:",
        Category::RateLimit | Category::QuotaBilling => ":hourglass_flowing_sand:",
        Category::Network | Category::SourceUnavailable => ":electric_plug:",
        _ => ":red_circle:",
    }
}

fn connector_label(i: &Incident) -> String {
    let name = i.connector_name.as_deref().unwrap_or(&i.connector_id);
    match &i.connector_type {
        Some(t) => format!("{name} ({t})"),
        None => name.to_string(),
    }
}

/// The alert message for an incident, in its current state.
pub fn incident_message(
    incident: &Incident,
    proposal: Option<&Proposal>,
    dashboard_url: &str,
    now: DateTime<Utc>,
    snooze: Option<&Snooze>,
) -> SlackMessageContent {
    let c = &incident.classification;
    let label = connector_label(incident);
    let link = dashboard_link(dashboard_url, &incident.connector_id);
    let mut blocks: Vec<SlackBlock> = Vec::new();

    // A fix someone asked for with `/fivetran` is not a failure: say what was asked.
    let requested = incident.event == crate::incidents::requested::EVENT;
    let recovered = !requested && !incident.is_open();
    let title = match (requested, proposal) {
        (true, Some(p)) => format!("Requested: {} — {label}", p.action.label()),
        (true, None) => format!("Requested: {label}"),
        (false, _) if recovered => format!("Recovered: {label}"),
        (false, _) if incident.failures > 1 => format!(
            "Sync failed {}× since {}: {label}",
            incident.failures,
            clock_label(incident.opened_at)
        ),
        (false, _) => format!("Sync failed: {label}"),
    };
    let header = clip(&title, MAX_HEADER_TEXT);
    blocks.push(SlackHeaderBlock::new(pt!(header.clone())).into());

    blocks.push(section(if requested {
        format!(
            ":raising_hand: *Requested fix* — {}",
            escape(&incident.summary.cause)
        )
    } else {
        format!(
            "{} *{}* — {}",
            category_emoji(c.category),
            c.category.label(),
            escape(&incident.summary.cause)
        )
    }));

    if let (true, Some(at)) = (recovered, incident.recovered_at) {
        blocks.push(section(format!(
            ":white_check_mark: *Recovered* at {} after {} failure{}, {}.",
            time_label(at),
            incident.failures,
            if incident.failures == 1 { "" } else { "s" },
            human_duration(at - incident.opened_at)
        )));
    }
    if let Some(z) = snooze.filter(|z| !recovered && z.is_active(now)) {
        blocks.push(section(format!(
            ":zzz: Snoozed by <@{}> until {}: failures are counted, not posted.",
            escape(&z.by),
            time_label(z.until)
        )));
    }
    if let Some(ended) = incident.snooze_ended.as_ref().filter(|_| !recovered) {
        blocks.push(section(format!(
            ":alarm_clock: {}",
            snooze_ended_text(ended)
        )));
    }

    let mut fields = vec![
        field(
            "Connector",
            &format!("{} · {}", label, incident.connector_id),
        ),
        field("Event", &incident.event),
        if requested {
            field(
                "Requested by",
                proposal.map(|p| p.requested_by.as_str()).unwrap_or("?"),
            )
        } else {
            field(
                "Diagnosis",
                &format!(
                    "{} · {} · confidence {:.0}%",
                    c.category.as_str(),
                    if c.transient {
                        "transient"
                    } else {
                        "needs a person"
                    },
                    c.confidence * 100.0
                ),
            )
        },
        field("Seen", &time_label(incident.opened_at)),
    ];
    if incident.failures > 1 {
        fields.push(field(
            "Failures",
            &format!(
                "{} · last {}",
                incident.failures,
                time_label(incident.last_failure_at.unwrap_or(incident.opened_at))
            ),
        ));
    }
    if let Some(g) = &incident.group_id {
        fields.push(field("Group", g));
    }
    fields.truncate(MAX_FIELDS);
    blocks.push(SlackSectionBlock::new().with_fields(fields).into());

    if !incident.summary.evidence.is_empty() {
        let mut text = String::from("*Evidence*");
        for item in &incident.summary.evidence {
            text.push_str(&format!("\n• {}", escape(item)));
        }
        blocks.push(section(text));
    }
    if let Some(why) = &incident.summary.details_unavailable {
        blocks.push(section(format!(
            ":warning: Connection details unavailable ({}); this is what the webhook said.",
            escape(why)
        )));
    }

    let mut next = format!("*Next step*\n{}", escape(&incident.summary.next_step));
    if let Some(p) = proposal {
        // The approval is pinned to this exact call: the hash is what the buttons carry.
        next.push_str(&format!(
            "\n`{}` · sha256 `{}`",
            escape(&p.call.display()),
            crate::remediation::proposal::short_hash(&p.call_hash())
        ));
    }
    blocks.push(section(next));

    if let Some(line) = proposal.and_then(|p| proposal_status::status_line(p, now)) {
        blocks.push(section(line));
    }
    let buttons = proposal
        .map(|p| proposal_status::buttons(p, now))
        .unwrap_or_default();
    let snoozable = (!requested && !recovered).then_some(incident.id.as_str());
    blocks.push(action_buttons(buttons, &link, snoozable));

    let mut context = format!(
        "syncwarden · summary: {} · incident {}",
        incident.summary.source, incident.id
    );
    if let Some(storm) = &incident.storm_id {
        context.push_str(&format!(" · part of {storm} (see the grouped message)"));
    }
    push_context(&mut blocks, context, proposal);

    let status = proposal
        .map(|p| format!(" [{}]", p.state.as_str()))
        .unwrap_or_default();
    let text = clip(
        &format!(
            "{}: {}{} — {}",
            if requested {
                "Requested"
            } else if recovered {
                "Recovered"
            } else {
                "Sync failed"
            },
            escape(&label),
            status,
            escape(&incident.summary.cause)
        ),
        MAX_FALLBACK_TEXT,
    );
    SlackMessageContent::new()
        .with_text(text)
        .with_blocks(blocks)
}

/// The message's buttons: the decision ones for the proposal's state, the dashboard link,
/// then snoozing (for an open failure).
/// Ends a message with its context line (what it is, and the proposal's id, risk and expiry)
/// and keeps it within Slack's block limit.
pub(crate) fn push_context(
    blocks: &mut Vec<SlackBlock>,
    mut context: String,
    proposal: Option<&Proposal>,
) {
    if let Some(p) = proposal {
        context.push_str(&format!(
            " · proposal {} · risk {} · expires {}",
            p.id,
            p.risk.as_str(),
            time_label(p.expires_at)
        ));
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(clip(&escape(&context), MAX_SECTION_TEXT)),
        )])
        .into(),
    );
    blocks.truncate(MAX_BLOCKS);
}

pub(crate) fn action_buttons(
    mut elements: Vec<SlackActionBlockElement>,
    link: &str,
    snooze_incident: Option<&str>,
) -> SlackBlock {
    let mut open =
        SlackBlockButtonElement::new(pt!("Open in Fivetran")).with_action_id(ACTION_OPEN.into());
    if let Ok(url) = url::Url::parse(link) {
        open = open.with_url(url);
    }
    elements.push(open.into());
    if let Some(incident_id) = snooze_incident {
        for (action_id, label) in [
            (ACTION_SNOOZE_1H, "Snooze 1h"),
            (ACTION_SNOOZE_24H, "Snooze 24h"),
        ] {
            elements.push(
                SlackBlockButtonElement::new(pt!(label))
                    .with_action_id(action_id.into())
                    .with_value(incident_id.to_string())
                    .into(),
            );
        }
    }
    SlackActionsBlock::new(elements)
        .with_block_id(ACTIONS_BLOCK_ID.into())
        .into()
}

fn snooze_ended_text(e: &crate::incidents::SnoozeEnded) -> String {
    format!(
        "Snoozed by <@{}> until {}; still failing when the snooze ended ({} failure{} so far).",
        escape(&e.by),
        time_label(e.until),
        e.failures,
        if e.failures == 1 { "" } else { "s" }
    )
}

/// A reply in an alert's thread: another failure of the same streak, or the end of a snooze.
pub fn thread_reply(incident: &Incident, tag: &str) -> SlackMessageContent {
    let text = if tag.starts_with("snooze_end") {
        format!(
            ":alarm_clock: {}",
            incident
                .snooze_ended
                .as_ref()
                .map(snooze_ended_text)
                .unwrap_or_else(|| "The snooze ended.".into())
        )
    } else {
        let at = incident.last_failure_at.unwrap_or(incident.opened_at);
        format!(
            ":repeat: Failed again at {} ({}× since {}) — {}: {}",
            time_label(at),
            incident.failures,
            clock_label(incident.opened_at),
            incident.classification.category.label(),
            escape(&clip(
                incident
                    .last_reason
                    .as_deref()
                    .unwrap_or(&incident.summary.cause),
                500
            ))
        )
    };
    let text = clip(&text, MAX_SECTION_TEXT);
    SlackMessageContent::new()
        .with_text(text.clone())
        .with_blocks(vec![section(text)])
}

/// Checks a rendered message against Slack's documented limits; returns every violation.
pub fn limit_violations(message: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let text_len = |v: &serde_json::Value| {
        v.get("text")
            .and_then(|t| t.as_str())
            .map(|s| s.chars().count())
            .unwrap_or(0)
    };
    match message.get("text").and_then(|t| t.as_str()) {
        Some(t) if !t.trim().is_empty() => {}
        _ => out.push("missing top-level text fallback".into()),
    }
    let empty = Vec::new();
    let blocks = message
        .get("blocks")
        .and_then(|b| b.as_array())
        .unwrap_or(&empty);
    if blocks.len() > MAX_BLOCKS {
        out.push(format!("{} blocks > {MAX_BLOCKS}", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        let kind = b.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if let Some(id) = b.get("block_id").and_then(|t| t.as_str()) {
            if id.len() > MAX_ID {
                out.push(format!("block {i}: block_id too long"));
            }
        }
        match kind {
            "header" => {
                let t = b.get("text").cloned().unwrap_or_default();
                if t.get("type").and_then(|x| x.as_str()) != Some("plain_text") {
                    out.push(format!("block {i}: header text must be plain_text"));
                }
                if text_len(&t) > MAX_HEADER_TEXT {
                    out.push(format!("block {i}: header > {MAX_HEADER_TEXT}"));
                }
            }
            "section" => {
                if let Some(t) = b.get("text") {
                    if text_len(t) > MAX_SECTION_TEXT {
                        out.push(format!("block {i}: section text > {MAX_SECTION_TEXT}"));
                    }
                }
                if let Some(f) = b.get("fields").and_then(|f| f.as_array()) {
                    if f.len() > MAX_FIELDS {
                        out.push(format!("block {i}: {} fields > {MAX_FIELDS}", f.len()));
                    }
                    for x in f {
                        if text_len(x) > MAX_FIELD_TEXT {
                            out.push(format!("block {i}: field > {MAX_FIELD_TEXT}"));
                        }
                    }
                }
            }
            "actions" => {
                let elements = b
                    .get("elements")
                    .and_then(|e| e.as_array())
                    .unwrap_or(&empty);
                if elements.len() > 25 {
                    out.push(format!("block {i}: more than 25 elements"));
                }
                for e in elements {
                    if let Some(t) = e.get("text") {
                        if text_len(t) > MAX_BUTTON_TEXT {
                            out.push(format!("block {i}: button text > {MAX_BUTTON_TEXT}"));
                        }
                    }
                    if let Some(v) = e.get("value").and_then(|v| v.as_str()) {
                        if v.len() > MAX_BUTTON_VALUE {
                            out.push(format!("block {i}: button value too long"));
                        }
                    }
                    if let Some(a) = e.get("action_id").and_then(|v| v.as_str()) {
                        if a.len() > MAX_ID {
                            out.push(format!("block {i}: action_id too long"));
                        }
                    }
                }
            }
            "context" | "divider" => {}
            other => out.push(format!("block {i}: unexpected type {other:?}")),
        }
    }
    out
}

/// Plain-text rendering of a Block Kit message, for the demo and the CLI.
pub fn render_text(message: &serde_json::Value) -> String {
    let mut out = String::new();
    let texts = |v: &serde_json::Value| -> String {
        v.get("text")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_string()
    };
    let empty = Vec::new();
    for b in message
        .get("blocks")
        .and_then(|b| b.as_array())
        .unwrap_or(&empty)
    {
        match b.get("type").and_then(|t| t.as_str()).unwrap_or("") {
            "header" => out.push_str(&format!("## {}\n", texts(b.get("text").unwrap_or(b)))),
            "section" => {
                if let Some(t) = b.get("text") {
                    out.push_str(&format!("{}\n", texts(t)));
                }
                for f in b.get("fields").and_then(|f| f.as_array()).unwrap_or(&empty) {
                    out.push_str(&format!("  {}\n", texts(f).replace('\n', ": ")));
                }
            }
            "actions" => {
                let buttons: Vec<String> = b
                    .get("elements")
                    .and_then(|e| e.as_array())
                    .unwrap_or(&empty)
                    .iter()
                    .map(|e| format!("[ {} ]", texts(e.get("text").unwrap_or(e))))
                    .collect();
                out.push_str(&format!("{}\n", buttons.join(" ")));
            }
            "context" => {
                for e in b
                    .get("elements")
                    .and_then(|e| e.as_array())
                    .unwrap_or(&empty)
                {
                    out.push_str(&format!("({})\n", texts(e)));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_clips() {
        assert_eq!(escape("<a & b>"), "&lt;a &amp; b&gt;");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }

    #[test]
    fn limit_checker_finds_violations() {
        let bad = serde_json::json!({
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]
        });
        let v = limit_violations(&bad);
        assert!(v.iter().any(|s| s.contains("fallback")));
        assert!(v.iter().any(|s| s.contains("header")));
    }
}
