#!/usr/bin/env bash
# Runs the policy fuzzer for N seconds over a corpus seeded from policies/ and tests/check/.
# On a finding it prints the fuzzer's own message (what failed, the input and what fmt made of it)
# and the input as base64, because CI keeps only the printed output, not the crash file.
# fuzz/corpus/ holds inputs that once failed: each is run again first.
# Usage: fuzz/run.sh PATH/TO/fuzz_policy SECONDS [SEED RUNS]
#   SECONDS alone: a random seed, for as long as SECONDS (exploring, in a development session).
#   SEED RUNS: RUNS inputs from that seed (SECONDS still caps it), as CI runs it: as much fuzzing
#   on a slow machine as on a fast one. Not bit-for-bit the same run twice: five runs of 50,000
#   from seed 1 found 1,090 to 1,159 new units. Each finding is fixed and its input
#   kept in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "$1")
seconds=${2:-60}
repeatable=()
if [ $# -ge 4 ]; then repeatable=(-seed="$3" -runs="$4"); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/findings"
cp fuzz/corpus/* "$work/corpus"/ 2>/dev/null || true
for f in policies/*.pol tests/check/*.pol tests/fmt/*.pol; do cp "$f" "$work/corpus/$(echo "$f" | tr / _)"; done
status=0
"$binary" -max_total_time="$seconds" "${repeatable[@]}" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -dict=fuzz/policy.dict -print_final_stats=1 -artifact_prefix="$work/findings/" \
  "$work/corpus" >"$work/log" 2>&1 || status=$?
if [ "$status" -eq 0 ]; then
  tail -n 25 "$work/log"
  exit 0
fi
echo "fuzz/run.sh: $(basename "$binary") found a failing input (exit $status); its report:"
# The report starts at the harness's own message or the sanitizer's first line.
sed -n '/^fmt round trip\|^check adds\|^==[0-9]*==\|^INFO: libFuzzer.*deadly/,$p' "$work/log" | head -n 150
for finding in "$work"/findings/*; do
  [ -f "$finding" ] || continue
  echo "--- $(basename "$finding") as base64 (save it, then: base64 -d > crash; $binary crash)"
  base64 -w 100 "$finding"
done
exit "$status"
