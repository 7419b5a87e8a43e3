#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30) without a sanitizer
# (works on stable Rust). Fails on the first finding; the crashing input is left in
# fuzz/artifacts/TARGET/. Seeds come from fuzz/seeds/TARGET (committed, small); new
# inputs go to fuzz/corpus/TARGET (not committed).
#
#   fuzz/run.sh 30                 # what CI runs
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET   # with AddressSanitizer, where code is unsafe
set -euo pipefail
seconds="${1:-30}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=$(cargo fuzz list)
cargo fuzz build -s none
for t in $targets; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "fuzz: $t for ${seconds}s"
    cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        2>&1 | grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)' || true
    # libFuzzer exits non-zero on a finding; pipefail is lost through `|| true`, so look
    # for the artifact instead.
    if compgen -G "artifacts/$t/*" >/dev/null; then
        echo "fuzz: $t found a failing input:" artifacts/"$t"/*
        exit 1
    fi
done
echo "fuzz: all targets ran ${seconds}s with no finding"
