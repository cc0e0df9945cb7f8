//! What syncwarden may do about a failure: the allowlisted actions, proposals and their state
//! machine, who may decide, and the executor that alone calls mutating Fivetran endpoints.

pub mod action;
pub mod batch;
pub mod decide;
pub mod executor;
pub mod policy;
pub mod proposal;
