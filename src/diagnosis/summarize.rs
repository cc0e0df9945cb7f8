//! The summary people read: probable cause, evidence, next step. This is the deterministic
//! template; an LLM summary, when configured, replaces the prose but never the proposal.

use super::classify::{Category, Classification};
use super::redact::Redactor;
use crate::fivetran::model::Connection;
use crate::fivetran::webhook::WebhookEvent;
use crate::remediation::action::Action;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// One sentence: what probably broke.
    pub cause: String,
    /// Facts that support it, each short.
    pub evidence: Vec<String>,
    /// What happens next: the proposed fix, or what a person has to do.
    pub next_step: String,
    /// `rules` for this template.
    pub source: String,
    /// Set when the connection details could not be fetched.
    pub details_unavailable: Option<String>,
}

const MAX_EVIDENCE_ITEM: usize = 300;

pub struct SummaryInput<'a> {
    pub event: &'a WebhookEvent,
    pub details: Option<&'a Connection>,
    pub details_error: Option<&'a str>,
    pub classification: &'a Classification,
    pub action: Option<&'a Action>,
    pub dashboard_link: &'a str,
    pub redactor: &'a Redactor,
}

pub fn cause_sentence(category: Category) -> &'static str {
    match category {
        Category::RateLimit => "The source API throttled Fivetran or a request quota ran out.",
        Category::Auth => "The source rejected Fivetran's credentials (wrong password, expired or revoked token).",
        Category::Permissions => "Fivetran's user can log in but lacks a grant, scope or object permission it needs.",
        Category::SourceUnavailable => "The source system is down, in maintenance, or out of resources.",
        Category::Network => "Fivetran could not hold a network connection to the system (refused, timed out or reset).",
        Category::SchemaChange => "The structure changed or conflicts between source, connector and destination.",
        Category::Destination => "The destination warehouse failed while loading.",
        Category::Config => "The connection's setup is wrong or unsupported (settings, missing objects, region).",
        Category::QuotaBilling => "An account-level quota, billing or credit limit was hit.",
        Category::Data => "The data itself could not be processed, or the change-log position the sync relies on is gone.",
        Category::Unknown => "Fivetran reported a failure without a recognisable cause.",
    }
}

fn human_step(category: Category, link: &str) -> String {
    let what = match category {
        Category::Auth => "Reconnect the connection with valid credentials",
        Category::Permissions => "Grant Fivetran's user the missing permission or scope",
        Category::Config => "Fix the connection's or the source's settings",
        Category::QuotaBilling => "Raise the quota or fix billing on the affected account",
        Category::SchemaChange => {
            "Decide how to reconcile the schema (re-sync the table or adjust the destination)"
        }
        Category::Data => "Fix or skip the bad records, or re-sync the affected table",
        Category::Destination => "Free space or resources on the destination warehouse",
        Category::Network => {
            "Check that the host is reachable from Fivetran (firewall, allowlist, DNS)"
        }
        Category::SourceUnavailable => "Check the source system's health",
        Category::RateLimit => "Lower the API usage or sync frequency",
        Category::Unknown => "Look at the sync logs",
    };
    format!("{what}, then re-run the setup tests in the Fivetran dashboard: {link}")
}

fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn template(input: &SummaryInput<'_>) -> Summary {
    let r = input.redactor;
    let mut evidence = Vec::new();
    let mut push = |label: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() {
            evidence.push(clip(
                &format!("{label}: {}", r.redact(value)),
                MAX_EVIDENCE_ITEM,
            ));
        }
    };
    if let Some(status) = input.event.status() {
        push("status", status);
    }
    if let Some(reason) = input.event.reason() {
        push("reason", reason);
    }
    if let Some(task) = input.event.task_type() {
        push("taskType", task);
    }
    if let Some(c) = input.details {
        let mut state = Vec::new();
        if let Some(v) = &c.status.setup_state {
            state.push(format!("setup {v}"));
        }
        if let Some(v) = &c.status.sync_state {
            state.push(format!("sync {v}"));
        }
        if let Some(v) = &c.status.update_state {
            state.push(format!("update {v}"));
        }
        push("state", &state.join(", "));
        for t in &c.status.tasks {
            push("task", &join_notice(&t.code, &t.message, &t.details));
        }
        for w in &c.status.warnings {
            push("warning", &join_notice(&w.code, &w.message, &w.details));
        }
        for t in c.failing_setup_tests() {
            push(
                "failing setup test",
                &join_notice(&t.title, &t.message, &t.details),
            );
        }
        if let Some(ok) = &c.succeeded_at {
            push("last success", ok);
        }
    }
    let top = input.classification.evidence.first();
    let mut cause = cause_sentence(input.classification.category).to_string();
    if let Some(ev) = top {
        if !ev.matched.is_empty() {
            cause.push_str(&format!(
                " Signal: “{}” in {}.",
                clip(&r.redact(&ev.matched), 120),
                ev.signal
            ));
        }
    }
    let next_step = match input.action {
        Some(a) => format!(
            "Proposed: {} — {} (risk: {}).",
            a.label(),
            a.effect(),
            a.risk().as_str()
        ),
        None => format!(
            "No automatic fix: a person has to act. {}",
            human_step(input.classification.category, input.dashboard_link)
        ),
    };
    Summary {
        cause,
        evidence,
        next_step,
        source: "rules".into(),
        details_unavailable: input.details_error.map(|e| clip(&r.redact(e), 200)),
    }
}

fn join_notice(code: &str, message: &str, details: &str) -> String {
    [code, message, details]
        .iter()
        .filter(|s| !s.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" — ")
}
