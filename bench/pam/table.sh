#!/usr/bin/env bash
# Issue #23's table in one run: callgrind instructions of one whole pamtester login (under
# pam_wrapper, user nobody, the third login of each stack so that logs exist and caches are warm)
# for five auth stacks side by side, what each adds over pam_matrix alone, whether the failures()
# and recent() policies stay within (password-only added + pam_faillock added), and the loop
# driver's growth (tests/longlived/ap_pam_loop: pam_start_confdir / pam_authenticate / pam_end
# in one process through the system's libpam, LOOP_CYCLES logins, default 10000).
#
#   matrix     auth required pam_matrix.so
#   password   pam_policy.so: auth password (-> pam_matrix), audit log on
#   failures   pam_policy.so: deny if failures(15m) >= 5, auth password
#   recent     pam_policy.so: auth password && (stepup unless recent(stepup, 8h)), stepup a pam()
#              factor (pam_matrix); the counted login finds the earlier pass and skips stepup
#   faillock   pam_faillock preauth, pam_matrix, pam_faillock authfail / authsucc
#
# usage: bench/pam/table.sh BUILD_DIR   (as root: policies must be root-owned)
#   KEEP_DIR (environment): keep the callgrind.out files there.
set -euo pipefail

build=$(realpath "${1:?usage: table.sh BUILD_DIR}")
module="$build/pam/pam_policy.so"
driver="$build/tests/longlived/ap_pam_loop"
wrapper=$(ls /usr/lib/x86_64-linux-gnu/libpam_wrapper.so 2>/dev/null || true)
matrix=/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so
faillock=/usr/lib/x86_64-linux-gnu/security/pam_faillock.so
command -v valgrind > /dev/null || { echo "table.sh: missing valgrind (apt-get install valgrind)" >&2; exit 2; }
for need in "$module" "$driver" "$wrapper" "$matrix" "$faillock" /usr/bin/pamtester; do
  [[ -e "$need" ]] || { echo "table.sh: missing $need" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "table.sh: run as root (policy files must be root-owned)" >&2; exit 2; }
user=${BENCH_USER:-nobody}
getent passwd "$user" > /dev/null || { echo "table.sh: no account $user (set BENCH_USER)" >&2; exit 2; }

work=$(mktemp -d /tmp/ap-pam-table.XXXXXX)
trap '[[ -n "${KEEP_WORK:-}" ]] || rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/pam.d" "$work/faillock"
for stack in matrix password failures recent faillock; do
  printf '%s:bench-pass:%s\n' "$user" "$stack" >> "$work/passdb"
  mkdir -m 700 "$work/audit-$stack"
done
policy() {  # policy STACK RULES: a policy file with its own audit log
  printf 'factor password { module = "%s"; arguments = "passdb=%s" }\n%s\naudit { db = "%s" }\n' \
    "$matrix" "$work/passdb" "$2" "$work/audit-$1/audit.db" > "$work/$1.pol"
  chmod 644 "$work/$1.pol"
  echo "auth required $module policy=$work/$1.pol" > "$work/pam.d/$1"
}
policy password "auth password"
policy failures "deny if failures(15m) >= 5
auth password"
policy recent "factor stepup = pam(\"$matrix\", \"passdb=$work/passdb\")
auth password && (stepup unless recent(stepup, 8h))"
echo "auth required $matrix passdb=$work/passdb" > "$work/pam.d/matrix"
cat > "$work/pam.d/faillock" <<PAM
auth required $faillock preauth dir=$work/faillock
auth [success=1 default=bad] $matrix passdb=$work/passdb
auth [default=die] $faillock authfail dir=$work/faillock
auth sufficient $faillock authsucc dir=$work/faillock
PAM
echo "auth required pam_deny.so" > "$work/pam.d/other"

login() {  # login SERVICE [valgrind arguments...]: one pamtester process; fails the script if denied
  local service=$1
  shift
  printf 'bench-pass\nbench-pass\n' | LD_PRELOAD="$wrapper" PAM_WRAPPER=1 \
    PAM_WRAPPER_SERVICE_DIR="$work/pam.d" "$@" pamtester "$service" "$user" authenticate \
    > "$work/$service.out" 2>&1 ||
    { echo "table.sh: $service login failed:" >&2; cat "$work/$service.out" >&2; exit 1; }
}

count() {  # count SERVICE: instructions of the third login of SERVICE
  local out="$work/callgrind.out.$1"
  login "$1"
  login "$1"
  login "$1" valgrind --tool=callgrind --callgrind-out-file="$out" --trace-children=no
  awk '/^summary:/ {print $2}' "$out"
}

declare -A total added
for stack in matrix password failures recent faillock; do total[$stack]=$(count "$stack"); done
[[ -n "${KEEP_DIR:-}" ]] && cp "$work"/callgrind.out.* "$KEEP_DIR"/
for stack in matrix password failures recent faillock; do added[$stack]=$((total[$stack] - total[matrix])); done

printf '| stack | instructions | added over pam_matrix alone |\n|---|---|---|\n'
printf '| pam_matrix.so alone | %s | 0 |\n' "${total[matrix]}"
printf '| pam_policy.so, `auth password` | %s | %s |\n' "${total[password]}" "${added[password]}"
printf '| pam_policy.so, `deny if failures(15m) >= 5` + `auth password` | %s | %s |\n' \
  "${total[failures]}" "${added[failures]}"
printf '| pam_policy.so, `auth password && (stepup unless recent(stepup, 8h))` | %s | %s |\n' \
  "${total[recent]}" "${added[recent]}"
printf '| pam_faillock preauth + pam_matrix + authfail/authsucc | %s | %s |\n' \
  "${total[faillock]}" "${added[faillock]}"
budget=$((added[password] + added[faillock]))
verdict=0
for stack in failures recent; do
  if ((added[$stack] <= budget)); then
    echo "$stack: added ${added[$stack]} <= password-only + pam_faillock = $budget: within"
  else
    echo "$stack: added ${added[$stack]} > password-only + pam_faillock = $budget: OVER"
    verdict=1
  fi
done
tally=$(ls "$work/audit-failures/audit.db-tally" 2>/dev/null | wc -l)
echo "(failures log: $(sqlite3 "$work/audit-failures/audit.db" "SELECT count(*) FROM decisions" 2>/dev/null || echo "?") rows in the tables, spool $(stat -c %s "$work/audit-failures/audit.db-spool" 2>/dev/null || echo 0) bytes, $tally files in the tally)"

cycles=${LOOP_CYCLES:-10000}
growth() {  # growth SERVICE: "first last" resident KiB after login 100 and the last one
  "$driver" "$work/pam.d" "$1" "$user" bench-pass "$cycles" 100 |
    awk -F'[= ]' '$2 == 100 {first = $4} {last = $4} END {print first, last}'
}
read -r policy_first policy_last < <(growth password)
read -r alone_first alone_last < <(growth matrix)
echo "loop driver, logins 100..$cycles through the system's libpam:" \
  "pam_policy.so $policy_first -> $policy_last KiB (+$((policy_last - policy_first)))," \
  "pam_matrix.so alone $alone_first -> $alone_last KiB (+$((alone_last - alone_first)))"
exit $verdict
