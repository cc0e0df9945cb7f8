//! Runs `/fivetran` subcommands. Each command runs first in [`Mode::CacheOnly`], inside the
//! HTTP request: if it can answer from the store alone it does. Anything that needs Fivetran
//! (health, status, a name the cached directory does not know) says so with
//! [`NeedsFivetran`]; the handler then acknowledges at once and runs it again in
//! [`Mode::Fetch`] in the background, posting the answer to Slack's `response_url`.

pub mod directory;
pub mod listing;
pub mod mode;

use crate::app::SharedState;
use crate::fivetran::model::Connection;
use crate::health::{assess, rank, totals};
use crate::incidents::requested::{requested, Request, EVENT as REQUESTED_EVENT};
use crate::remediation::proposal::ProposalState;
use crate::slack::command::{did_you_mean, Command, Target};
use crate::slack::replies;
use crate::store::audit::AuditEntry;
use crate::store::jobs::JobKind;
use crate::store::subscriptions::{DirectoryEntry, Scope, Subscription};
use directory::Resolved;
use serde_json::Value;
use std::collections::HashMap;

/// Who asked, where, and how.
#[derive(Debug, Clone)]
pub struct Context {
    pub user: String,
    pub channel: String,
    /// The slash command itself, e.g. `/fivetran`.
    pub command: String,
    /// What followed it.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer from the store only; never wait on Fivetran.
    CacheOnly,
    /// Ask Fivetran as needed.
    Fetch,
}

/// The command needs Fivetran; the text says what is being fetched (for the acknowledgement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsFivetran(pub String);

pub(crate) type Outcome = Result<Value, NeedsFivetran>;

pub(crate) fn storage_failure(e: impl std::fmt::Display) -> Value {
    tracing::error!(error = %e, "slash command could not use the store");
    replies::failure(
        "syncwarden could not read or write its store; nothing was changed. Try again shortly.",
    )
}

/// A connector resolved, or the reply explaining why not.
pub(crate) async fn resolve(
    state: &SharedState,
    word: &str,
    mode: Mode,
) -> Result<Result<DirectoryEntry, Value>, NeedsFivetran> {
    if let Some(d) = directory::fresh(state) {
        match directory::resolve_in(&d, word) {
            Resolved::One(e) => return Ok(Ok(e)),
            Resolved::Ambiguous(list) => return Ok(Err(replies::ambiguous_connector(word, &list))),
            // Maybe created since the last listing: ask Fivetran below.
            Resolved::Unknown { .. } => {}
        }
    }
    if mode == Mode::CacheOnly {
        return Err(NeedsFivetran(format!(
            "Looking up `{}` in Fivetran",
            crate::slack::blocks::clip(word, 60)
        )));
    }
    let d = match directory::refresh(state).await {
        Ok(d) => d,
        Err(e) => {
            return Ok(Err(replies::fivetran_unavailable(
                "look up that connector",
                &e,
            )))
        }
    };
    Ok(match directory::resolve_in(&d, word) {
        Resolved::One(e) => Ok(e),
        Resolved::Ambiguous(list) => Err(replies::ambiguous_connector(word, &list)),
        Resolved::Unknown { suggestions } => Err(replies::unknown_connector(word, &suggestions)),
    })
}

fn failures_last_7_days(state: &SharedState) -> HashMap<String, usize> {
    let since = state.now() - chrono::Duration::days(7);
    let mut out = HashMap::new();
    for i in state.store.incidents().unwrap_or_default() {
        // A streak counts each of its failures (approximately: all of them once its latest
        // failure falls in the window).
        if i.last_failure_at.unwrap_or(i.opened_at) >= since && i.event != REQUESTED_EVENT {
            *out.entry(i.connector_id).or_insert(0) += i.failures.max(1) as usize;
        }
    }
    out
}

/// Runs one parsed command.
pub async fn execute(state: &SharedState, ctx: &Context, cmd: &Command, mode: Mode) -> Outcome {
    match cmd {
        Command::Help => Ok(replies::help(&ctx.command)),
        Command::Health { target } => health(state, target.as_ref(), mode).await,
        Command::Status { connector } => status(state, connector, mode).await,
        Command::Subscribe { target, channel } => {
            subscribe(state, ctx, target, channel.as_deref(), mode).await
        }
        Command::Unsubscribe { target, channel } => {
            unsubscribe(state, ctx, target, channel.as_deref(), mode).await
        }
        Command::Subscriptions { channel } => Ok(match state.store.subscriptions() {
            Ok(subs) => {
                let subs: Vec<Subscription> = subs
                    .into_iter()
                    .filter(|s| channel.as_deref().is_none_or(|c| c == s.channel))
                    .collect();
                replies::subscriptions(
                    &subs,
                    channel.as_deref(),
                    &state.settings.slack_default_channel,
                )
            }
            Err(e) => storage_failure(e),
        }),
        Command::Propose { connector, action } => {
            propose(state, ctx, connector, action, mode).await
        }
        Command::Audit { connector, n } => audit(state, connector.as_deref(), *n, mode).await,
        Command::Snooze {
            connector,
            duration,
        } => snooze(state, ctx, connector, *duration, mode).await,
        Command::Unsnooze { connector } => unsnooze(state, ctx, connector, mode).await,
        Command::Mode { connector, change } => {
            self::mode::run(state, ctx, connector, *change, mode).await
        }
    }
}

async fn health(state: &SharedState, target: Option<&Target>, mode: Mode) -> Outcome {
    // `unavailable`: why the answer comes from an older listing, when Fivetran could not be
    // asked for a new one.
    let (dir, listing, unavailable) = match state.listing.fresh(state.now()) {
        Some(listing) => (directory::of_listing(&listing), listing, None),
        None if mode == Mode::CacheOnly => {
            return Err(NeedsFivetran(
                "Asking Fivetran how every connector is doing".into(),
            ))
        }
        None => match directory::list_connections(state).await {
            Ok(all) => {
                let dir = directory::remember(state, &all);
                let listing = state.listing.put(dir.fetched_at, all);
                (dir, listing, None)
            }
            // A held or failed listing (Retry-After, a low rate budget, an outage) still
            // answers from the last one, saying how old it is and why.
            Err(e) => match state.listing.latest(state.now()) {
                Some(listing) => (directory::of_listing(&listing), listing, Some(e)),
                None => return Ok(replies::fivetran_unavailable("check connector health", &e)),
            },
        },
    };
    let all: Vec<&Connection> = listing.connections.iter().collect();
    let (scope, selected) = match target {
        None | Some(Target::All) => ("all connectors".to_string(), all),
        Some(Target::Group(g)) => {
            let selected: Vec<_> = all
                .iter()
                .filter(|c| c.group_id.as_deref() == Some(g.as_str()))
                .cloned()
                .collect();
            if selected.is_empty() {
                let mut groups: Vec<&str> =
                    all.iter().filter_map(|c| c.group_id.as_deref()).collect();
                groups.sort();
                groups.dedup();
                let suggestions = did_you_mean(g, groups, 5)
                    .into_iter()
                    .map(|g| format!("group:{g}"))
                    .collect::<Vec<_>>();
                return Ok(replies::unknown_connector(
                    &format!("group:{g}"),
                    &suggestions,
                ));
            }
            (format!("group {g}"), selected)
        }
        Some(Target::Connector(word)) => match directory::resolve_in(&dir, word) {
            Resolved::One(e) => {
                let selected: Vec<_> = all.into_iter().filter(|c| c.id == e.id).collect();
                (e.name.clone().unwrap_or(e.id), selected)
            }
            Resolved::Ambiguous(list) => return Ok(replies::ambiguous_connector(word, &list)),
            Resolved::Unknown { suggestions } => {
                return Ok(replies::unknown_connector(word, &suggestions))
            }
        },
    };
    let failures = failures_last_7_days(state);
    let now = state.now();
    let assessed = selected
        .iter()
        .map(|c| assess(c, failures.get(&c.id).copied().unwrap_or(0), now))
        .collect::<Vec<_>>();
    let t = totals(&assessed);
    Ok(replies::health(
        &scope,
        &rank(assessed),
        &t,
        listing.fetched_at,
        now,
        unavailable.as_deref(),
    ))
}

/// Sync events `/fivetran status` shows, and how many stored events it reads at most to
/// find them.
const RECENT_SYNCS: usize = 5;
const RECENT_SCAN: usize = 100_000;

async fn status(state: &SharedState, word: &str, mode: Mode) -> Outcome {
    if mode == Mode::CacheOnly {
        return Err(NeedsFivetran(format!(
            "Asking Fivetran about `{}`",
            crate::slack::blocks::clip(word, 60)
        )));
    }
    let entry = match resolve(state, word, mode).await? {
        Ok(e) => e,
        Err(reply) => return Ok(reply),
    };
    let c = match state.fivetran.get_connection(&entry.id).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(replies::fivetran_unavailable(
                "read that connector's status",
                &e.to_string(),
            ))
        }
    };
    let failures = failures_last_7_days(state);
    let h = assess(&c, failures.get(&c.id).copied().unwrap_or(0), state.now());
    // The last few syncs of the past week; bounded so a large store answers in time.
    let recent = state
        .store
        .recent_events(
            state.now() - chrono::Duration::days(7),
            RECENT_SYNCS,
            RECENT_SCAN,
            |e| e.connector_id.as_deref() == Some(c.id.as_str()) && e.event.starts_with("sync"),
        )
        .unwrap_or_default();
    let open: Vec<_> = state
        .store
        .proposals()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.connector_id == c.id
                && matches!(
                    p.state,
                    ProposalState::Proposed | ProposalState::Approved | ProposalState::Executing
                )
                && !(p.state == ProposalState::Proposed && p.is_expired(state.now()))
        })
        .collect();
    let overridden = match state.store.mode_override(&c.id) {
        Ok(o) => o,
        // Showing the configured mode instead would hide whether fixes run on their own.
        Err(e) => return Ok(storage_failure(e)),
    };
    let (mode, source) = state
        .policy
        .mode(&c.id, c.group_id.as_deref(), overridden.as_ref());
    Ok(replies::status(
        &c,
        &h,
        (mode, &source.describe()),
        &recent,
        &open,
    ))
}

/// The scope a target names and how to show it; connectors are resolved.
async fn scope_for(
    state: &SharedState,
    target: &Target,
    mode: Mode,
) -> Result<Result<(Scope, String, Option<String>), Value>, NeedsFivetran> {
    Ok(Ok(match target {
        Target::All => (Scope::All, "*all connectors*".into(), None),
        Target::Group(g) => (
            Scope::Group(g.clone()),
            format!("group `{}`", crate::slack::blocks::escape(g)),
            None,
        ),
        Target::Connector(word) => match resolve(state, word, mode).await? {
            Ok(e) => (
                Scope::Connector(e.id.clone()),
                replies::connector_label(e.name.as_deref(), &e.id),
                e.group_id.clone(),
            ),
            Err(reply) => return Ok(Err(reply)),
        },
    }))
}

fn target_channel(ctx: &Context, channel: Option<&str>) -> Result<String, Value> {
    match channel {
        Some(c) => Ok(c.to_string()),
        None if !ctx.channel.is_empty() => Ok(ctx.channel.clone()),
        None => Err(replies::failure(
            "Name a channel: Slack did not say which channel this came from.",
        )),
    }
}

async fn subscribe(
    state: &SharedState,
    ctx: &Context,
    target: &Target,
    channel: Option<&str>,
    mode: Mode,
) -> Outcome {
    let channel = match target_channel(ctx, channel) {
        Ok(c) => c,
        Err(reply) => return Ok(reply),
    };
    let (scope, label, _) = match scope_for(state, target, mode).await? {
        Ok(s) => s,
        Err(reply) => return Ok(reply),
    };
    let sub = Subscription {
        scope: scope.clone(),
        channel: channel.clone(),
        label: label.clone(),
        created_by: ctx.user.clone(),
        created_at: state.now(),
    };
    let added = state.store.transact(state.now(), |tx| {
        let added = tx.subscribe(&sub)?;
        if added {
            tx.audit(
                AuditEntry::by("subscription_added", &ctx.user)
                    .connector(match &scope {
                        Scope::Connector(id) => Some(id.as_str()),
                        _ => None,
                    })
                    .detail(serde_json::json!({ "scope": scope.key(), "channel": channel })),
            )?;
        }
        Ok(added)
    });
    Ok(match added {
        Ok(added) => {
            if let Err(e) = state.store.flush().await {
                tracing::error!(error = %e, "flush after subscribe failed");
            }
            // A mistyped group id would silently route nothing: say so if the last listing
            // has no connector in it.
            let unknown_group = match (&scope, directory::fresh(state)) {
                (Scope::Group(g), Some(d))
                    if !d
                        .entries
                        .iter()
                        .any(|e| e.group_id.as_deref() == Some(g.as_str())) =>
                {
                    let mut groups: Vec<&str> = d
                        .entries
                        .iter()
                        .filter_map(|e| e.group_id.as_deref())
                        .collect();
                    groups.sort();
                    groups.dedup();
                    Some(did_you_mean(g, groups, 3))
                }
                _ => None,
            };
            replies::subscribed(&label, &channel, added, unknown_group.as_deref())
        }
        Err(e) => storage_failure(e),
    })
}

async fn unsubscribe(
    state: &SharedState,
    ctx: &Context,
    target: &Target,
    channel: Option<&str>,
    mode: Mode,
) -> Outcome {
    let channel = match target_channel(ctx, channel) {
        Ok(c) => c,
        Err(reply) => return Ok(reply),
    };
    // A route to a connector id can be removed without asking Fivetran (even if the
    // connector is gone there).
    let existing = match target {
        Target::Connector(word) => state
            .store
            .subscriptions()
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.channel == channel && s.scope == Scope::Connector(word.clone())),
        _ => None,
    };
    let (scope, label, group) = match existing {
        Some(s) => (s.scope, s.label, None),
        None => match scope_for(state, target, mode).await? {
            Ok(s) => s,
            Err(reply) => return Ok(reply),
        },
    };
    let removed = state.store.transact(state.now(), |tx| {
        let removed = tx.unsubscribe(&scope, &channel)?;
        if removed.is_some() {
            tx.audit(
                AuditEntry::by("subscription_removed", &ctx.user)
                    .connector(match &scope {
                        Scope::Connector(id) => Some(id.as_str()),
                        _ => None,
                    })
                    .detail(serde_json::json!({ "scope": scope.key(), "channel": channel })),
            )?;
        }
        Ok(removed.is_some())
    });
    let removed = match removed {
        Ok(r) => r,
        Err(e) => return Ok(storage_failure(e)),
    };
    if let Err(e) = state.store.flush().await {
        tracing::error!(error = %e, "flush after unsubscribe failed");
    }
    let falls_back = match &scope {
        Scope::Connector(id) if removed => {
            crate::incidents::routing::subscribed_channels(&state.store, id, group.as_deref())
                .map(|c| c.is_empty())
                .unwrap_or(false)
        }
        _ => false,
    };
    Ok(replies::unsubscribed(
        &label,
        &channel,
        removed,
        falls_back.then_some(state.settings.slack_default_channel.as_str()),
    ))
}

async fn propose(
    state: &SharedState,
    ctx: &Context,
    word: &str,
    action: &crate::remediation::action::Action,
    mode: Mode,
) -> Outcome {
    let channel = match target_channel(ctx, None) {
        Ok(c) => c,
        Err(reply) => return Ok(reply),
    };
    let entry = match resolve(state, word, mode).await? {
        Ok(e) => e,
        Err(reply) => return Ok(reply),
    };
    if !crate::fivetran::api::is_valid_connection_id(&entry.id) {
        return Ok(replies::failure(
            "That connector's id cannot be used in an API call.",
        ));
    }
    if let Err(e) = action.validate() {
        return Ok(replies::failure(&e.to_string()));
    }
    let command_text =
        crate::slack::blocks::clip(&format!("{} {}", ctx.command.trim(), ctx.text.trim()), 500);
    let now = state.now();
    let (incident, proposal) = requested(&Request {
        user: &ctx.user,
        channel: &channel,
        command_text: &command_text,
        connector_id: &entry.id,
        connector_name: entry.name.as_deref(),
        connector_type: entry.service.as_deref(),
        group_id: entry.group_id.as_deref(),
        action: action.clone(),
        now,
        ttl: state.policy.proposal_ttl,
    });
    let written = state.store.transact(now, |tx| {
        tx.put_incident(&incident)?;
        tx.audit(
            AuditEntry::by("incident_opened", &ctx.user)
                .connector(Some(&incident.connector_id))
                .incident(&incident.id)
                .detail(serde_json::json!({
                    "requested": command_text,
                    "channel": channel,
                })),
        )?;
        crate::remediation::admission::record_created(
            tx,
            &proposal,
            &ctx.user,
            serde_json::json!({ "requested_by": proposal.requested_by }),
        )?;
        crate::remediation::admission::admit(tx, &state.policy, &proposal.id)?;
        tx.enqueue_now(JobKind::Notify {
            incident_id: incident.id.clone(),
        })?;
        Ok(())
    });
    if let Err(e) = written {
        return Ok(storage_failure(e));
    }
    if let Err(e) = state.store.flush().await {
        tracing::error!(error = %e, "flush after requested proposal failed");
    }
    state.jobs_ready.notify_one();
    tracing::info!(incident = %incident.id, proposal = %proposal.id, user = %ctx.user, action = proposal.action.name(), "proposal requested");
    Ok(replies::proposal_requested(
        &ctx.user,
        &replies::connector_label(entry.name.as_deref(), &entry.id),
        action,
        &proposal.id,
    ))
}

async fn snooze(
    state: &SharedState,
    ctx: &Context,
    word: &str,
    duration: std::time::Duration,
    mode: Mode,
) -> Outcome {
    let e = match resolve(state, word, mode).await? {
        Ok(e) => e,
        Err(reply) => return Ok(reply),
    };
    let now = state.now();
    let until = now + chrono::Duration::from_std(duration).unwrap_or_default();
    let s = crate::incidents::snooze::Snooze {
        connector_id: e.id.clone(),
        connector_name: e.name.clone(),
        until,
        by: ctx.user.clone(),
        at: now,
    };
    let open = state.store.open_incident_id(&e.id).ok().flatten().is_some();
    let label = replies::connector_label(e.name.as_deref(), &e.id);
    Ok(
        match state
            .store
            .transact(now, |tx| crate::incidents::snooze::snooze(tx, &s))
        {
            Ok(()) => {
                state.jobs_ready.notify_one();
                replies::snoozed(&label, until, open)
            }
            Err(err) => storage_failure(err),
        },
    )
}

async fn unsnooze(state: &SharedState, ctx: &Context, word: &str, mode: Mode) -> Outcome {
    let e = match resolve(state, word, mode).await? {
        Ok(e) => e,
        Err(reply) => return Ok(reply),
    };
    let label = replies::connector_label(e.name.as_deref(), &e.id);
    Ok(
        match state.store.transact(state.now(), |tx| {
            crate::incidents::snooze::unsnooze(tx, &e.id, &ctx.user)
        }) {
            Ok(removed) => {
                state.jobs_ready.notify_one();
                replies::unsnoozed(&label, removed.map(|s| s.until))
            }
            Err(err) => storage_failure(err),
        },
    )
}

/// Audit records `/fivetran audit` checks inside the request; a longer log is checked in the
/// background (the whole chain, streamed: a few seconds for a million records).
const INLINE_AUDIT_CHECK: usize = 20_000;
/// How many of the newest audit records it reads at most to find the ones to show.
const AUDIT_SCAN: usize = 100_000;

async fn audit(state: &SharedState, word: Option<&str>, n: usize, mode: Mode) -> Outcome {
    let count = state.store.audit_count();
    if mode == Mode::CacheOnly && count > INLINE_AUDIT_CHECK {
        return Err(NeedsFivetran(format!(
            "Checking the audit log's {count} records"
        )));
    }
    let store = state.store.clone();
    let chain_ok = match tokio::task::spawn_blocking(move || store.verify_audit(None)).await {
        Ok(Ok(verdict)) => verdict.is_ok(),
        Ok(Err(e)) => return Ok(storage_failure(e)),
        Err(e) => return Ok(storage_failure(e)),
    };
    let (id, scope) = match word {
        None => (None, String::new()),
        // An id that appears in the recent log needs no lookup.
        Some(w)
            if !state
                .store
                .recent_audit(1, AUDIT_SCAN, |r| {
                    r.entry.connector_id.as_deref() == Some(w)
                })
                .unwrap_or_default()
                .is_empty() =>
        {
            (
                Some(w.to_string()),
                format!("`{}`", crate::slack::blocks::escape(w)),
            )
        }
        Some(w) => match resolve(state, w, mode).await? {
            Ok(e) => (
                Some(e.id.clone()),
                replies::connector_label(e.name.as_deref(), &e.id),
            ),
            Err(reply) => return Ok(reply),
        },
    };
    let mut selected = match state.store.recent_audit(n, AUDIT_SCAN, |r| {
        id.is_none() || r.entry.connector_id == id
    }) {
        Ok(r) => r,
        Err(e) => return Ok(storage_failure(e)),
    };
    selected.reverse();
    Ok(replies::audit(&selected, &scope, chain_ok))
}

/// Whether a `response_url` may be posted to: Slack's own hosts over HTTPS, or the configured
/// Slack API host (the simulator in tests and the demo).
pub fn response_url_allowed(slack_api_base: &str, response_url: &str) -> bool {
    let Ok(u) = url::Url::parse(response_url) else {
        return false;
    };
    let host = u.host_str().unwrap_or("");
    if u.scheme() == "https" && (host == "slack.com" || host.ends_with(".slack.com")) {
        return true;
    }
    match url::Url::parse(slack_api_base) {
        Ok(base) => {
            base.scheme() == u.scheme()
                && base.host_str() == u.host_str()
                && base.port_or_known_default() == u.port_or_known_default()
        }
        Err(_) => false,
    }
}

/// Posts a reply to the command's `response_url` (never logged: it is a capability).
pub async fn post_response(state: &SharedState, response_url: &str, reply: &Value) {
    let client = match reqwest::Client::builder()
        .timeout(state.settings.slack_timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build an HTTP client for the command answer");
            return;
        }
    };
    for attempt in 0..3u64 {
        match client.post(response_url).json(reply).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().is_client_error() => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "Slack refused the command answer"
                );
                return;
            }
            Ok(r) => tracing::warn!(
                status = r.status().as_u16(),
                attempt,
                "command answer not delivered; retrying"
            ),
            Err(_) => tracing::warn!(attempt, "command answer not delivered; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250 * (attempt + 1))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_urls_only_to_slack_or_the_configured_api() {
        let base = "https://slack.com/api";
        assert!(response_url_allowed(
            base,
            "https://hooks.slack.com/commands/T1/1/abc"
        ));
        assert!(!response_url_allowed(
            base,
            "http://hooks.slack.com/commands/T1"
        ));
        assert!(!response_url_allowed(base, "https://evil.example/x"));
        assert!(!response_url_allowed(
            base,
            "https://slack.com.evil.example/x"
        ));
        assert!(!response_url_allowed(base, "not a url"));
        let sim = "http://127.0.0.1:4000/api";
        assert!(response_url_allowed(
            sim,
            "http://127.0.0.1:4000/commands/T1/1/abc"
        ));
        assert!(!response_url_allowed(
            sim,
            "http://127.0.0.1:4001/commands/T1/1/abc"
        ));
    }
}
