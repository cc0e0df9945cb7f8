//! Working out why a sync failed: deterministic classification, a readable summary, and
//! redaction of anything secret in the evidence.

pub mod classify;
pub mod llm;
pub mod redact;
pub mod summarize;

use crate::fivetran::model::Connection;
use crate::fivetran::webhook::WebhookEvent;
use classify::{FailureSignals, Notice};

/// Everything the classifier should see about one failure.
pub fn signals(event: &WebhookEvent, details: Option<&Connection>) -> FailureSignals {
    let notice = |code: &str, message: &str, details: &str| Notice {
        code: code.to_string(),
        message: message.to_string(),
        details: details.to_string(),
    };
    let mut s = FailureSignals {
        reason: event.reason().unwrap_or_default().to_string(),
        status: event.status().map(str::to_string),
        task_type: event.task_type().map(str::to_string),
        connector_type: event.connector_type.clone(),
        ..FailureSignals::default()
    };
    if let Some(c) = details {
        if s.connector_type.is_none() {
            s.connector_type = c.service.clone();
        }
        s.setup_state = c.status.setup_state.clone();
        s.sync_state = c.status.sync_state.clone();
        s.update_state = c.status.update_state.clone();
        s.tasks = c
            .status
            .tasks
            .iter()
            .map(|t| notice(&t.code, &t.message, &t.details))
            .collect();
        s.warnings = c
            .status
            .warnings
            .iter()
            .map(|t| notice(&t.code, &t.message, &t.details))
            .collect();
        s.failing_setup_tests = c
            .failing_setup_tests()
            .map(|t| notice(&t.title, &t.message, &t.details))
            .collect();
    }
    s
}
