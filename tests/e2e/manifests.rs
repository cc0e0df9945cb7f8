//! The shipped manifests: the Slack app manifest validates against SchemaStore's schema, and
//! the annotated example config loads.

use crate::world::fixture;
use std::path::Path;

fn manifest_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/manifests/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn slack_app_manifest_is_valid() {
    let manifest: serde_json::Value =
        serde_yaml::from_str(&manifest_file("slack-app.yaml")).unwrap();
    let schema: serde_json::Value =
        serde_json::from_slice(&fixture("specs/slack-app-manifest.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let commands = manifest["features"]["slash_commands"].as_array().unwrap();
    assert!(commands
        .iter()
        .any(|c| c["command"] == "/fivetran"
            && c["url"].as_str().unwrap().ends_with("/slack/commands")));
    assert!(manifest["settings"]["interactivity"]["request_url"]
        .as_str()
        .unwrap()
        .ends_with("/slack/interactions"));
    let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    // Everything the features call: posting, slash commands, user groups for approvers,
    // and the history read that keeps a post interrupted by a crash from being repeated.
    for s in [
        "chat:write",
        "chat:write.public",
        "commands",
        "usergroups:read",
        "users:read",
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
    ] {
        assert!(scopes.contains(&s), "{scopes:?}");
    }
}

#[test]
fn example_config_loads_and_validates() {
    let text = manifest_file("syncwarden.example.toml");
    let config = syncwarden::config::Config::from_toml_and_env(
        &text,
        Path::new("syncwarden.example.toml"),
        &[],
    )
    .unwrap();
    let settings = config.settings().unwrap();
    assert_eq!(settings.fivetran_api_base, "https://api.fivetran.com");
    assert_eq!(settings.slack_api_base, "https://slack.com/api");
    assert!(!settings.approvers.is_empty());
}
