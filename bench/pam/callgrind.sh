#!/usr/bin/env bash
# Instructions pam_policy.so adds to one whole login: callgrind counts one pamtester process
# (under pam_wrapper) whose auth stack is pam_policy.so (`auth password` -> pam_matrix, audit log
# on) and one whose stack is pam_matrix alone, each the third run of its stack (so the audit log
# exists and the page cache is warm), and prints both totals and the difference (target <= 3.0M).
# Instruction counts do not depend on machine load, unlike compare.sh's wall times.
#
# usage: bench/pam/callgrind.sh BUILD_DIR [KEEP_DIR]   (as root: policies must be root-owned)
#   KEEP_DIR: keep the callgrind.out files there (callgrind_annotate shows where the cost goes).
#   WARM=N (environment): N logins before the counted one instead of 2, to count a login that
#   finds a longer write-ahead log (the audit log's steady state; see docs/cost.md).
#   BENCH_USER (environment): the account that logs in, default nobody; it must exist (as in
#   compare.sh: a real host's user is known to the name service).
#   RUNS=N (environment): count N consecutive pam_policy.so logins and print their mean and
#   largest count too (the write-ahead log grows and is truncated over a cycle of logins).
#   SHADOW=1 (environment): also count the same login with a shadow policy beside the live one
#   (shadow=next.pol: the bench policy plus a deny rule), and print it as a ratio of the login
#   without it (docs/cost.md, "Shadow policy").
set -euo pipefail

build=${1:?usage: callgrind.sh BUILD_DIR [KEEP_DIR]}
keep=${2:-}
module="$(realpath "$build")/pam/pam_policy.so"
wrapper=$(ls /usr/lib/x86_64-linux-gnu/libpam_wrapper.so 2>/dev/null || true)
matrix=/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so
command -v valgrind > /dev/null || { echo "callgrind.sh: missing valgrind (apt-get install valgrind)" >&2; exit 2; }
for need in "$module" "$wrapper" "$matrix" /usr/bin/pamtester; do
  [[ -e "$need" ]] || { echo "callgrind.sh: missing $need" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "callgrind.sh: run as root (policy files must be root-owned)" >&2; exit 2; }
user=${BENCH_USER:-nobody}
getent passwd "$user" > /dev/null || { echo "callgrind.sh: no account $user (set BENCH_USER)" >&2; exit 2; }

work=$(mktemp -d /tmp/ap-pam-callgrind.XXXXXX)
trap '[[ -n "${KEEP_WORK:-}" ]] || rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/pam.d" "$work/audit"
chmod 700 "$work/audit"
printf '%s:bench-pass:policy_only\n%s:bench-pass:matrix_only\n' "$user" "$user" > "$work/passdb"
cat > "$work/bench.pol" <<POL
factor password { module = "$matrix"; arguments = "passdb=$work/passdb" }
auth password
audit { db = "$work/audit/audit.db" }
POL
chmod 644 "$work/bench.pol"
echo "auth required $module policy=$work/bench.pol" > "$work/pam.d/policy_only"
{ cat "$work/bench.pol"; echo "deny if rhost in { 203.0.113.0/24 }"; } > "$work/next.pol"
chmod 644 "$work/next.pol"
echo "auth required $module policy=$work/bench.pol shadow=$work/next.pol" > "$work/pam.d/policy_shadow"
printf '%s:bench-pass:policy_shadow\n' "$user" >> "$work/passdb"
echo "auth required $matrix passdb=$work/passdb" > "$work/pam.d/matrix_only"
echo "auth required pam_deny.so" > "$work/pam.d/other"

login() {  # login SERVICE [valgrind arguments...]: one pamtester process; fails the script if denied
  local service=$1
  shift
  echo bench-pass | LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
    "$@" pamtester "$service" "$user" authenticate > "$work/$service.out" 2>&1 ||
    { echo "callgrind.sh: $service login failed:" >&2; cat "$work/$service.out" >&2; exit 1; }
}

warm=${WARM:-2}
runs=${RUNS:-1}
count() {  # count SERVICE N: instructions of logins WARM+1 .. WARM+N of SERVICE, one a line
  local service=$1 n=$2 out="$work/callgrind.out.$1" i
  for ((i = 0; i < warm; i++)); do login "$service"; done
  for ((i = 0; i < n; i++)); do
    login "$service" valgrind --tool=callgrind --callgrind-out-file="$out" --trace-children=no
    awk '/^summary:/ {print $2}' "$out"
  done
}

count policy_only "$runs" > "$work/policy.counts"
policy=$(head -1 "$work/policy.counts")
alone=$(count matrix_only 1)
[[ -n "$keep" ]] && cp "$work"/callgrind.out.* "$keep"/
wal=$(stat -c %s "$work/audit/audit.db-wal" 2>/dev/null || echo 0)  # before sqlite3 checkpoints it
spool=$(stat -c %s "$work/audit/audit.db-spool" 2>/dev/null || echo 0)  # decisions waiting there
rows=$(sqlite3 "$work/audit/audit.db" "SELECT count(*) FROM decisions" 2>/dev/null || echo "?")
added=$((policy - alone))
echo "pam_policy.so(password->pam_matrix)=$policy pam_matrix.so=$alone added=$added instructions (audit rows in the tables=$rows, spool $spool bytes, WAL $wal bytes after)"
if ((runs > 1)); then
  awk -v alone="$alone" '{sum += $1; if ($1 > max) max = $1} END {
    printf "over %d logins: mean added=%d largest added=%d instructions\n", NR, sum / NR - alone, max - alone}' \
    "$work/policy.counts"
fi
if [[ -n "${SHADOW:-}" ]]; then
  shadowed=$(count policy_shadow 1)
  awk -v with="$shadowed" -v without="$policy" -v alone="$alone" 'BEGIN {
    printf "with shadow=%d without=%d: whole login x%.3f, pam_policy.so part x%.3f (+%d instructions)\n",
      with, without, with / without, (with - alone) / (without - alone), with - without}'
fi
if ((added <= 3000000)); then echo "within target (<= 3.0M added)"; else echo "over target (> 3.0M added)"; fi
