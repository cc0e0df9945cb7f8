//! Block Kit for a storm's grouped message: every member connector in one message, with the
//! group proposal, within Slack's limits (the list collapses with a count beyond what fits).

use super::blocks::{
    action_buttons, category_emoji, clip, escape, field, push_context, section, time_label,
    MAX_FALLBACK_TEXT, MAX_HEADER_TEXT, MAX_SECTION_TEXT,
};
use crate::diagnosis::summarize::cause_sentence;
use crate::incidents::storm::Storm;
use crate::incidents::Incident;
use crate::remediation::proposal::{Proposal, ProposalState};
use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

/// Member lines listed before the rest is collapsed into a count.
pub const MAX_LISTED_MEMBERS: usize = 100;
/// Sections the member list may take (leaves room for the rest of the message).
const MAX_LIST_SECTIONS: usize = 8;

fn member_line(storm: &Storm, i: usize, incident: Option<&Incident>) -> String {
    let m = &storm.members[i];
    let name = m.connector_name.as_deref().unwrap_or(&m.connector_id);
    let kind = m
        .connector_type
        .as_deref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    let state = match incident {
        Some(inc) if !inc.is_open() => ":white_check_mark: recovered".to_string(),
        Some(inc) if inc.failures > 1 => format!(":x: {}×", inc.failures),
        _ => ":x:".to_string(),
    };
    format!(
        "• {state} *{}*{} · `{}` — {}",
        escape(name),
        escape(&kind),
        escape(&m.connector_id),
        escape(&clip(&m.reason, 160))
    )
}

/// The grouped message. `incidents[i]` is the incident of `storm.members[i]`, if it exists.
pub fn storm_message(
    storm: &Storm,
    incidents: &[Option<Incident>],
    proposal: Option<&Proposal>,
    dashboard_url: &str,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let total = storm.members.len();
    let recovered = incidents
        .iter()
        .filter(|i| i.as_ref().is_some_and(|i| !i.is_open()))
        .count();
    let failing = total - recovered;
    let title = if storm.closed_at.is_some() {
        format!("Recovered: {total} connectors in group {}", storm.group_id)
    } else {
        format!(
            "{failing} connectors failing in group {} — {}",
            storm.group_id,
            storm.category.label()
        )
    };
    let mut blocks: Vec<SlackBlock> =
        vec![SlackHeaderBlock::new(pt!(clip(&title, MAX_HEADER_TEXT))).into()];
    blocks.push(section(format!(
        "{} *Storm: {}* — {} {total} connectors of destination group `{}` failed with the same cause within minutes; this one message covers them all.",
        category_emoji(storm.category),
        storm.category.label(),
        cause_sentence(storm.category),
        escape(&storm.group_id)
    )));
    blocks.push(
        SlackSectionBlock::new()
            .with_fields(vec![
                field("Group", &storm.group_id),
                field("Category", storm.category.as_str()),
                field("Since", &time_label(storm.opened_at)),
                field(
                    "Connectors",
                    &format!("{failing} failing · {recovered} recovered"),
                ),
            ])
            .into(),
    );

    // The member list, in as many sections as fit, then a count of the rest.
    let mut listed = 0;
    let mut current = String::new();
    let mut sections = 0;
    for i in 0..total.min(MAX_LISTED_MEMBERS) {
        let line = member_line(storm, i, incidents.get(i).and_then(|x| x.as_ref()));
        if current.chars().count() + line.chars().count() + 1 > MAX_SECTION_TEXT {
            if sections + 1 >= MAX_LIST_SECTIONS {
                break;
            }
            blocks.push(section(std::mem::take(&mut current)));
            sections += 1;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
        listed += 1;
    }
    if !current.is_empty() {
        blocks.push(section(current));
    }
    if listed < total {
        blocks.push(section(format!(
            "…and {} more connector{} (see `/fivetran health`).",
            total - listed,
            if total - listed == 1 { "" } else { "s" }
        )));
    }

    let next = match proposal {
        Some(p) => {
            let covered = p.batch.len();
            let mut t = format!(
                "*Next step*\nProposed: {} for the {covered} connector{} listed when it was proposed — one call each (risk: {}).\n`{}` × {covered}",
                p.action.label(),
                if covered == 1 { "" } else { "s" },
                p.risk.as_str(),
                escape(&p.call.display().replace(&p.connector_id, "{id}")),
            );
            if covered < total && p.state != ProposalState::Proposed {
                t.push_str(&format!(
                    "\n{} connector{} joined after the decision and {} not part of it.",
                    total - covered,
                    if total - covered == 1 { "" } else { "s" },
                    if total - covered == 1 { "is" } else { "are" }
                ));
            }
            t
        }
        None => "*Next step*\nA person has to fix the shared cause (see each connector's evidence in Fivetran); nothing can be retried automatically.".to_string(),
    };
    blocks.push(section(next));

    match proposal {
        Some(p) if p.state == ProposalState::Proposed && !p.is_expired(now) => {
            blocks.push(action_buttons(
                super::proposal_status::buttons(p, now),
                dashboard_url,
                None,
            ));
        }
        Some(p) => {
            let mut line = super::proposal_status::status_line(p, now).unwrap_or_default();
            let done: Vec<String> = p
                .batch
                .iter()
                .filter(|b| b.ok.is_some())
                .map(|b| {
                    format!(
                        "{} `{}` → {} {}",
                        if b.ok == Some(true) { "✓" } else { "✗" },
                        escape(&b.connector_id),
                        b.status
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "no answer".into()),
                        escape(&clip(&b.message, 80))
                    )
                })
                .collect();
            if !done.is_empty() {
                line.push('\n');
                line.push_str(&done.join("\n"));
            }
            blocks.push(section(line));
        }
        None => {}
    }
    push_context(&mut blocks, format!("syncwarden · {}", storm.id), proposal);
    SlackMessageContent::new()
        .with_text(clip(&escape(&title), MAX_FALLBACK_TEXT))
        .with_blocks(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::classify::{Category, SuggestedAction};
    use crate::incidents::storm::StormMember;
    use crate::slack::blocks::limit_violations;
    use crate::slack::blocks::MAX_BLOCKS;

    fn storm(n: usize) -> Storm {
        let now = Utc::now();
        Storm {
            id: "storm_1".into(),
            group_id: "g<1>".into(),
            category: Category::Destination,
            transient: true,
            suggested: SuggestedAction::RetrySync,
            opened_at: now,
            last_joined_at: now,
            post_after: now,
            members: (0..n)
                .map(|i| StormMember {
                    incident_id: format!("inc_{i}"),
                    connector_id: format!("conn_{i}"),
                    connector_name: Some(format!("name_{i}_{}", "x".repeat(40))),
                    connector_type: Some("postgres".into()),
                    reason: "Warehouse <down> & out: ".repeat(8),
                    joined_at: now,
                })
                .collect(),
            proposal_id: None,
            channels: vec!["C1".into()],
            messages: Vec::new(),
            posting: Vec::new(),
            closed_at: None,
        }
    }

    #[test]
    fn a_huge_storm_collapses_within_slack_limits() {
        let s = storm(400);
        let msg = storm_message(&s, &vec![None; 400], None, "https://x", Utc::now());
        let v = serde_json::to_value(&msg).unwrap();
        assert!(
            limit_violations(&v).is_empty(),
            "{:?}",
            limit_violations(&v)
        );
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        let text = crate::slack::blocks::render_text(&v);
        assert!(
            text.contains("more connectors (see `/fivetran health`)"),
            "{text}"
        );
        assert!(text.contains("&lt;down&gt; &amp; out"), "escaped: {text}");
        assert!(text.contains("400 connectors failing in group g<1>"));
    }

    #[test]
    fn a_small_storm_lists_everyone() {
        let s = storm(6);
        let msg = storm_message(&s, &vec![None; 6], None, "https://x", Utc::now());
        let text = crate::slack::blocks::render_text(&serde_json::to_value(&msg).unwrap());
        for i in 0..6 {
            assert!(text.contains(&format!("`conn_{i}`")), "{text}");
        }
        assert!(!text.contains("more connector"));
    }
}
