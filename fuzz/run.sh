#!/usr/bin/env bash
# The long fuzz run: each target for SECONDS (default 600) with libFuzzer, starting from the
# checked-in seeds. New interesting inputs go to fuzz/work/<target>/ (not committed); crashes
# go to fuzz/artifacts/<target>/ — copy a crash into fuzz/corpus/<target>/ once it is fixed, so
# `cargo test` replays it for ever after.
#
#   cargo install cargo-fuzz          # once
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Works on stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(webhook_body interaction_payload command_text)
fi
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "== $t for ${seconds}s"
  cargo fuzz run --debug-assertions "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2>&1 | tee "work/$t.log" | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY)' || true
done
