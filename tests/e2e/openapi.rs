//! Checks recorded Fivetran requests against Fivetran's official OpenAPI definition
//! (tests/data/specs/open-api-spec.json): method and path template must exist, the JSON body
//! must validate against the operation's request schema, and auth/Accept headers must be set.

use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use syncwarden::sim::fivetran::RecordedRequest;

struct Spec {
    doc: Value,
    paths: Vec<(Regex, String)>,
}

/// The definition declares some integers (e.g. `sync_frequency`) as `type: integer` with an
/// enum of strings ("1", "5", ...), which no JSON value satisfies. Read such enums as the
/// integers they spell; everything else is checked as published.
fn normalize_integer_enums(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("integer") {
                if let Some(Value::Array(items)) = map.get_mut("enum") {
                    for item in items.iter_mut() {
                        if let Some(n) = item.as_str().and_then(|s| s.parse::<i64>().ok()) {
                            *item = Value::from(n);
                        }
                    }
                }
            }
            map.values_mut().for_each(normalize_integer_enums);
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_integer_enums),
        _ => {}
    }
}

static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    let mut doc: Value =
        serde_json::from_slice(&crate::world::fixture("specs/open-api-spec.json")).unwrap();
    normalize_integer_enums(&mut doc);
    let mut paths: Vec<(Regex, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|template| {
            let pattern = Regex::new(r"\{[^}]+\}")
                .unwrap()
                .replace_all(
                    &regex::escape(template)
                        .replace(r"\{", "{")
                        .replace(r"\}", "}"),
                    "[^/]+",
                )
                .into_owned();
            (
                Regex::new(&format!("^{pattern}$")).unwrap(),
                template.clone(),
            )
        })
        .collect();
    // Literal segments beat parameters: try the templates with fewer parameters first.
    paths.sort_by_key(|(_, t)| t.matches('{').count());
    Spec { doc, paths }
});

static VALIDATORS: LazyLock<Mutex<HashMap<String, Option<jsonschema::Validator>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(v),
        None => v,
    }
}

pub fn check(r: &RecordedRequest) -> Result<(), String> {
    let spec = &*SPEC;
    let template = spec
        .paths
        .iter()
        .filter(|(re, _)| re.is_match(&r.path))
        .map(|(_, t)| t.clone())
        .find(|t| spec.doc["paths"][t].get(r.method.to_lowercase()).is_some())
        .ok_or_else(|| format!("{} {} matches no operation", r.method, r.path))?;
    if !r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic "))
    {
        return Err("missing HTTP Basic authorization".into());
    }
    if r.accept.as_deref() != Some("application/json;version=2") {
        return Err(format!("Accept is {:?}", r.accept));
    }
    let op = &spec.doc["paths"][&template][r.method.to_lowercase()];
    let request_body = op.get("requestBody").map(|b| resolve(&spec.doc, b));
    let schema = request_body.and_then(|b| b.pointer("/content/application~1json/schema"));
    match (&r.body, schema) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(format!("{} {template} takes no JSON body", r.method)),
        (None, Some(_)) => {
            let required = request_body
                .and_then(|b| b.get("required"))
                .and_then(|x| x.as_bool())
                .unwrap_or(false);
            if required {
                Err("required body missing".into())
            } else {
                Ok(())
            }
        }
        (Some(body), Some(schema)) => {
            if r.content_type
                .as_deref()
                .is_none_or(|c| !c.starts_with("application/json"))
            {
                return Err(format!("content-type {:?}", r.content_type));
            }
            let key = format!("{} {template}", r.method);
            let mut cache = VALIDATORS.lock().unwrap();
            let validator = cache.entry(key).or_insert_with(|| {
                let root = serde_json::json!({
                    "components": spec.doc["components"],
                    "allOf": [schema],
                });
                jsonschema::validator_for(&root).ok()
            });
            let validator = validator.as_ref().ok_or("schema does not compile")?;
            let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        }
    }
}

fn req(method: &str, path: &str, body: Option<Value>) -> RecordedRequest {
    RecordedRequest {
        at: chrono::DateTime::UNIX_EPOCH,
        method: method.into(),
        path: path.into(),
        query: None,
        authorization: Some("Basic eDp5".into()),
        accept: Some("application/json;version=2".into()),
        content_type: body.as_ref().map(|_| "application/json".into()),
        body,
        status: 200,
    }
}

#[test]
fn every_allowlisted_action_is_valid_against_the_spec() {
    use syncwarden::remediation::action::{Action, TableRef};
    let actions = [
        Action::RetrySync,
        Action::RunSetupTests,
        Action::ReloadSchema,
        Action::PauseConnector,
        Action::ResumeConnector,
        Action::SetSyncFrequency { minutes: 360 },
        Action::ResyncTables {
            tables: vec![TableRef {
                schema: "public".into(),
                table: "orders".into(),
            }],
        },
        Action::ResyncConnector,
    ];
    for a in actions {
        let call = a.call("speak_inexpensive");
        check(&req(&call.method, &call.path, call.body.clone()))
            .unwrap_or_else(|e| panic!("{}: {e}", a.name()));
    }
    check(&req("GET", "/v1/connections/speak_inexpensive", None)).unwrap();
}

#[test]
fn the_checker_catches_bad_requests() {
    assert!(check(&req(
        "POST",
        "/v1/connectors/x/sync",
        Some(serde_json::json!({}))
    ))
    .is_err());
    assert!(check(&req(
        "POST",
        "/v1/connections/x/sync",
        Some(serde_json::json!({"force": "yes"}))
    ))
    .is_err());
    assert!(check(&req(
        "PATCH",
        "/v1/connections/x",
        Some(serde_json::json!({"paused": "true"}))
    ))
    .is_err());
    assert!(check(&req(
        "PATCH",
        "/v1/connections/x",
        Some(serde_json::json!({"sync_frequency": 7}))
    ))
    .is_err());
    let mut no_auth = req("GET", "/v1/connections/x", None);
    no_auth.authorization = None;
    assert!(check(&no_auth).is_err());
}
