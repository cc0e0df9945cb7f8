#![no_main]
// The logic and its invariants live in the library (syncwarden::fuzzing), so `cargo test`
// runs the same checks over the seed corpus.
libfuzzer_sys::fuzz_target!(|data: &[u8]| syncwarden::fuzzing::interaction_payload(data));
