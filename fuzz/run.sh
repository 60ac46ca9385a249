#!/usr/bin/env bash
# Runs the policy fuzzer for N seconds over a corpus seeded from policies/ and tests/check/.
# Usage: fuzz/run.sh PATH/TO/fuzz_policy SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$1
seconds=${2:-60}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp fuzz/corpus/* "$corpus"/ 2>/dev/null || true
for f in policies/*.pol tests/check/*.pol tests/fmt/*.pol; do cp "$f" "$corpus/$(echo "$f" | tr / _)"; done
"$binary" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -dict=fuzz/policy.dict -print_final_stats=1 "$corpus" 2>&1 | tail -n 25
