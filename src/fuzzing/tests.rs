//! The short fuzz run that CI does: every fuzz entry point over its checked-in seed corpus and
//! over a few thousand generated inputs, plus property tests for the signature checks and
//! round trips of the parsers.

use super::*;
use crate::fivetran::webhook::SignatureError;
use crate::slack::command::ModeChange;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("corpus file");
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let inputs = corpus(target);
    assert!(inputs.len() >= 10, "{target}: only {} seeds", inputs.len());
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| run(bytes));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
    inputs.len()
}

#[test]
fn webhook_corpus() {
    replay("webhook_body", webhook_body);
}

#[test]
fn interaction_corpus() {
    replay("interaction_payload", interaction_payload);
}

#[test]
fn command_corpus() {
    replay("command_text", command_text);
}

/// The real fixtures are in the corpus and parse as what they are: the corpus is not just noise.
#[test]
fn corpus_holds_the_real_shapes() {
    let parsed = corpus("webhook_body")
        .iter()
        .filter(|(_, b)| WebhookEvent::parse(b).is_ok())
        .count();
    assert!(parsed >= 4, "{parsed} webhook seeds parse");
    let clicks = corpus("interaction_payload")
        .iter()
        .filter(|(_, b)| matches!(interaction::parse(b), Ok(Interaction::Click(_))))
        .count();
    assert!(clicks >= 2, "{clicks} interaction seeds are clicks");
    let commands = corpus("command_text")
        .iter()
        .filter(|(_, b)| command::parse_text(&String::from_utf8_lossy(b)).is_ok())
        .count();
    assert!(commands >= 5, "{commands} command seeds parse");
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map("[a-zA-Z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 8] = [
    "created",
    "connector_type",
    "connector_id",
    "connector_name",
    "sync_id",
    "destination_group_id",
    "group_id",
    "data",
];

/// Webhook-shaped objects: a real or odd event name, real field names with any values.
fn webhook_like() -> impl Strategy<Value = Value> {
    let event = prop_oneof![
        proptest::sample::select(crate::fivetran::webhook::KNOWN_EVENTS.to_vec())
            .prop_map(|e| json!(e)),
        json_value(),
    ];
    let field = proptest::sample::select(FIELDS.to_vec());
    (event, btree_map(field, json_value(), 0..8)).prop_map(|(event, fields)| {
        let mut o = serde_json::Map::new();
        o.insert("event".into(), event);
        for (k, v) in fields {
            o.insert(k.to_string(), v);
        }
        Value::Object(o)
    })
}

fn interaction_like() -> impl Strategy<Value = Value> {
    let action = btree_map(
        proptest::sample::select(vec!["type", "action_id", "block_id", "value", "text"]),
        json_value(),
        0..5,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    (
        prop_oneof![Just(json!("block_actions")), json_value()],
        json_value(),
        vec(action, 0..12),
        json_value(),
        json_value(),
    )
        .prop_map(|(kind, user, actions, container, channel)| {
            json!({
                "type": kind,
                "user": {"id": user},
                "actions": actions,
                "container": container,
                "channel": channel,
            })
        })
}

const WORDS: [&str; 28] = [
    "snooze",
    "unsnooze",
    "2h",
    "1h30m",
    "help",
    "health",
    "status",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "sync",
    "pause",
    "resume",
    "frequency",
    "resync",
    "audit",
    "all",
    "group:projected_sickle",
    "group:",
    "pg_prod",
    "<#C0TEAM001|data>",
    "<#C0TEAM001>",
    "#data",
    "<!channel>",
    "<@U0MALLORY>",
    "public.orders",
    "360",
    "99999999999999999999",
];

fn command_like() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        3 => proptest::sample::select(WORDS.to_vec()).prop_map(str::to_string),
        1 => "\\PC{0,12}",
        1 => ".{0,8}",
    ];
    (vec(word, 0..6), "[ \t\n\u{a0}]{1,3}").prop_map(|(words, sep)| words.join(&sep))
}

/// Flips one byte of `data` at `at` (any value but the current one).
fn mutate(data: &[u8], at: usize, delta: u8) -> Vec<u8> {
    let mut out = data.to_vec();
    let i = at % out.len();
    out[i] = out[i].wrapping_add(delta.max(1));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn webhook_entry_on_arbitrary_bytes(data in vec(any::<u8>(), 0..600)) {
        webhook_body(&data);
    }

    #[test]
    fn command_entry_on_arbitrary_bytes(data in vec(any::<u8>(), 0..300)) {
        command_text(&data);
    }

    #[test]
    fn command_entry_on_command_shaped_text(text in command_like()) {
        command_text(text.as_bytes());
    }
}

proptest! {
    // Structured JSON costs more to generate: fewer, richer cases.
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn webhook_entry_on_webhook_shaped_json(v in webhook_like(), cut in any::<usize>()) {
        let body = v.to_string().into_bytes();
        webhook_body(&body);
        // Truncated deliveries are refused, never half-read.
        let cut = cut % body.len();
        let truncated = &body[..cut];
        webhook_body(truncated);
        prop_assert!(WebhookEvent::parse(truncated).is_err());
    }

    #[test]
    fn interaction_entry_on_arbitrary_bytes(data in vec(any::<u8>(), 0..600)) {
        interaction_payload(&data);
    }

    #[test]
    fn interaction_entry_on_payload_shaped_json(v in interaction_like()) {
        interaction_payload(v.to_string().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Fivetran: HMAC-SHA256 hex in any letter case verifies; any single-byte change of the
    /// body, or any change of one hex digit, is refused.
    #[test]
    fn fivetran_signature_accepts_only_what_was_signed(
        secret in vec(any::<u8>(), 1..64),
        body in vec(any::<u8>(), 1..400),
        case_mask in vec(any::<bool>(), 64),
        at in any::<usize>(),
        delta in any::<u8>(),
    ) {
        let sig = webhook::sign(&secret, &body);
        let mixed: String = sig
            .chars()
            .zip(&case_mask)
            .map(|(c, lower)| if *lower { c.to_ascii_lowercase() } else { c })
            .collect();
        prop_assert_eq!(webhook::verify(&secret, &body, Some(&mixed)), Ok(()));
        prop_assert_eq!(
            webhook::verify(&secret, &mutate(&body, at, delta), Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        let i = at % sig.len();
        let digit = u8::from_str_radix(&sig[i..=i], 16).unwrap();
        let other = format!("{:X}", (digit + delta % 15 + 1) % 16);
        let bad_sig = format!("{}{}{}", &sig[..i], other, &sig[i + 1..]);
        prop_assert_eq!(
            webhook::verify(&secret, &body, Some(&bad_sig)),
            Err(SignatureError::Mismatch)
        );
        let not_hex = format!("{}g{}", &sig[..i], &sig[i + 1..]);
        prop_assert_eq!(
            webhook::verify(&secret, &body, Some(&not_hex)),
            Err(SignatureError::Malformed)
        );
    }

    /// Slack v0: accepted within 300 s either side of the signed timestamp, stale outside it;
    /// any single-byte change of body, signature or timestamp is refused.
    #[test]
    fn slack_signature_accepts_only_what_was_signed_in_the_window(
        secret in vec(any::<u8>(), 1..64),
        body in vec(any::<u8>(), 1..400),
        ts in 1_000_000_000i64..4_000_000_000,
        skew in -MAX_SKEW_SECS..=MAX_SKEW_SECS,
        beyond in 1i64..1_000_000,
        at in any::<usize>(),
        delta in any::<u8>(),
    ) {
        let ts_text = ts.to_string();
        let sig = signature::sign(&secret, &ts_text, &body);
        let verify = |now: i64, t: &str, s: &str, b: &[u8]| {
            signature::verify(&secret, at_secs(now), Some(t), Some(s), b)
        };
        prop_assert_eq!(verify(ts + skew, &ts_text, &sig, &body), Ok(()));
        prop_assert_eq!(
            verify(ts + MAX_SKEW_SECS + beyond, &ts_text, &sig, &body),
            Err(SlackSignatureError::Stale)
        );
        prop_assert_eq!(
            verify(ts - MAX_SKEW_SECS - beyond, &ts_text, &sig, &body),
            Err(SlackSignatureError::Stale)
        );
        prop_assert_eq!(
            verify(ts, &ts_text, &sig, &mutate(&body, at, delta)),
            Err(SlackSignatureError::Mismatch)
        );
        let bad_sig = String::from_utf8_lossy(&mutate(sig.as_bytes(), at, delta)).into_owned();
        prop_assert!(verify(ts, &ts_text, &bad_sig, &body).is_err());
        // A replayed body under a new timestamp does not carry the old signature over.
        let bad_ts = String::from_utf8_lossy(&mutate(ts_text.as_bytes(), at, delta)).into_owned();
        let refused = verify(ts, &bad_ts, &sig, &body);
        prop_assert!(refused.is_err(), "{:?}", bad_ts);
    }

    /// Slack's Unix-second timestamps are digits only; anything else is refused as such.
    #[test]
    fn slack_timestamps_that_are_not_digits_are_refused(ts in "\\PC{0,20}") {
        let result = signature::verify(b"s", at_secs(1_700_000_000), Some(&ts), Some("v0=00"), b"");
        let digits = {
            let t = ts.trim();
            !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits {
            prop_assert_eq!(result, Err(SlackSignatureError::BadTimestamp));
        }
    }

    /// A well-formed webhook reads back exactly the fields it carried.
    #[test]
    fn webhook_fields_round_trip(
        event in proptest::sample::select(crate::fivetran::webhook::KNOWN_EVENTS.to_vec()),
        id in "[a-z_]{1,30}",
        sync in "[a-f0-9-]{1,36}",
        status in "[A-Z_]{1,20}",
        reason in "\\PC{0,200}",
    ) {
        let body = json!({
            "event": event, "connector_id": id, "sync_id": sync, "created": "2026-11-25T09:56:43.688Z",
            "data": {"status": status, "reason": reason},
        });
        let (e, payload) = WebhookEvent::parse(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(&payload, &body);
        prop_assert_eq!(e.event.as_str(), event);
        prop_assert_eq!(e.connector_id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(e.sync_id.as_deref(), Some(sync.as_str()));
        prop_assert_eq!(e.status(), Some(status.as_str()));
        prop_assert_eq!(e.reason(), Some(reason.as_str()));
    }

    /// A click built the way Slack builds it parses back to the same click.
    #[test]
    fn clicks_round_trip(
        user in "[UW][A-Z0-9]{2,20}",
        action in proptest::sample::select(vec!["approve", "reject"]),
        value in "\\PC{0,100}",
        channel in "[CGD][A-Z0-9]{2,20}",
        ts in "[0-9]{10}\\.[0-9]{6}",
    ) {
        let body = crate::sim::slack::click_body(&user, action, &value, &channel, &ts);
        let Ok(Interaction::Click(c)) = interaction::parse(&body) else {
            return Err(TestCaseError::fail("not a click"));
        };
        prop_assert_eq!(c.user_id, user);
        prop_assert_eq!(c.action_id, action);
        prop_assert_eq!(c.value, value);
        prop_assert_eq!(c.channel_id, Some(channel));
        prop_assert_eq!(c.message_ts, Some(ts));
    }

    /// Every command, written as a person types it, parses back to itself.
    #[test]
    fn commands_round_trip(cmd in command_value()) {
        let text = render(&cmd);
        prop_assert_eq!(command::parse_text(&text), Ok(cmd), "{}", text);
    }

    /// The slash-command form Slack posts reads back field for field.
    #[test]
    fn command_forms_round_trip(
        text in "\\PC{0,200}",
        user in "U[A-Z0-9]{2,20}",
        channel in "C[A-Z0-9]{2,20}",
    ) {
        let url = "https://hooks.slack.com/commands/T0TEAM0001/1/abc";
        let body = crate::sim::slack::command_body("/fivetran", &text, &user, &channel, url);
        let form = command::parse(&body).unwrap();
        prop_assert_eq!(form.text, text);
        prop_assert_eq!(form.user_id, user);
        prop_assert_eq!(form.channel_id, channel);
        prop_assert_eq!(form.response_url, url);
    }

    /// Config text and environment overrides: an error or settings, never a panic.
    #[test]
    fn config_never_panics(
        text in "\\PC{0,300}",
        env in vec(("SYNCWARDEN_[A-Z_]{0,20}", "\\PC{0,40}"), 0..4),
    ) {
        let path = std::path::Path::new("fuzz.toml");
        if let Ok(cfg) = crate::config::Config::from_toml_and_env(&text, path, &env) {
            let _ = cfg.settings();
        }
    }

    /// Config made of real sections and keys with arbitrary values.
    #[test]
    fn config_keys_with_any_values_never_panic(
        entries in vec((
            proptest::sample::select(vec![
                ("server", "listen"), ("server", "data_dir"), ("server", "public_url"),
                ("fivetran", "api_base"), ("fivetran", "request_timeout"),
                ("slack", "default_channel"), ("slack", "request_timeout"),
                ("policy", "approvers"), ("policy", "proposal_ttl"),
                ("llm", "base_url"), ("llm", "timeout_secs"), ("llm", "cache_ttl"),
            ]),
            prop_oneof![
                "\\PC{0,30}".prop_map(|s| format!("{s:?}")),
                any::<i64>().prop_map(|n| n.to_string()),
                Just("[\"U0APPROVER\", 3]".to_string()),
                Just("{ a = 1 }".to_string()),
            ],
        ), 0..8),
    ) {
        let mut text = String::new();
        for ((section, key), value) in entries {
            text.push_str(&format!("[{section}]\n{key} = {value}\n"));
        }
        let path = std::path::Path::new("fuzz.toml");
        if let Ok(cfg) = crate::config::Config::from_toml_and_env(&text, path, &[]) {
            let _ = cfg.settings();
        }
    }

    /// Durations: any text is an error or a value; formatting a value parses back to it.
    #[test]
    fn durations_round_trip(text in "\\PC{0,24}", secs in 0u64..10_000_000_000) {
        let _ = crate::duration::parse_duration(&text);
        let d = std::time::Duration::from_secs(secs);
        prop_assert_eq!(crate::duration::parse_duration(&crate::duration::format_duration(d)), Ok(d));
    }
}

fn at_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn connector_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,30}".prop_filter("not a keyword", |s| {
        s != "all" && !s.starts_with("group") && !s.bytes().all(|b| b.is_ascii_digit())
    })
}

fn target_value() -> impl Strategy<Value = Target> {
    prop_oneof![
        connector_name().prop_map(Target::Connector),
        "[a-z_]{1,20}".prop_map(Target::Group),
        Just(Target::All),
    ]
}

fn channel_value() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("C[A-Z0-9]{2,12}")
}

fn command_value() -> impl Strategy<Value = Command> {
    let table = ("[a-z_]{1,12}", "[a-z_]{1,12}")
        .prop_map(|(schema, table)| crate::remediation::action::TableRef { schema, table });
    prop_oneof![
        Just(Command::Help),
        proptest::option::of(target_value().prop_filter("all is none", |t| *t != Target::All))
            .prop_map(|target| Command::Health { target }),
        connector_name().prop_map(|connector| Command::Status { connector }),
        (target_value(), channel_value())
            .prop_map(|(target, channel)| Command::Subscribe { target, channel }),
        (target_value(), channel_value())
            .prop_map(|(target, channel)| Command::Unsubscribe { target, channel }),
        channel_value().prop_map(|channel| Command::Subscriptions { channel }),
        (
            connector_name(),
            prop_oneof![
                Just(Action::RetrySync),
                Just(Action::PauseConnector),
                Just(Action::ResumeConnector),
                Just(Action::ResyncConnector),
                proptest::sample::select(SYNC_FREQUENCIES.to_vec())
                    .prop_map(|minutes| Action::SetSyncFrequency { minutes }),
                proptest::collection::btree_set(table.prop_map(|t| (t.schema, t.table)), 1..4)
                    .prop_map(|set| Action::ResyncTables {
                        tables: set
                            .into_iter()
                            .map(|(schema, table)| crate::remediation::action::TableRef {
                                schema,
                                table
                            })
                            .collect(),
                    }),
            ]
        )
            .prop_map(|(connector, action)| Command::Propose { connector, action }),
        (proptest::option::of(connector_name()), 1..=MAX_AUDIT_N)
            .prop_map(|(connector, n)| Command::Audit { connector, n }),
        (
            connector_name(),
            1..=crate::incidents::snooze::MAX_SNOOZE.as_secs()
        )
            .prop_map(|(connector, secs)| Command::Snooze {
                connector,
                duration: std::time::Duration::from_secs(secs)
            }),
        connector_name().prop_map(|connector| Command::Unsnooze { connector }),
        (
            connector_name(),
            prop_oneof![
                Just(None),
                Just(Some(ModeChange::Default)),
                proptest::sample::select(vec![
                    crate::remediation::policy::Mode::Monitor,
                    crate::remediation::policy::Mode::Approve,
                    crate::remediation::policy::Mode::Auto,
                ])
                .prop_map(|m| Some(ModeChange::Set(m))),
            ]
        )
            .prop_map(|(connector, change)| Command::Mode { connector, change }),
    ]
}

fn render_target(t: &Target) -> String {
    match t {
        Target::Connector(c) => c.clone(),
        Target::Group(g) => format!("group:{g}"),
        Target::All => "all".into(),
    }
}

fn render_channel(c: &Option<String>) -> String {
    c.as_ref()
        .map(|c| format!(" <#{c}|some-name>"))
        .unwrap_or_default()
}

/// The text a person would type for `cmd`.
fn render(cmd: &Command) -> String {
    match cmd {
        Command::Help => "help".into(),
        Command::Health { target } => match target {
            None => "health".into(),
            Some(t) => format!("health {}", render_target(t)),
        },
        Command::Status { connector } => format!("status {connector}"),
        Command::Subscribe { target, channel } => {
            format!(
                "subscribe {}{}",
                render_target(target),
                render_channel(channel)
            )
        }
        Command::Unsubscribe { target, channel } => {
            format!(
                "UNSUBSCRIBE {}{}",
                render_target(target),
                render_channel(channel)
            )
        }
        Command::Subscriptions { channel } => format!("subscriptions{}", render_channel(channel)),
        Command::Propose { connector, action } => match action {
            Action::RetrySync => format!("sync {connector}"),
            Action::PauseConnector => format!("pause {connector}"),
            Action::ResumeConnector => format!("resume {connector}"),
            Action::ResyncConnector => format!("resync {connector}"),
            Action::SetSyncFrequency { minutes } => format!("frequency {connector} {minutes}"),
            Action::ResyncTables { tables } => format!(
                "resync {connector} {}",
                tables
                    .iter()
                    .map(|t| format!("{}.{}", t.schema, t.table))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            other => unreachable!("not a command action: {other:?}"),
        },
        Command::Audit { connector, n } => match connector {
            Some(c) => format!("audit {c} {n}"),
            None => format!("audit {n}"),
        },
        Command::Snooze {
            connector,
            duration,
        } => format!(
            "snooze {connector} {}",
            crate::duration::format_duration(*duration)
        ),
        Command::Unsnooze { connector } => format!("unsnooze {connector}"),
        Command::Mode { connector, change } => match change {
            None => format!("mode {connector}"),
            Some(ModeChange::Default) => format!("mode {connector} DEFAULT"),
            Some(ModeChange::Set(m)) => format!("mode {connector} {}", m.as_str()),
        },
    }
}
