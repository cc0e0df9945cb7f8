//! Rejecting with a reason: the Reject button opens a modal (`views.open`) asking why; the
//! submitted reason is shown in the updated alert and audited. If the modal cannot be opened
//! the proposal is rejected without a reason, through the same compare-and-swap.

use super::decide::{decide, Decided, RejectPrompt, Request, Verb};
use crate::app::SharedState;
use crate::slack::interaction::Click;
use crate::store::StoreError;

/// Rejects from the click itself, without a reason (the modal could not be shown).
pub fn reject_without_modal(
    state: &SharedState,
    click: &Click,
    prompt: &RejectPrompt,
    modal_error: Option<&str>,
) -> Result<Decided, StoreError> {
    if let Some(e) = modal_error {
        tracing::warn!(proposal = %prompt.proposal_id, error = %e, "reject modal unavailable; rejecting without a reason");
    }
    decide(
        state,
        &Request {
            user: &click.user_id,
            value: &click.value,
            channel: click.channel_id.as_deref(),
            message_ts: click.message_ts.as_deref(),
            verb: Verb::Reject { reason: None },
        },
    )
}
