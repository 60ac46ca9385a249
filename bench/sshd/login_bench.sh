#!/bin/bash
# Whole-login time through the real sshd with and without pam_policy.so, in network namespaces.
#
# usage: bench/sshd/login_bench.sh BUILD_DIR [RUNS]      (as root; RUNS logins per stack, default 30)
#
# Three sshd instances in the server namespace, each under its own PAM service, all asking only
# the password (pam_unix, a real temporary user) over keyboard-interactive:
#   unix    auth required pam_unix.so                       (no module: the baseline)
#   policy  pam_policy.so with `auth password`               (the module delegating to pam_unix)
#   full    pam_policy.so with the sshd test's policy: GeoIP deny rule, trusted-network set and
#           `auth password && totp unless rhost in trusted`, logging in from the trusted network
#           (so still password only, but with the GeoIP lookup and set test on the way)
# Each timed login is one `ssh ... id -un` process from the client namespace, from start to exit;
# runs are interleaved so load changes hit every stack alike. Prints the median, p90 and the ratio
# of medians to the baseline.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tests=$here/../../tests/sshd
# shellcheck source=tests/sshd/lib.sh
source "$tests/lib.sh"

build=${1:?usage: login_bench.sh BUILD_DIR [RUNS]}
runs=${2:-30}
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 && $runs -le 1000 ]] || ap_die "RUNS must be 1..1000"
module=$(realpath "$build/pam/pam_policy.so" 2> /dev/null || true)
[[ -f $module ]] || ap_die "PAM module not found: $build/pam/pam_policy.so (build target pam_policy)"
ap_need_root
ap_need_tools ip ss ssh ssh-keygen perl useradd userdel chpasswd setsid timeout unshare mount
ap_need_sshd
perl -MMaxMind::DB::Writer::Tree -e 1 2> /dev/null ||
  ap_die "required perl module missing: MaxMind::DB::Writer::Tree (Debian package libmaxmind-db-writer-perl)"

trap ap_cleanup EXIT
trap 'exit 130' INT TERM HUP

ap_make_work ap-sshd-bench
work=$AP_WORK
ap_setup_netns "b$$"
ap_prepare_run_sshd
user="apbench$$"
password="pw-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
ap_create_user "$user" "$password"

printf '%s\n' '{"network":"203.0.113.0/24","country":"KP"}' '{"network":"2001:db8:2::/48","country":"KP"}' |
  perl "$here/../../tests/geoip/write_mmdb.pl" --out "$work/geo.mmdb" --layout geoip2 --ip-version 6 - ||
  ap_die "write_mmdb.pl failed"
chmod 644 "$work/geo.mmdb"
printf 'auth password\n' > "$work/password.pol"
cat > "$work/full.pol" <<POL
set trusted = { 192.0.2.0/24, 2001:db8::/64 }
geoip { country = "$work/geo.mmdb" }
factor totp { secrets = "$work/totp/%u" }
deny if rhost.country in { "KP", "IR" }
auth password && totp unless rhost in trusted
POL
chmod 644 "$work/password.pol" "$work/full.pol"

stacks=(unix policy full)
declare -A service_of=([unix]=sshd-apbench-unix [policy]=sshd-apbench-policy [full]=sshd-apbench-full)
declare -A port_of=([unix]=2231 [policy]=2232 [full]=2233)
ap_write_pam_service "${service_of[unix]}" <<PAM
auth     required  pam_unix.so
account  required  pam_permit.so
session  required  pam_permit.so
password required  pam_deny.so
PAM
for stack in policy full; do
  pol="$work/password.pol"
  [[ $stack == full ]] && pol="$work/full.pol"
  ap_write_pam_service "${service_of[$stack]}" <<PAM
auth     [success=done default=die]  $module policy=$pol
account  required  $module policy=$pol
account  required  pam_permit.so
session  required  pam_permit.so
password required  pam_deny.so
PAM
done

ap_make_host_key "${port_of[@]}"
ap_start_syslog_sink  # the module's decision lines cost what they cost on a real host
for stack in "${stacks[@]}"; do
  ap_start_sshd "${service_of[$stack]}" "${port_of[$stack]}"
done
install -m 755 "$tests/askpass.sh" "$work/askpass"
mkdir -m 700 "$work/answers"
printf '%s\n' "$password" > "$work/answers/password"
printf 'wrong\n' > "$work/answers/code_mode"
printf 'AAAAAAAAAAAAAAAA\n' > "$work/answers/totp_secret"

login_us() {  # one timed login with stack $1; prints microseconds, fails on anything but success
  local stack=$1 start end
  : > "$work/answers/prompts.log"
  start=$(date +%s%N)
  ap_ssh "$AP_TRUSTED_V4" "${port_of[$stack]}" "$work/askpass" "$work/answers"
  end=$(date +%s%N)
  if [[ $AP_SSH_RC != 0 || $(cat "$work/ssh.out") != "$user" || $(wc -l < "$work/answers/prompts.log") != 1 ]]; then
    cat "$work/ssh.err" >&2
    tail -n 5 "$work/${service_of[$stack]}.log" >&2
    ap_die "login through $stack failed (ssh exit $AP_SSH_RC)"
  fi
  echo $(((end - start) / 1000))
}

for stack in "${stacks[@]}"; do  # warm-up: page cache, first sshd re-exec
  login_us "$stack" > /dev/null
  : > "$work/$stack.us"
done
for ((i = 0; i < runs; i++)); do
  for stack in "${stacks[@]}"; do
    login_us "$stack" >> "$work/$stack.us"
  done
done

percentile() {  # percentile P of the numbers in file F
  sort -n "$2" | awk -v p="$1" '{a[NR] = $1} END {i = int((NR - 1) * p / 100 + 0.5) + 1; print a[i]}'
}
base=$(percentile 50 "$work/unix.us")
echo "sshd whole-login time, $runs logins per stack, password only (keyboard-interactive, IPv4)"
for stack in "${stacks[@]}"; do
  median=$(percentile 50 "$work/$stack.us")
  p90=$(percentile 90 "$work/$stack.us")
  ratio=$(awk -v a="$median" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
  printf '%-7s %-20s median %7.1f ms  p90 %7.1f ms  ratio %s  (%+.1f ms)\n' "$stack" \
    "${service_of[$stack]}" "$(awk -v v="$median" 'BEGIN {print v / 1000}')" \
    "$(awk -v v="$p90" 'BEGIN {print v / 1000}')" "$ratio" \
    "$(awk -v a="$median" -v b="$base" 'BEGIN {print (a - b) / 1000}')"
done
