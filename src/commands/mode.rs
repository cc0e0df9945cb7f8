//! `/fivetran mode <connector> [monitor|approve|auto|default]`: shows a connector's rollout
//! mode and where it comes from, or (approvers of that connector only) sets it. The override
//! is stored in sled and survives restarts; `default` removes it so the configuration decides
//! again. Every change and every refused change is audited. Setting a mode also re-arms the
//! auto-mode breaker.

use super::{resolve, storage_failure, Context, Mode as Fetch, Outcome};
use crate::app::SharedState;
use crate::remediation::authorize;
use crate::remediation::policy::{ModeOverride, ModeSource};
use crate::slack::command::ModeChange;
use crate::slack::replies::{self, ModeView};
use crate::store::audit::AuditEntry;

pub async fn run(
    state: &SharedState,
    ctx: &Context,
    word: &str,
    change: Option<ModeChange>,
    fetch: Fetch,
) -> Outcome {
    let entry = match resolve(state, word, fetch).await? {
        Ok(e) => e,
        Err(reply) => return Ok(reply),
    };
    let label = replies::connector_label(entry.name.as_deref(), &entry.id);
    let group = entry.group_id.as_deref();
    let current = match state.store.mode_override(&entry.id) {
        Ok(o) => o,
        Err(e) => return Ok(storage_failure(e)),
    };
    let (before, source) = state.policy.mode(&entry.id, group, current.as_ref());
    let (configured, configured_source) = state.policy.configured_mode(&entry.id, group);
    let Some(change) = change else {
        return Ok(replies::mode_shown(&ModeView {
            label: &label,
            mode: before,
            source: &source.describe(),
            configured,
        }));
    };

    authorize::refresh_groups_for(state, &ctx.user, &entry.id, group).await;
    if let Err(refusal) = authorize::approver(state, &ctx.user, &entry.id, group) {
        let why = refusal
            .message()
            .replace("You can't decide on this fix", "You can't change the mode");
        let written = state.store.transact(state.now(), |tx| {
            tx.audit(
                AuditEntry::by("mode_change_denied", &ctx.user)
                    .connector(Some(&entry.id))
                    .detail(serde_json::json!({
                        "requested": match change {
                            ModeChange::Set(m) => m.as_str(),
                            ModeChange::Default => "default",
                        },
                        "mode": before,
                        "reason": refusal.code(),
                    })),
            )
        });
        if let Err(e) = written {
            return Ok(storage_failure(e));
        }
        return Ok(replies::mode_refused(&why));
    }

    let now = state.now();
    let new_override = match change {
        ModeChange::Set(m) => Some(ModeOverride {
            mode: m,
            set_by: ctx.user.clone(),
            set_at: now,
        }),
        ModeChange::Default => None,
    };
    let (after, after_source) = match &new_override {
        Some(o) => (
            o.mode,
            ModeSource::Command {
                by: o.set_by.clone(),
                at: o.set_at,
            },
        ),
        None => (configured, configured_source),
    };
    let rearmed = state.store.transact(now, |tx| {
        tx.set_mode_override(&entry.id, new_override.as_ref())?;
        let rearmed = crate::remediation::auto::reset_breaker(tx, &entry.id)?;
        tx.audit(
            AuditEntry::by("mode_changed", &ctx.user)
                .connector(Some(&entry.id))
                .detail(serde_json::json!({
                    "from": before,
                    "from_source": source.describe(),
                    "to": after,
                    "to_source": after_source.describe(),
                    "override": new_override.is_some(),
                    "breaker_rearmed": rearmed,
                })),
        )?;
        Ok(rearmed)
    });
    let rearmed = match rearmed {
        Ok(r) => r,
        Err(e) => return Ok(storage_failure(e)),
    };
    if let Err(e) = state.store.flush().await {
        tracing::error!(error = %e, "flush after mode change failed");
    }
    tracing::info!(connector = %entry.id, user = %ctx.user, mode = after.as_str(), "mode changed");
    Ok(replies::mode_changed(
        &ctx.user,
        &ModeView {
            label: &label,
            mode: after,
            source: &after_source.describe(),
            configured,
        },
        before,
        rearmed,
    ))
}
