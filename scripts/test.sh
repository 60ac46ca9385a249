#!/usr/bin/env bash
# Runs every test: the suite on a normal build, again under AddressSanitizer + UBSan, and the
# parse/check/eval fuzzer and the audit spool reader's, each for a fixed number of inputs
# (fuzz/run.sh). `--quick` runs only the normal build's suite.
#
# As root it runs in a clean view of the machine (scripts/clean-view.sh): /var/lib/authpolicy,
# /etc/authpolicy, an installed package or module start absent as on a fresh machine, and nothing
# the tests write outside the checkout stays behind. AP_CLEAN_VIEW=0 runs on the machine as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && [ "${AP_CLEAN_VIEW:-1}" != 0 ] && [ -z "${AP_IN_CLEAN_VIEW:-}" ]; then
  scripts/setup.sh --packages-only  # packages are the machine's own: installed outside the view
  AP_IN_CLEAN_VIEW=1 exec scripts/clean-view.sh "$0" "$@"
fi
quick=0
[ "${1:-}" = "--quick" ] && quick=1
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# Prints the plain closing line "tests: N passed, N failed" over every ctest run so far.
summary() {
  awk '/tests passed, [0-9]+ tests failed out of/ {
         for (i = 1; i <= NF; i++) { if ($i == "failed") f += $(i - 2); if ($i == "of") t += $(i + 1) }
       } END { printf "tests: %d passed, %d failed\n", t - f, f }' "$results"
}

scripts/setup.sh build
echo "== tests (build/)"
(cd build && ctest --output-on-failure -j2 --timeout 600) | tee -a "$results"
if ((quick)); then summary; exit 0; fi

echo "== tests under AddressSanitizer + UBSan (build-asan/)"
scripts/setup.sh build-asan -DAUTHPOLICY_SANITIZE=ON -DAUTHPOLICY_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
# Not the `install` label (tests/install: the .deb and `cmake --install`): they package and
# install the build, which is the normal build's job; a sanitizer build is never shipped.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j2 --timeout 900 -LE '^install$') | tee -a "$results"

echo "== fuzzing parse+check+eval: 50,000 inputs from seed 1 (build-fuzz/)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTHPOLICY_FUZZ=ON \
  -DAUTHPOLICY_BENCH=OFF >/dev/null
cmake --build build-fuzz --target fuzz_policy fuzz_spool -j"$(nproc)"
fuzz/run.sh build-fuzz/fuzz/fuzz_policy 120 1 50000
echo "== fuzzing the audit spool reader: 500,000 inputs from seed 1"
spool_corpus=$(mktemp -d)
build-fuzz/fuzz/fuzz_spool -seed=1 -runs=500000 -max_total_time=60 -timeout=10 \
  -print_final_stats=1 "$spool_corpus" 2>&1 | tail -n 12
rm -rf "$spool_corpus"
summary
