#!/usr/bin/env bash
# Whole-process cost of pam_policy.so: pamtester under pam_wrapper with a stack whose only auth
# module is pam_policy.so (`auth password`, delegating to pam_matrix) against the same stack with
# pam_matrix alone. Prints the median wall time of each and their ratio (target <= 1.15).
# Like with like: both log in an account the name service knows (a real host has resolved its
# user before PAM runs; an unknown name sends the module's lookup on through every NSS source,
# nss-systemd included, which no real login pays), and the module writes to its own audit log
# in the work folder on the same file system, not to the shared /var/lib/authpolicy/audit.db
# whose write-ahead log other programs' tests leave at any length.
#
# usage: bench/pam/compare.sh BUILD_DIR [RUNS]     (as root: policies must be root-owned)
#   BENCH_USER (environment): the account that logs in, default nobody; it must exist.
set -euo pipefail

build=${1:?usage: compare.sh BUILD_DIR [RUNS]}
runs=${2:-200}
module="$(realpath "$build")/pam/pam_policy.so"  # pam.d needs an absolute path
wrapper=$(ls /usr/lib/x86_64-linux-gnu/libpam_wrapper.so 2>/dev/null || true)
matrix=/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so
for need in "$module" "$wrapper" "$matrix" /usr/bin/pamtester; do
  [[ -e "$need" ]] || { echo "compare.sh: missing $need" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "compare.sh: run as root (policy files must be root-owned)" >&2; exit 2; }
user=${BENCH_USER:-nobody}
getent passwd "$user" > /dev/null || { echo "compare.sh: no account $user (set BENCH_USER)" >&2; exit 2; }

work=$(mktemp -d /tmp/ap-pam-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
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
echo "auth required $matrix passdb=$work/passdb" > "$work/pam.d/matrix_only"
echo "auth required pam_deny.so" > "$work/pam.d/other"

one_run() {  # prints the wall time of one pamtester process in microseconds
  local service=$1 start end
  start=$(date +%s%N)
  echo bench-pass | LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
    pamtester "$service" "$user" authenticate > /dev/null 2>&1 || { echo "compare.sh: $service failed" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

one_run policy_only > /dev/null; one_run matrix_only > /dev/null   # warm the page cache
: > "$work/policy.txt"; : > "$work/matrix.txt"
for ((i = 0; i < runs; i++)); do   # interleaved, so load changes hit both alike
  one_run policy_only >> "$work/policy.txt"
  one_run matrix_only >> "$work/matrix.txt"
done
policy=$(median < "$work/policy.txt")
matrix_us=$(median < "$work/matrix.txt")
ratio=$(awk -v a="$policy" -v b="$matrix_us" 'BEGIN {printf "%.3f", a / b}')
echo "runs=$runs user=$user load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs=$runs pam_policy.so(password->pam_matrix) median=${policy}us pam_matrix.so median=${matrix_us}us ratio=${ratio}"
awk -v r="$ratio" 'BEGIN {exit !(r <= 1.15)}' && echo "within target (<= 1.15x)" || echo "over target (> 1.15x)"
