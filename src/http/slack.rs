//! `POST /slack/interactions` and `POST /slack/commands`. Both verify Slack's v0 signature
//! against the injectable clock and answer well within Slack's 3 s.

use super::json_error;
use crate::app::SharedState;
use crate::commands;
use crate::remediation::decide::{handle_click, Decided};
use crate::slack::command;
use crate::slack::interaction::{self, Interaction};
use crate::slack::replies;
use crate::slack::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

fn verify(state: &SharedState, headers: &HeaderMap, body: &[u8]) -> Result<(), Box<Response>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signature::verify(
        state.secrets.slack_signing_secret.expose().as_bytes(),
        state.now(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        body,
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "refused Slack request");
        Box::new(json_error(StatusCode::UNAUTHORIZED, &e.to_string()))
    })
}

pub async fn interactions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = verify(&state, &headers, &body) {
        return *r;
    }
    let click = match interaction::parse(&body) {
        Ok(Interaction::Click(c)) => c,
        Ok(Interaction::Other(what)) => {
            tracing::info!(%what, "interaction ignored");
            return StatusCode::OK.into_response();
        }
        Err(e) => {
            tracing::warn!(error = %e, "malformed interaction");
            return json_error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    // Decisions read user group members from the cache: make it fresh for this one.
    let (proposal_id, _) = crate::remediation::decide::parse_button_value(&click.value);
    crate::remediation::authorize::refresh_groups_for_proposal(&state, &click.user_id, proposal_id)
        .await;
    let decided = match handle_click(&state, &click) {
        Ok(Decided::AskRejectReason(prompt)) => {
            crate::remediation::reject::reject_without_modal(&state, &click, &prompt, None)
        }
        other => other,
    };
    match decided {
        Ok(outcome) => {
            tracing::info!(user = %click.user_id, action = %click.action_id, proposal = %click.value, ?outcome, "click handled");
            if outcome != Decided::Ignored {
                if let Err(e) = state.store.flush().await {
                    tracing::error!(error = %e, "flush after decision failed");
                }
                state.jobs_ready.notify_one();
            }
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record decision");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
        }
    }
}

pub async fn commands(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = verify(&state, &headers, &body) {
        return *r;
    }
    let form = match command::parse(&body) {
        Ok(f) => f,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let parsed = command::parse_text(&form.text);
    tracing::info!(
        user = %form.user_id,
        channel = %form.channel_id,
        subcommand = form.text.split_whitespace().next().unwrap_or("help").chars().take(32).collect::<String>(),
        ok = parsed.is_ok(),
        "slash command"
    );
    let cmd = match parsed {
        Ok(c) => c,
        Err(e) => return Json(replies::usage_error(&form.command, &e)).into_response(),
    };
    let ctx = commands::Context {
        user: form.user_id.clone(),
        channel: form.channel_id.clone(),
        command: form.command.clone(),
        text: form.text.clone(),
    };
    // First from the store alone; only what needs Fivetran goes to the background, so the
    // answer here never waits on Fivetran.
    match commands::execute(&state, &ctx, &cmd, commands::Mode::CacheOnly).await {
        Ok(reply) => Json(reply).into_response(),
        Err(commands::NeedsFivetran(what)) => {
            if !commands::response_url_allowed(&state.settings.slack_api_base, &form.response_url) {
                tracing::warn!("slash command without a usable response_url");
                return Json(replies::failure(
                    "This needs Fivetran, but Slack gave no usable response URL to answer on.",
                ))
                .into_response();
            }
            let bg = state.clone();
            tokio::spawn(async move {
                let reply = match commands::execute(&bg, &ctx, &cmd, commands::Mode::Fetch).await {
                    Ok(r) => r,
                    Err(commands::NeedsFivetran(_)) => {
                        replies::failure("Fivetran could not be asked; try again.")
                    }
                };
                commands::post_response(&bg, &form.response_url, &reply).await;
            });
            Json(replies::working(&what)).into_response()
        }
    }
}
