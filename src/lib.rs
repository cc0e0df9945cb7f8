//! syncwarden: keeps Fivetran connectors healthy from Slack. Fivetran reports a failed sync,
//! syncwarden works out why, posts a summary with Approve / Reject buttons for a concrete fix,
//! runs the approved Fivetran call and audits every step.

pub mod app;
pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod diagnosis;
pub mod duration;
pub mod fivetran;
pub mod fuzzing;
pub mod health;
pub mod heap;
pub mod http;
pub mod incidents;
pub mod ingest;
pub mod jobs_admin;
pub mod limits;
pub mod notices;
pub mod notify;
pub mod post_once;
pub mod remediation;
pub mod secret;
pub mod sim;
pub mod slack;
pub mod store;
pub mod worker;
