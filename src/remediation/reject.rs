//! Rejecting with a reason: the Reject button opens a modal (`views.open`, with the click's
//! `trigger_id`) asking why; the submission comes back as a `view_submission` on
//! `/slack/interactions`, and the reason is shown in the updated alert and audited. Whoever
//! submits is authorized again, and the reject is the same compare-and-swap as a click. If
//! the modal cannot be opened (no trigger, Slack error, slow answer) the proposal is rejected
//! at once without a reason, and the audit record says why.

use super::decide::{decide, Decided, RejectPrompt, Request, Verb};
use crate::app::SharedState;
use crate::slack::blocks::{clip, escape};
use crate::slack::interaction::{Click, Submission};
use crate::store::StoreError;
use slack_morphism::prelude::*;

pub const CALLBACK_ID: &str = "reject_reason";
pub const REASON_BLOCK: &str = "reason";
pub const REASON_ACTION: &str = "reason";
pub const MAX_REASON: usize = 500;
/// A trigger is valid for 3 s from the click; leave room for the acknowledgement.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(2000);

/// The modal asking for the reason.
pub fn modal(prompt: &RejectPrompt) -> SlackView {
    let metadata = serde_json::to_string(prompt).unwrap_or_default();
    SlackView::Modal(
        SlackModalView::new(
            SlackBlockPlainTextOnly::from("Reject this fix"),
            vec![
                SlackSectionBlock::new()
                    .with_text(md!(format!(
                        "*Reject:* {}\nNothing will run. Your reason is shown on the alert and kept in the audit log.",
                        escape(&clip(&prompt.summary, 500))
                    )))
                    .into(),
                SlackInputBlock::new(
                    SlackBlockPlainTextOnly::from("Reason (optional)"),
                    SlackInputBlockElement::PlainTextInput(
                        SlackBlockPlainTextInputElement::new()
                            .with_action_id(REASON_ACTION.into())
                            .with_multiline(true)
                            .with_max_length(MAX_REASON as u64)
                            .with_placeholder(SlackBlockPlainTextOnly::from(
                                "e.g. wrong connector; fixing it by hand",
                            )),
                    ),
                )
                .with_block_id(REASON_BLOCK.into())
                .with_optional(true)
                .into(),
            ],
        )
        .with_callback_id(CALLBACK_ID.into())
        .with_private_metadata(metadata)
        .with_submit(SlackBlockPlainTextOnly::from("Reject"))
        .with_close(SlackBlockPlainTextOnly::from("Cancel")),
    )
}

/// After a Reject click was found acceptable: open the modal, or reject at once if that fails.
pub async fn ask_reason(
    state: &SharedState,
    click: &Click,
    prompt: RejectPrompt,
) -> Result<Decided, StoreError> {
    let error = match click.trigger_id.as_deref() {
        None => "the click carried no trigger_id".to_string(),
        Some(trigger) => {
            match tokio::time::timeout(
                OPEN_TIMEOUT,
                state.slack.open_modal(trigger, modal(&prompt)),
            )
            .await
            {
                Ok(Ok(())) => return Ok(Decided::AskRejectReason(prompt)),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "views.open did not answer in time".to_string(),
            }
        }
    };
    tracing::warn!(error = %error, "reject modal unavailable; rejecting without a reason");
    decide(
        state,
        &Request {
            user: &click.user_id,
            value: &prompt.value,
            channel: click.channel_id.as_deref(),
            message_ts: click.message_ts.as_deref(),
            verb: Verb::Reject {
                reason: None,
                modal_error: Some(error),
            },
        },
    )
}

/// The modal was submitted. `None` if it is not ours.
pub fn submitted(state: &SharedState, s: &Submission) -> Option<Result<Decided, StoreError>> {
    if s.callback_id != CALLBACK_ID {
        return None;
    }
    let prompt: RejectPrompt = serde_json::from_str(&s.private_metadata).ok()?;
    let reason = s
        .value(REASON_BLOCK, REASON_ACTION)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        // Free text goes to Slack and the audit log: never with a secret in it.
        .map(|r| state.redactor.redact(&clip(r, MAX_REASON)));
    Some(decide(
        state,
        &Request {
            user: &s.user_id,
            value: &prompt.value,
            channel: prompt.channel.as_deref(),
            message_ts: prompt.message_ts.as_deref(),
            verb: Verb::Reject {
                reason,
                modal_error: None,
            },
        },
    ))
}
