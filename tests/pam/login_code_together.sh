#!/bin/sh
# The functions every login runs sit together at the start of pam_policy.so's code
# (pam/login_functions.ld, docs/cost.md), so one login faults in few 64 KiB windows of it. A few
# of them, from each part of the login, must lie within 320 KiB of each other; the linker's
# default order spreads these same functions over about 600 KiB.
# usage: login_code_together.sh MODULE
set -eu
module=$1
wanted='pam_sm_authenticate|_ZN10authpolicy16load_policy_fileERK[^.]*|_ZN10authpolicy6decideERK[^.]*'
wanted="$wanted|_ZN10authpolicy7grammar17parse_policy_textE[^.]*|_ZN10authpolicy12open_trustedERK[^.]*"
wanted="$wanted|_ZN10authpolicy14dlopen_trustedERK[^.]*"
addresses=$(nm --defined-only "$module" | grep -E " [tT] ($wanted)\$" |
  while read -r address type name; do printf '%d %s\n' "0x$address" "$name"; done | sort -n)
echo "$addresses"
count=$(echo "$addresses" | grep -c .)
if [ "$count" -ne 6 ]; then
  echo "expected 6 of the login's functions in $module, found $count"
  exit 1
fi
first=$(echo "$addresses" | head -1 | cut -d' ' -f1)
last=$(echo "$addresses" | tail -1 | cut -d' ' -f1)
span=$((last - first))
echo "span: $span bytes"
if [ "$span" -gt 327680 ]; then
  echo "the login's functions are spread over more than 320 KiB: is pam/login_functions.ld applied?"
  exit 1
fi
