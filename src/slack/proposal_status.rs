//! How a proposal's governance shows in its alert: which buttons it gets (Approve / Reject
//! while open, Undo after a reversible success, none in monitor mode) and the status line
//! (approvals so far, who decided, the reason for a reject or a skip, what auto mode did).

use super::blocks::{clip, escape, ACTION_APPROVE, ACTION_REJECT, ACTION_UNDO, MAX_BUTTON_TEXT};
use crate::remediation::decide::button_value;
use crate::remediation::policy::Mode;
use crate::remediation::proposal::{Proposal, ProposalState};
use crate::remediation::undo;
use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

fn time_label(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Whether the proposal can still be approved from its message.
pub fn is_open(p: &Proposal, now: DateTime<Utc>) -> bool {
    p.state == ProposalState::Proposed && !p.is_expired(now) && p.governance.mode != Mode::Monitor
}

/// The decision buttons for the proposal's current state.
pub fn buttons(p: &Proposal, now: DateTime<Utc>) -> Vec<SlackActionBlockElement> {
    let mut out: Vec<SlackActionBlockElement> = Vec::new();
    if is_open(p, now) {
        let value = button_value(p);
        out.push(
            SlackBlockButtonElement::new(pt!(clip(
                &format!("Approve: {}", p.action.label()),
                MAX_BUTTON_TEXT
            )))
            .with_action_id(ACTION_APPROVE.into())
            .with_value(value.clone())
            .with_style(SlackBlockButtonStyle::Primary)
            .into(),
        );
        out.push(
            SlackBlockButtonElement::new(pt!("Reject"))
                .with_action_id(ACTION_REJECT.into())
                .with_value(value)
                .with_style(SlackBlockButtonStyle::Danger)
                .into(),
        );
    } else if let Some(undo_action) = undo::offer(p) {
        out.push(
            SlackBlockButtonElement::new(pt!(clip(
                &format!("Undo: {}", undo_action.label()),
                MAX_BUTTON_TEXT
            )))
            .with_action_id(ACTION_UNDO.into())
            .with_value(p.id.clone())
            .into(),
        );
    }
    out
}

fn approvers(p: &Proposal) -> String {
    let list: Vec<String> = if p.governance.approvals.is_empty() {
        p.decision
            .iter()
            .map(|d| format!("<@{}> at {}", escape(&d.user), time_label(d.at)))
            .collect()
    } else {
        p.governance
            .approvals
            .iter()
            .map(|d| format!("<@{}> at {}", escape(&d.user), time_label(d.at)))
            .collect()
    };
    if list.is_empty() {
        "?".into()
    } else {
        list.join(" and ")
    }
}

fn result_text(p: &Proposal) -> String {
    p.execution
        .as_ref()
        .map(|e| {
            let status = e
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no answer".into());
            let code = e.code.as_deref().unwrap_or("");
            format!(
                "\n`{}` → {} {} {}",
                escape(&p.call.display()),
                status,
                escape(code),
                escape(&clip(&e.message, 500))
            )
        })
        .unwrap_or_default()
}

/// The status line under the proposed call, if there is anything to say.
pub fn status_line(p: &Proposal, now: DateTime<Utc>) -> Option<String> {
    let mut line = main_line(p, now);
    if let Some(note) = &p.governance.note {
        push_line(&mut line, &format!(":information_source: {}", escape(note)));
    }
    if let Some(by) = &p.governance.undone_by {
        push_line(
            &mut line,
            &format!(
                ":leftwards_arrow_with_hook: Undo requested: proposal `{}` (posted below).",
                escape(by)
            ),
        );
    }
    if let Some(of) = &p.governance.undo_of {
        push_line(
            &mut line,
            &format!(
                ":leftwards_arrow_with_hook: This undoes proposal `{}`, restoring the value from just before it ran.",
                escape(of)
            ),
        );
    }
    (!line.is_empty()).then_some(line)
}

fn push_line(line: &mut String, text: &str) {
    if !line.is_empty() {
        line.push('\n');
    }
    line.push_str(text);
}

fn main_line(p: &Proposal, now: DateTime<Utc>) -> String {
    let who = approvers(p);
    let result = result_text(p);
    if p.governance.mode == Mode::Monitor
        && matches!(p.state, ProposalState::Proposed | ProposalState::Expired)
    {
        return ":eyes: *Monitor mode*: syncwarden only reports on this connector and will not run the call above. An approver can switch it with `/fivetran mode <connector> approve`.".into();
    }
    if let Some(run) = p.governance.auto {
        let which = format!(
            "automatic fix {} of {} today for this connector",
            run.nth, run.budget
        );
        match p.state {
            ProposalState::Approved | ProposalState::Executing => {
                return format!(":robot_face: *Auto mode* is running this ({which})…{result}")
            }
            ProposalState::Succeeded => {
                return format!(
                    ":robot_face: *Auto mode* ran this at once ({which}); done.{result}"
                )
            }
            ProposalState::Failed => {
                return format!(
                    ":robot_face: *Auto mode* ran this at once ({which}); the call failed.{result}"
                )
            }
            ProposalState::Skipped => {
                return format!(
                    ":robot_face: *Auto mode* approved this ({which}), but it was not run: {}.",
                    escape(p.governance.skip_reason.as_deref().unwrap_or("?"))
                )
            }
            _ => {}
        }
    }
    match p.state {
        ProposalState::Proposed if p.is_expired(now) => format!(
            ":hourglass: Expired at {} without a decision; nothing was run.",
            time_label(p.expires_at)
        ),
        ProposalState::Proposed => {
            let need = p.governance.required_approvals;
            let have = p.governance.approvals.len();
            match (need, have) {
                (n, 0) if n > 1 => format!(
                    ":busts_in_silhouette: Needs {n} different approvers (0 of {n} approvals)."
                ),
                (n, h) if n > 1 => format!(
                    ":busts_in_silhouette: {h} of {n} approvals: {who}. Needs another, different approver."
                ),
                _ => String::new(),
            }
        }
        ProposalState::Approved => format!(":white_check_mark: Approved by {who}; running…"),
        ProposalState::Executing => format!(":gear: Approved by {who}; running…{result}"),
        ProposalState::Succeeded => format!(":white_check_mark: Approved by {who}; done.{result}"),
        ProposalState::Failed => format!(":x: Approved by {who}; the call failed.{result}"),
        ProposalState::Rejected => {
            let by = p
                .decision
                .as_ref()
                .map(|d| format!("<@{}> at {}", escape(&d.user), time_label(d.at)))
                .unwrap_or_else(|| "?".into());
            match p.governance.reject_reason.as_deref().map(str::trim) {
                Some(reason) if !reason.is_empty() => format!(
                    ":no_entry_sign: Rejected by {by}; nothing was run.\n>Reason: {}",
                    escape(&clip(reason, 500)).replace('\n', "\n>")
                ),
                _ => format!(":no_entry_sign: Rejected by {by}; nothing was run."),
            }
        }
        ProposalState::Expired => format!(
            ":hourglass: Expired at {} without a decision; nothing was run.",
            time_label(p.expires_at)
        ),
        ProposalState::Interrupted => format!(
            ":warning: Approved by {who}, but interrupted before the result was known; not re-sent. Approve a new proposal to try again.{result}"
        ),
        ProposalState::Superseded => format!(
            ":heavy_minus_sign: Not needed any more ({}); nothing was run.",
            escape(p.superseded_reason.as_deref().unwrap_or("the connector recovered"))
        ),
        ProposalState::Skipped => format!(
            ":fast_forward: Approved by {who}, but not run: {}.",
            escape(p.governance.skip_reason.as_deref().unwrap_or("?"))
        ),
    }
}
