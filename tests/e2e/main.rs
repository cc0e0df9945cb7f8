//! End-to-end tests: the real router and real clients against the simulators in `src/sim/`.
//! One binary to keep link time down.

mod alerts;
mod approval_loop;
mod audit_log;
mod commands;
mod crash_recovery;
mod dead_letters;
mod demo;
mod governance;
mod hostile_input;
mod llm;
mod manifests;
mod matrix;
mod modes;
mod openapi;
mod preflight;
mod rate_limits;
mod reject;
mod undo;
mod world;
