//! The Slack boundary: request signatures, the Web API client, Block Kit rendering,
//! interaction payloads and slash-command replies.

pub mod blocks;
pub mod client;
pub mod command;
pub mod grouped;
pub mod interaction;
pub mod pacing;
pub mod proposal_status;
pub mod replies;
pub mod signature;
