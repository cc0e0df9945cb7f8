//! Slash commands: the form Slack posts, and the pure grammar of `/fivetran <subcommand> ...`.
//! Parsing never touches the network or the store: connectors stay as the words people typed
//! (an id or a name) and are resolved later by `crate::commands`.

use crate::remediation::action::{Action, TableRef, SYNC_FREQUENCIES};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SlashCommand {
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub response_url: String,
}

pub fn parse(body: &[u8]) -> Result<SlashCommand, String> {
    use crate::limits::{check_chars, MAX_COMMAND_NAME_CHARS, MAX_FORM_FIELDS, MAX_ID_CHARS};
    if body.split(|b| *b == b'&').count() > MAX_FORM_FIELDS {
        return Err(format!(
            "not a slash-command form: more than {MAX_FORM_FIELDS} fields"
        ));
    }
    let form: SlashCommand = serde_urlencoded::from_bytes(body).map_err(|e| {
        format!(
            "not a slash-command form: {}",
            crate::slack::blocks::clip(&e.to_string(), 200)
        )
    })?;
    for (name, value, max) in [
        ("command", &form.command, MAX_COMMAND_NAME_CHARS),
        ("user_id", &form.user_id, MAX_ID_CHARS),
        ("channel_id", &form.channel_id, MAX_ID_CHARS),
        (
            "response_url",
            &form.response_url,
            crate::limits::MAX_URL_CHARS,
        ),
    ] {
        check_chars(name, value, max).map_err(|e| format!("not a slash-command form: {e}"))?;
    }
    Ok(form)
}

/// What a subscription or a health query covers. Connectors are as typed (id or name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Connector(String),
    Group(String),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// `None` = every connector.
    Health {
        target: Option<Target>,
    },
    Status {
        connector: String,
    },
    Subscribe {
        target: Target,
        channel: Option<String>,
    },
    Unsubscribe {
        target: Target,
        channel: Option<String>,
    },
    Subscriptions {
        channel: Option<String>,
    },
    /// sync / pause / resume / frequency / resync: a proposal for `action` on `connector`.
    Propose {
        connector: String,
        action: Action,
    },
    Audit {
        connector: Option<String>,
        n: usize,
    },
    /// Hold back a connector's alerts for a while.
    Snooze {
        connector: String,
        duration: std::time::Duration,
    },
    Unsnooze {
        connector: String,
    },
    /// Show (`None`) or set a connector's rollout mode.
    Mode {
        connector: String,
        change: Option<ModeChange>,
    },
}

/// What `/fivetran mode <connector> <word>` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChange {
    Set(crate::remediation::policy::Mode),
    /// Drop the override: the configuration decides again.
    Default,
}

pub const DEFAULT_AUDIT_N: usize = 10;
pub const MAX_AUDIT_N: usize = 50;

/// Every subcommand, with its usage and one example (the help text is built from this).
pub const SUBCOMMANDS: [(&str, &str, &str); 15] = [
    ("help", "help", "help"),
    (
        "health",
        "health [connector | group:<id>]",
        "health group:projected_sickle",
    ),
    ("status", "status <connector>", "status pg_prod"),
    (
        "subscribe",
        "subscribe <connector | group:<id> | all> [#channel]",
        "subscribe pg_prod #data-alerts",
    ),
    (
        "unsubscribe",
        "unsubscribe <connector | group:<id> | all> [#channel]",
        "unsubscribe pg_prod #data-alerts",
    ),
    ("subscriptions", "subscriptions [#channel]", "subscriptions"),
    ("sync", "sync <connector>", "sync pg_prod"),
    ("pause", "pause <connector>", "pause pg_prod"),
    ("resume", "resume <connector>", "resume pg_prod"),
    (
        "frequency",
        "frequency <connector> <minutes>",
        "frequency pg_prod 360",
    ),
    (
        "resync",
        "resync <connector> [schema.table ...]",
        "resync pg_prod public.orders",
    ),
    ("audit", "audit [connector] [n]", "audit pg_prod 20"),
    (
        "snooze",
        "snooze <connector> <duration>",
        "snooze pg_prod 2h",
    ),
    ("unsnooze", "unsnooze <connector>", "unsnooze pg_prod"),
    (
        "mode",
        "mode <connector> [monitor | approve | auto | default]",
        "mode pg_prod auto",
    ),
];

pub fn usage(sub: &str) -> &'static str {
    SUBCOMMANDS
        .iter()
        .find(|(name, _, _)| *name == sub)
        .map(|(_, u, _)| *u)
        .unwrap_or("help")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown subcommand `{given}`")]
    UnknownSubcommand {
        given: String,
        suggestions: Vec<String>,
    },
    #[error("{problem}")]
    Usage {
        subcommand: &'static str,
        problem: String,
    },
}

impl CommandError {
    fn usage(subcommand: &'static str, problem: impl Into<String>) -> Self {
        CommandError::Usage {
            subcommand,
            problem: problem.into(),
        }
    }
}

/// Edit distance (Levenshtein) over chars, for did-you-mean.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Candidates close to `given`, best first: prefixes and substrings, then small edit
/// distances (at most a third of the word, at least 1, at most 3). At most `max`.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<String> {
    let g = given.to_lowercase();
    if g.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let lc = c.to_lowercase();
            let score = if lc.starts_with(&g) || g.starts_with(&lc) && lc.len() >= 3 {
                0
            } else if g.len() >= 3 && lc.contains(&g) {
                1
            } else if g.len().abs_diff(lc.len()) > 3 * 4 {
                // Cannot be within 3 edits (4 bytes a char at most): skip the quadratic
                // distance, so a huge word costs linear time.
                return None;
            } else {
                let d = edit_distance(&g, &lc);
                let allowed = (g.chars().count() / 3).clamp(1, 3);
                if d <= allowed {
                    1 + d
                } else {
                    return None;
                }
            };
            Some((score, c.to_string()))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, c)| c).collect()
}

/// A channel as Slack sends it with `should_escape: true` (`<#C123|name>`), without a name
/// (`<#C123>`), or a bare id. Returns the id.
pub fn parse_channel(token: &str) -> Option<String> {
    let inner = token
        .strip_prefix("<#")
        .and_then(|t| t.strip_suffix('>'))
        .map(|t| t.split('|').next().unwrap_or(""))
        .unwrap_or(token);
    let valid = (2..=32).contains(&inner.len())
        && matches!(inner.as_bytes()[0], b'C' | b'G' | b'D')
        && inner
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    valid.then(|| inner.to_string())
}

fn looks_like_channel(token: &str) -> bool {
    token.starts_with("<#") || token.starts_with('#') || parse_channel(token).is_some()
}

fn channel_arg(sub: &'static str, token: &str) -> Result<String, CommandError> {
    parse_channel(token).ok_or_else(|| {
        let hint = if token.starts_with('#') {
            " Pick the channel from Slack's autocomplete so it arrives as a link"
        } else {
            ""
        };
        CommandError::usage(
            sub,
            format!(
                "`{}` is not a channel.{hint} (e.g. `#data-alerts`, or a channel id like `C0123ABCD`).",
                crate::slack::blocks::clip(token, 60)
            ),
        )
    })
}

fn connector_word(sub: &'static str, token: &str) -> Result<String, CommandError> {
    if token.starts_with('<') || token.len() > 255 || token.chars().any(char::is_control) {
        return Err(CommandError::usage(
            sub,
            format!(
                "`{}` is not a connector id or name.",
                crate::slack::blocks::clip(token, 60)
            ),
        ));
    }
    Ok(token.to_string())
}

fn target(sub: &'static str, token: &str) -> Result<Target, CommandError> {
    if token.eq_ignore_ascii_case("all") {
        return Ok(Target::All);
    }
    if let Some(g) = token.strip_prefix("group:") {
        if g.is_empty() || !crate::fivetran::api::is_valid_connection_id(g) {
            return Err(CommandError::usage(
                sub,
                "`group:` needs a Fivetran group id, e.g. `group:projected_sickle`.",
            ));
        }
        return Ok(Target::Group(g.to_string()));
    }
    if looks_like_channel(token) {
        return Err(CommandError::usage(
            sub,
            "name the connector (or `group:<id>` or `all`) before the channel.",
        ));
    }
    connector_word(sub, token).map(Target::Connector)
}

fn exactly_one<'a>(
    sub: &'static str,
    args: &[&'a str],
    what: &str,
) -> Result<&'a str, CommandError> {
    match args {
        [one] => Ok(one),
        [] => Err(CommandError::usage(sub, format!("name {what}."))),
        _ => Err(CommandError::usage(
            sub,
            format!("expected only {what}, got {} words.", args.len()),
        )),
    }
}

/// Parses the text after `/fivetran`.
pub fn parse_text(text: &str) -> Result<Command, CommandError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((first, args)) = words.split_first() else {
        return Ok(Command::Help);
    };
    let sub = first.to_lowercase();
    match sub.as_str() {
        "help" | "-h" | "--help" | "?" => Ok(Command::Help),
        "health" => match args {
            [] => Ok(Command::Health { target: None }),
            [t] => match target("health", t)? {
                Target::All => Ok(Command::Health { target: None }),
                t => Ok(Command::Health { target: Some(t) }),
            },
            _ => Err(CommandError::usage(
                "health",
                "give at most one connector or `group:<id>`.",
            )),
        },
        "status" => {
            let c = exactly_one("status", args, "one connector")?;
            Ok(Command::Status {
                connector: connector_word("status", c)?,
            })
        }
        "subscribe" | "unsubscribe" => {
            let name: &'static str = if sub == "subscribe" {
                "subscribe"
            } else {
                "unsubscribe"
            };
            let (t, channel) =
                match args {
                    [] => {
                        return Err(CommandError::usage(
                            name,
                            "say what to route: a connector, `group:<id>` or `all`.",
                        ))
                    }
                    [t] => (target(name, t)?, None),
                    [t, c] => (target(name, t)?, Some(channel_arg(name, c)?)),
                    _ => return Err(CommandError::usage(
                        name,
                        "expected a connector (or `group:<id>` or `all`) and at most one channel.",
                    )),
                };
            Ok(if name == "subscribe" {
                Command::Subscribe { target: t, channel }
            } else {
                Command::Unsubscribe { target: t, channel }
            })
        }
        "subscriptions" => match args {
            [] => Ok(Command::Subscriptions { channel: None }),
            [c] => Ok(Command::Subscriptions {
                channel: Some(channel_arg("subscriptions", c)?),
            }),
            _ => Err(CommandError::usage(
                "subscriptions",
                "give at most one channel.",
            )),
        },
        "sync" | "pause" | "resume" => {
            let (name, action): (&'static str, Action) = match sub.as_str() {
                "sync" => ("sync", Action::RetrySync),
                "pause" => ("pause", Action::PauseConnector),
                _ => ("resume", Action::ResumeConnector),
            };
            let c = exactly_one(name, args, "one connector")?;
            Ok(Command::Propose {
                connector: connector_word(name, c)?,
                action,
            })
        }
        "frequency" => {
            let allowed = SYNC_FREQUENCIES
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let [c, m] = args else {
                return Err(CommandError::usage(
                    "frequency",
                    format!("give a connector and minutes ({allowed})."),
                ));
            };
            let minutes = m
                .trim_end_matches("min")
                .trim_end_matches('m')
                .parse::<u32>()
                .ok()
                .filter(|n| SYNC_FREQUENCIES.contains(n))
                .ok_or_else(|| {
                    CommandError::usage(
                        "frequency",
                        format!(
                            "`{}` is not a sync frequency Fivetran accepts; use minutes: {allowed}.",
                            crate::slack::blocks::clip(m, 20)
                        ),
                    )
                })?;
            Ok(Command::Propose {
                connector: connector_word("frequency", c)?,
                action: Action::SetSyncFrequency { minutes },
            })
        }
        "resync" => {
            let Some((c, tables)) = args.split_first() else {
                return Err(CommandError::usage(
                    "resync",
                    "name the connector, and optionally tables as `schema.table`.",
                ));
            };
            let connector = connector_word("resync", c)?;
            if tables.is_empty() {
                return Ok(Command::Propose {
                    connector,
                    action: Action::ResyncConnector,
                });
            }
            let mut refs = Vec::new();
            for t in tables {
                let Some((schema, table)) = t.split_once('.') else {
                    return Err(CommandError::usage(
                        "resync",
                        format!(
                            "`{}` is not `schema.table`.",
                            crate::slack::blocks::clip(t, 60)
                        ),
                    ));
                };
                let r = TableRef {
                    schema: schema.to_string(),
                    table: table.to_string(),
                };
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
            let action = Action::ResyncTables { tables: refs };
            action
                .validate()
                // The error quotes the bad name, which can be as long as the text: clip it.
                .map_err(|e| {
                    CommandError::usage("resync", crate::slack::blocks::clip(&e.to_string(), 120))
                })?;
            Ok(Command::Propose { connector, action })
        }
        "audit" => {
            let mut connector = None;
            let mut n = None;
            for a in args {
                if a.bytes().all(|b| b.is_ascii_digit()) {
                    if n.is_some() {
                        return Err(CommandError::usage("audit", "give at most one count."));
                    }
                    let v = a.parse::<usize>().unwrap_or(usize::MAX);
                    if !(1..=MAX_AUDIT_N).contains(&v) {
                        return Err(CommandError::usage(
                            "audit",
                            format!("the count must be between 1 and {MAX_AUDIT_N}."),
                        ));
                    }
                    n = Some(v);
                } else if connector.is_none() {
                    connector = Some(connector_word("audit", a)?);
                } else {
                    return Err(CommandError::usage(
                        "audit",
                        "give at most one connector and one count.",
                    ));
                }
            }
            Ok(Command::Audit {
                connector,
                n: n.unwrap_or(DEFAULT_AUDIT_N),
            })
        }
        "snooze" => {
            let [c, d] = args else {
                return Err(CommandError::usage(
                    "snooze",
                    "give a connector and a duration such as `1h`, `30m` or `1d` (at most 7d).",
                ));
            };
            let duration = crate::duration::parse_duration(d)
                .ok()
                .filter(|d| !d.is_zero() && *d <= crate::incidents::snooze::MAX_SNOOZE)
                .ok_or_else(|| {
                    CommandError::usage(
                        "snooze",
                        format!(
                            "`{}` is not a duration between 1s and 7d (e.g. `1h`, `30m`, `1d`).",
                            crate::slack::blocks::clip(d, 20)
                        ),
                    )
                })?;
            Ok(Command::Snooze {
                connector: connector_word("snooze", c)?,
                duration,
            })
        }
        "unsnooze" => {
            let c = exactly_one("unsnooze", args, "one connector")?;
            Ok(Command::Unsnooze {
                connector: connector_word("unsnooze", c)?,
            })
        }
        "mode" => {
            let (c, change) = match args {
                [c] => (c, None),
                [c, m] => {
                    let change = if m.eq_ignore_ascii_case("default") {
                        ModeChange::Default
                    } else {
                        ModeChange::Set(crate::remediation::policy::Mode::parse(m).ok_or_else(
                            || {
                                CommandError::usage(
                                    "mode",
                                    format!(
                                        "`{}` is not a mode: use `monitor`, `approve`, `auto`, or `default` to follow the configuration.",
                                        crate::slack::blocks::clip(m, 20)
                                    ),
                                )
                            },
                        )?)
                    };
                    (c, Some(change))
                }
                [] => return Err(CommandError::usage(
                    "mode",
                    "name a connector, and optionally `monitor`, `approve`, `auto` or `default`.",
                )),
                _ => {
                    return Err(CommandError::usage(
                        "mode",
                        "expected a connector and at most one mode.",
                    ))
                }
            };
            Ok(Command::Mode {
                connector: connector_word("mode", c)?,
                change,
            })
        }
        _ => Err(CommandError::UnknownSubcommand {
            given: crate::slack::blocks::clip(first, 40),
            suggestions: did_you_mean(&sub, SUBCOMMANDS.iter().map(|(n, _, _)| *n), 3),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Command {
        parse_text(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn problem(text: &str) -> (String, String) {
        match parse_text(text) {
            Err(CommandError::Usage {
                subcommand,
                problem,
            }) => (subcommand.to_string(), problem),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn conn(c: &str) -> Target {
        Target::Connector(c.into())
    }

    #[test]
    fn help_and_empty() {
        assert_eq!(ok(""), Command::Help);
        assert_eq!(ok("   "), Command::Help);
        assert_eq!(ok("help"), Command::Help);
        assert_eq!(ok("HELP"), Command::Help);
    }

    #[test]
    fn health() {
        assert_eq!(ok("health"), Command::Health { target: None });
        assert_eq!(ok("health all"), Command::Health { target: None });
        assert_eq!(
            ok("health pg_prod"),
            Command::Health {
                target: Some(conn("pg_prod"))
            }
        );
        assert_eq!(
            ok("health group:projected_sickle"),
            Command::Health {
                target: Some(Target::Group("projected_sickle".into()))
            }
        );
        assert_eq!(
            problem("health a b"),
            (
                "health".into(),
                "give at most one connector or `group:<id>`.".into()
            )
        );
        assert_eq!(
            problem("health group:"),
            (
                "health".into(),
                "`group:` needs a Fivetran group id, e.g. `group:projected_sickle`.".into()
            )
        );
    }

    #[test]
    fn status() {
        assert_eq!(
            ok("status speak_inexpensive"),
            Command::Status {
                connector: "speak_inexpensive".into()
            }
        );
        assert_eq!(
            problem("status"),
            ("status".into(), "name one connector.".into())
        );
        assert_eq!(
            problem("status a b"),
            (
                "status".into(),
                "expected only one connector, got 2 words.".into()
            )
        );
        assert_eq!(
            problem("status <@U123>"),
            (
                "status".into(),
                "`<@U123>` is not a connector id or name.".into()
            )
        );
    }

    #[test]
    fn subscribe_accepts_every_channel_form() {
        for form in ["<#C0TEAM001|data-team>", "<#C0TEAM001>", "C0TEAM001"] {
            assert_eq!(
                ok(&format!("subscribe pg_prod {form}")),
                Command::Subscribe {
                    target: conn("pg_prod"),
                    channel: Some("C0TEAM001".into())
                },
                "{form}"
            );
        }
        assert_eq!(
            ok("subscribe all"),
            Command::Subscribe {
                target: Target::All,
                channel: None
            }
        );
        assert_eq!(
            ok("subscribe group:g1 <#G0PRIV01|private>"),
            Command::Subscribe {
                target: Target::Group("g1".into()),
                channel: Some("G0PRIV01".into())
            }
        );
        assert_eq!(
            ok("unsubscribe pg_prod"),
            Command::Unsubscribe {
                target: conn("pg_prod"),
                channel: None
            }
        );
    }

    #[test]
    fn subscribe_errors() {
        assert_eq!(
            problem("subscribe"),
            (
                "subscribe".into(),
                "say what to route: a connector, `group:<id>` or `all`.".into()
            )
        );
        assert_eq!(
            problem("subscribe pg_prod #data"),
            ("subscribe".into(), "`#data` is not a channel. Pick the channel from Slack's autocomplete so it arrives as a link (e.g. `#data-alerts`, or a channel id like `C0123ABCD`).".into())
        );
        assert_eq!(
            problem("subscribe <#C0TEAM001|x>"),
            (
                "subscribe".into(),
                "name the connector (or `group:<id>` or `all`) before the channel.".into()
            )
        );
        assert_eq!(
            problem("unsubscribe a C1 C2"),
            (
                "unsubscribe".into(),
                "expected a connector (or `group:<id>` or `all`) and at most one channel.".into()
            )
        );
        assert_eq!(
            problem("subscribe pg_prod nochannel").1,
            "`nochannel` is not a channel. (e.g. `#data-alerts`, or a channel id like `C0123ABCD`)."
        );
    }

    #[test]
    fn subscriptions() {
        assert_eq!(
            ok("subscriptions"),
            Command::Subscriptions { channel: None }
        );
        assert_eq!(
            ok("subscriptions <#C0TEAM001|t>"),
            Command::Subscriptions {
                channel: Some("C0TEAM001".into())
            }
        );
        assert_eq!(problem("subscriptions C1 C2").0, "subscriptions");
        assert_eq!(problem("subscriptions lowercase").0, "subscriptions");
    }

    #[test]
    fn proposals() {
        let p = |c: &str, action: Action| Command::Propose {
            connector: c.into(),
            action,
        };
        assert_eq!(ok("sync pg_prod"), p("pg_prod", Action::RetrySync));
        assert_eq!(ok("pause pg_prod"), p("pg_prod", Action::PauseConnector));
        assert_eq!(ok("resume pg_prod"), p("pg_prod", Action::ResumeConnector));
        assert_eq!(
            ok("frequency pg_prod 360"),
            p("pg_prod", Action::SetSyncFrequency { minutes: 360 })
        );
        assert_eq!(
            ok("frequency pg_prod 60m"),
            p("pg_prod", Action::SetSyncFrequency { minutes: 60 })
        );
        assert_eq!(ok("resync pg_prod"), p("pg_prod", Action::ResyncConnector));
        assert_eq!(
            ok("resync pg_prod public.orders public.users public.orders"),
            p(
                "pg_prod",
                Action::ResyncTables {
                    tables: vec![
                        TableRef {
                            schema: "public".into(),
                            table: "orders".into()
                        },
                        TableRef {
                            schema: "public".into(),
                            table: "users".into()
                        }
                    ]
                }
            )
        );
        for sub in ["sync", "pause", "resume"] {
            assert_eq!(
                problem(sub),
                (sub.to_string(), "name one connector.".to_string())
            );
        }
    }

    #[test]
    fn proposal_errors() {
        assert_eq!(
            problem("frequency pg_prod 7"),
            ("frequency".into(), "`7` is not a sync frequency Fivetran accepts; use minutes: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440.".into())
        );
        assert_eq!(
            problem("frequency pg_prod"),
            (
                "frequency".into(),
                "give a connector and minutes (1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440)."
                    .into()
            )
        );
        assert_eq!(
            problem("resync pg_prod orders"),
            ("resync".into(), "`orders` is not `schema.table`.".into())
        );
        assert_eq!(
            problem("resync pg_prod .orders"),
            (
                "resync".into(),
                "\"\" is not a valid schema or table name".into()
            )
        );
        assert_eq!(
            problem("resync"),
            (
                "resync".into(),
                "name the connector, and optionally tables as `schema.table`.".into()
            )
        );
    }

    #[test]
    fn audit() {
        assert_eq!(
            ok("audit"),
            Command::Audit {
                connector: None,
                n: 10
            }
        );
        assert_eq!(
            ok("audit 5"),
            Command::Audit {
                connector: None,
                n: 5
            }
        );
        assert_eq!(
            ok("audit pg_prod 20"),
            Command::Audit {
                connector: Some("pg_prod".into()),
                n: 20
            }
        );
        assert_eq!(
            ok("audit 3 pg_prod"),
            Command::Audit {
                connector: Some("pg_prod".into()),
                n: 3
            }
        );
        assert_eq!(
            problem("audit 0"),
            ("audit".into(), "the count must be between 1 and 50.".into())
        );
        assert_eq!(
            problem("audit 99999999999999999999999"),
            ("audit".into(), "the count must be between 1 and 50.".into())
        );
        assert_eq!(problem("audit a b").0, "audit");
        assert_eq!(problem("audit 1 2").0, "audit");
    }

    #[test]
    fn mode() {
        use crate::remediation::policy::Mode;
        assert_eq!(
            ok("mode pg_prod"),
            Command::Mode {
                connector: "pg_prod".into(),
                change: None
            }
        );
        assert_eq!(
            ok("mode pg_prod Monitor"),
            Command::Mode {
                connector: "pg_prod".into(),
                change: Some(ModeChange::Set(Mode::Monitor))
            }
        );
        assert_eq!(
            ok("mode pg_prod default"),
            Command::Mode {
                connector: "pg_prod".into(),
                change: Some(ModeChange::Default)
            }
        );
        assert_eq!(problem("mode pg_prod yolo").0, "mode");
        assert!(problem("mode pg_prod yolo").1.contains("not a mode"));
        assert_eq!(problem("mode").0, "mode");
        assert_eq!(problem("mode a b c").0, "mode");
    }

    #[test]
    fn unknown_subcommands_get_suggestions() {
        let unknown = |t: &str| match parse_text(t) {
            Err(CommandError::UnknownSubcommand { given, suggestions }) => (given, suggestions),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(
            unknown("helth"),
            ("helth".into(), vec!["health".to_string()])
        );
        assert_eq!(
            unknown("subscribtions"),
            ("subscribtions".into(), vec!["subscriptions".to_string()])
        );
        assert_eq!(unknown("stat x").1, vec!["status".to_string()]);
        assert_eq!(unknown("Paus").1, vec!["pause".to_string()]);
        assert_eq!(unknown("xyzzy").1, Vec::<String>::new());
        assert_eq!(unknown("unsub").1, vec!["unsubscribe".to_string()]);
    }

    #[test]
    fn channels() {
        assert_eq!(parse_channel("<#C0123ABC|alerts>"), Some("C0123ABC".into()));
        assert_eq!(parse_channel("<#C0123ABC>"), Some("C0123ABC".into()));
        assert_eq!(parse_channel("C0123ABC"), Some("C0123ABC".into()));
        for bad in [
            "#alerts", "<#c0123>", "<@U0123>", "C", "X0123", "C01/23", "",
        ] {
            assert_eq!(parse_channel(bad), None, "{bad}");
        }
    }

    #[test]
    fn did_you_mean_ranks_close_names() {
        let names = ["pg_prod", "pg_staging", "salesforce", "sf_prod"];
        assert_eq!(did_you_mean("pg", names, 3), vec!["pg_prod", "pg_staging"]);
        assert_eq!(did_you_mean("pg_prd", names, 3), vec!["pg_prod"]);
        assert_eq!(did_you_mean("sales", names, 3), vec!["salesforce"]);
        assert!(did_you_mean("zzz", names, 3).is_empty());
        assert!(did_you_mean("", names, 3).is_empty());
    }

    /// Every subcommand and every error, as one reviewed table.
    #[test]
    fn grammar_snapshot() {
        let inputs = [
            "",
            "help",
            "health",
            "health all",
            "health pg_prod",
            "health group:projected_sickle",
            "health group:",
            "health a b",
            "status pg_prod",
            "status",
            "status a b",
            "subscribe pg_prod",
            "subscribe pg_prod <#C0TEAM001|data-team>",
            "subscribe pg_prod <#C0TEAM001>",
            "subscribe pg_prod C0TEAM001",
            "subscribe group:g1 <#G0PRIV01|private>",
            "subscribe all",
            "subscribe",
            "subscribe pg_prod #data",
            "subscribe <#C0TEAM001|x>",
            "subscribe a C1 C2",
            "unsubscribe pg_prod <#C0TEAM001|data-team>",
            "unsubscribe",
            "subscriptions",
            "subscriptions <#C0TEAM001|t>",
            "subscriptions nope",
            "sync pg_prod",
            "sync",
            "pause pg_prod",
            "pause a b",
            "resume pg_prod",
            "frequency pg_prod 360",
            "frequency pg_prod 7",
            "frequency pg_prod",
            "resync pg_prod",
            "resync pg_prod public.orders public.users",
            "resync pg_prod orders",
            "resync",
            "audit",
            "audit 5",
            "audit pg_prod 20",
            "audit 0",
            "audit a b",
            "snooze pg_prod 2h",
            "snooze pg_prod 1d",
            "snooze pg_prod",
            "snooze pg_prod 0s",
            "snooze pg_prod 30d",
            "snooze pg_prod soon",
            "unsnooze pg_prod",
            "unsnooze",
            "snoze pg_prod 1h",
            "helth",
            "subscribtions",
            "xyzzy",
            "mode pg_prod",
            "mode pg_prod AUTO",
            "mode pg_prod default",
            "mode pg_prod watch",
            "mode",
            "mode a b c",
        ];
        let table: String = inputs
            .iter()
            .map(|t| format!("{t:?}\n  => {:?}\n", parse_text(t)))
            .collect();
        crate::slack::replies::snapshot::assert_snapshot("command_grammar.txt", &table);
    }

    /// Found by `cargo fuzz` (command_text): a long invalid table name was echoed in full.
    #[test]
    fn a_long_bad_table_name_is_not_echoed_in_full() {
        let text = format!("resync pg_prod public.{}", "\u{9b}".repeat(1000));
        let (sub, problem) = problem(&text);
        assert_eq!(sub, "resync");
        assert!(problem.chars().count() <= 120, "{problem}");
        assert!(problem.ends_with('…'), "{problem}");
    }

    /// Found by `cargo fuzz` (command_text): a long non-channel word was echoed in full.
    #[test]
    fn a_long_bad_channel_is_not_echoed_in_full() {
        let text = format!("subscriptions <#C0TEAM{}", "\u{b2}".repeat(1000));
        let (sub, problem) = problem(&text);
        assert_eq!(sub, "subscriptions");
        assert!(problem.chars().count() <= 160, "{problem}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for t in [
            "\u{0}",
            "health \u{202e}",
            "frequency x 99999999999999999999",
            "resync x a.b.c",
            "audit é",
            &"a ".repeat(10_000),
        ] {
            let _ = parse_text(t);
        }
    }
}
