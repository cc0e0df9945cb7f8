//! What syncwarden may do about a failure: the allowlisted actions, proposals and their state
//! machine, who may decide, and the executor that alone calls mutating Fivetran endpoints.

pub mod action;
pub mod admission;
pub mod approver_groups;
pub mod authorize;
pub mod auto;
pub mod batch;
pub mod decide;
pub mod executor;
pub mod expiry;
pub mod policy;
pub mod preflight;
pub mod proposal;
pub mod reject;
pub mod resume;
pub mod undo;
