#!/usr/bin/env bash
# The full-size check of `authpolicy audit export --cursor` (issue 25): 10,000 decisions made by
# four processes logging in through real libpam, while the exporter is killed and restarted five
# times, twice over: with --output (SIGKILL and SIGTERM alternating) and on stdout (SIGTERM); the
# union of its outputs must hold every decision exactly once. ctest runs the same tests with 400
# decisions each (tests/pam/export_test.cpp).
#
# usage: scripts/export_check.sh BUILD_DIR [DECISIONS]   (as root, like the other pam tests)
set -euo pipefail
build=${1:?usage: export_check.sh BUILD_DIR [DECISIONS]}
decisions=${2:-10000}
cmake --build "$build" --target ap_pam_tests authpolicy pam_policy -j2
start=$(date +%s)
AP_EXPORT_DECISIONS=$decisions "$build/tests/pam/ap_pam_tests" \
  --gtest_filter='PamExport.*' 2>&1 |
  grep -v '^PWRAP_DEBUG\|^$'
echo "export_check: $decisions decisions, $(( $(date +%s) - start )) s"
