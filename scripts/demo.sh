#!/usr/bin/env bash
# The demo, end to end on embedded defaults: lint and explain the example policies, simulate
# decisions, a TPM PIN with lockout on swtpm, real PAM logins through pam_wrapper, and the
# audit log those logins left. Builds first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
root=$PWD
bin=$root/build/cli/authpolicy
work=$(mktemp -d)
swtpm_pid=
cleanup() {
  [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || true; }
# Policies in the repository may not be root-owned on a developer's checkout.
own=()
[ "$(id -u)" = 0 ] || own=(--ignore-ownership)

step "1. authpolicy check: every example policy, then two mistakes it catches"
run "$bin" check "${own[@]}" policies/*.pol
printf 'set trusted = { 10.0.0.0/8 }\nauth (password && totp) unless rhost in trusted\n' >"$work/open.pol"
printf 'set trusted = { 10.0.0.0/8 }\nauth password && totp unless rhost in trustd\n' >"$work/typo.pol"
run "$bin" check --ignore-ownership "$work/open.pol" "$work/typo.pol"

step "2. authpolicy explain: the design card in plain words"
run "$bin" explain "${own[@]}" policies/design-card.pol

step "3. authpolicy eval: the same policy in four situations"
card=policies/design-card.pol
run "$bin" eval "${own[@]}" "$card" --rhost 192.168.1.20 --factor password=pass
run "$bin" eval "${own[@]}" "$card" --rhost 203.0.113.9 --factor password=pass --factor pin=pass
run "$bin" eval "${own[@]}" "$card" --rhost 203.0.113.9 --factor password=pass --factor u2f=pass
run "$bin" eval "${own[@]}" "$card" --rhost vpn.example.com --factor password=pass --factor pin=pass --json

step "4. A TPM PIN with hardware lockout, on swtpm"
port=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$work/tpm"
swtpm socket --tpm2 --flags not-need-init,startup-clear --tpmstate dir="$work/tpm" \
  --server type=tcp,port=$port,bindaddr=127.0.0.1 --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 &
swtpm_pid=$!
sleep 0.5
tcti="swtpm:host=127.0.0.1,port=$port"
user=nobody
if [ "$(id -u)" = 0 ]; then
  echo "(PIN 2468 for $user, 3 attempts; PINs come from standard input here)"
  echo 2468 | run "$bin" pin setup "$user" --tcti "$tcti" --max-attempts 3
  run "$bin" pin status "$user" --tcti "$tcti"
  echo 2468 | run "$bin" pin test "$user" --tcti "$tcti"
  echo 1111 | run "$bin" pin test "$user" --tcti "$tcti"
  echo 2468 | run "$bin" pin test "$user" --tcti "$tcti"
else
  echo "(skipped: setting up another user's PIN needs root)"
fi

if [ "$(id -u)" = 0 ]; then
  step "5. Real logins through libpam (pam_wrapper), pam_policy.so deciding"
  pam/demo.sh "$root/build" "$tcti" "$work/audit/audit.db"
  run "$bin" pin status "$user" --tcti "$tcti"

  step "6. The audit log those logins left"
  run "$bin" audit --db "$work/audit/audit.db" --limit 12
  run "$bin" audit summary --db "$work/audit/audit.db"
else
  echo "(steps 5 and 6 need root: PAM policy files must be root-owned)"
fi
