#!/usr/bin/env bash
# A long-lived PAM host through the system's libpam (ap_pam_loop: pam_start_confdir /
# pam_authenticate / pam_end in a loop), as issue #23 asks:
#   growth CYCLES   the process grows by less than 1 MiB more with pam_policy.so (`auth password`
#                   -> pam_matrix, audit log in this test's folder) than with pam_matrix alone,
#                   from its 100th login to its last
#   valgrind CYCLES valgrind --leak-check finds 0 bytes definitely lost after CYCLES logins
# usage: loop_test.sh DRIVER MODULE MATRIX (growth|valgrind) CYCLES   (as root: policies must be
# root-owned; the account that logs in is LOOP_USER, default nobody, and must exist)
set -euo pipefail

driver=${1:?usage: loop_test.sh DRIVER MODULE MATRIX (growth|valgrind) CYCLES}
module=${2:?} matrix=${3:?} mode=${4:?} cycles=${5:?}
user=${LOOP_USER:-nobody}
[[ $(id -u) == 0 ]] || { echo "loop_test.sh: needs root (policy files must be root-owned)" >&2; exit 1; }
getent passwd "$user" > /dev/null || { echo "loop_test.sh: no account $user (set LOOP_USER)" >&2; exit 1; }

work=$(mktemp -d /tmp/ap-loop.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/pam.d" "$work/audit"
chmod 700 "$work/audit"
printf '%s:loop-pass:loop_policy\n%s:loop-pass:loop_matrix\n' "$user" "$user" > "$work/passdb"
cat > "$work/loop.pol" <<POL
factor password { module = "$matrix"; arguments = "passdb=$work/passdb" }
auth password
audit { db = "$work/audit/audit.db" }
POL
chmod 644 "$work/loop.pol"
echo "auth required $module policy=$work/loop.pol" > "$work/pam.d/loop_policy"
echo "auth required $matrix passdb=$work/passdb" > "$work/pam.d/loop_matrix"
echo "auth required pam_deny.so" > "$work/pam.d/other"

warm=100
# growth SERVICE: resident KiB gained from login $warm to login $cycles
growth() {
  local out="$work/$1.out"
  "$driver" "$work/pam.d" "$1" "$user" loop-pass "$cycles" "$warm" > "$out" ||
    { echo "loop_test.sh: $1 loop failed:" >&2; cat "$out" >&2; exit 1; }
  awk -v warm="$warm" -F'[= ]' '$2 == warm {first = $4} {last = $4} END {print last - first}' "$out"
}

case $mode in
  growth)
    ((cycles > warm)) || { echo "loop_test.sh: CYCLES must exceed $warm" >&2; exit 2; }
    policy=$(growth loop_policy)
    alone=$(growth loop_matrix)
    rows=$(sqlite3 "$work/audit/audit.db" "SELECT count(*) FROM decisions" 2>/dev/null || echo "?")
    spool=$(stat -c %s "$work/audit/audit.db-spool" 2>/dev/null || echo 0)
    echo "logins $warm..$cycles: pam_policy.so grew $policy KiB, pam_matrix.so alone $alone KiB" \
      "(audit rows in the tables $rows, spool $spool bytes)"
    if ((policy - alone >= 1024)); then
      echo "FAIL: pam_policy.so grows the host by $((policy - alone)) KiB more (limit 1024)"
      exit 1
    fi
    echo "ok: $((policy - alone)) KiB more than pam_matrix.so alone (limit 1024)"
    ;;
  valgrind)
    command -v valgrind > /dev/null ||
      { echo "loop_test.sh: missing valgrind (apt-get install valgrind)" >&2; exit 1; }
    log="$work/valgrind.log"
    if ! valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
        --log-file="$log" "$driver" "$work/pam.d" loop_policy "$user" loop-pass "$cycles" "$cycles"; then
      cat "$log"
      echo "FAIL: valgrind reports errors or leaks (exit above)"
      exit 1
    fi
    grep -E "definitely lost|indirectly lost|still reachable|ERROR SUMMARY" "$log" || true
    # A run without leaks at all says "All heap blocks were freed" instead of a LEAK SUMMARY.
    if grep -q "definitely lost:" "$log" && ! grep -q "definitely lost: 0 bytes" "$log"; then
      echo "FAIL: bytes definitely lost after $cycles logins"
      exit 1
    fi
    echo "ok: 0 bytes definitely lost after $cycles logins"
    ;;
  *) echo "loop_test.sh: unknown mode $mode" >&2; exit 2 ;;
esac
