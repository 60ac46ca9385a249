#!/usr/bin/env bash
# Tests nix/check-pam-stack.sh, the lint the flake's checks run on generated /etc/pam.d files.
#
# usage: check-pam-stack-test.sh SOURCE_ROOT
#
# The sample files follow what nixpkgs' pam.nix renders from security.pam.services.<name>.rules
# ("TYPE CONTROL MODULE ARGS # NAME (order N)"), with the rules nix/module.nix adds.
set -u

if [ "$#" -ne 1 ]; then
  echo "usage: check-pam-stack-test.sh SOURCE_ROOT" >&2
  exit 2
fi
lint="$1/nix/check-pam-stack.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

store=/nix/store/00000000000000000000000000000000
module=$store-authpolicy-0.1.0/lib/security/pam_policy.so
pam=$store-linux-pam-1.6.1/lib/security
args="missing=fail policy=/etc/authpolicy/x.pol"

# login with gnome-keyring: the policy, the keyring copy, the terminator, then nixpkgs' own
# rules that never run.
cat >"$work/login-good" <<EOF
# Account management.
account required $module $args # authpolicy (order 10850)
account required $pam/pam_unix.so # unix (order 10900)

# Authentication management.
auth [success=ok default=die] $module $args # authpolicy (order 10850)
auth optional $store-gnome-keyring/lib/security/pam_gnome_keyring.so # authpolicy-gnome_keyring (order 10851)
auth [success=done default=die] $pam/pam_permit.so # authpolicy-done (order 10870)
auth sufficient $store-pam_u2f/lib/security/pam_u2f.so # u2f (order 10900)
auth optional $pam/pam_unix.so likeauth # unix-early (order 11700)
auth optional $store-gnome-keyring/lib/security/pam_gnome_keyring.so # gnome_keyring (order 12200)
auth sufficient $pam/pam_unix.so likeauth try_first_pass # unix (order 12900)
auth required $pam/pam_deny.so # deny (order 13700)

# Password management.
password sufficient $pam/pam_unix.so nullok yescrypt # unix (order 10200)

# Session management.
session required $pam/pam_unix.so # unix (order 10200)
EOF

# su with requireWheel: rootok and wheel stay in front of the authoritative policy.
cat >"$work/su-good" <<EOF
account required $module $args # authpolicy (order 10850)
account required $pam/pam_unix.so # unix (order 10900)
auth sufficient $pam/pam_rootok.so # rootok (order 10200)
auth required $pam/pam_wheel.so use_uid # wheel (order 10300)
auth [success=done default=die] $module $args # authpolicy (order 10850)
auth sufficient $pam/pam_unix.so likeauth try_first_pass # unix (order 12900)
auth required $pam/pam_deny.so # deny (order 13700)
EOF

# A fingerprint rule in front of the policy would let a finger alone in.
sed "s|^auth \[success=done default=die\] $module|auth sufficient $store-fprintd/lib/security/pam_fprintd.so # fprintd (order 10800)\n&|" \
  "$work/su-good" >"$work/factor-before-policy"
# The policy as "sufficient": a denied policy falls through to pam_unix.
sed "s|^auth \[success=done default=die\] $module|auth sufficient $module|" "$work/su-good" >"$work/sufficient"
# security.pam.services.<name>.text replaced the whole file.
cat >"$work/user-text" <<EOF
account required $pam/pam_unix.so
auth sufficient $pam/pam_unix.so
auth required $pam/pam_deny.so
EOF
# No account line: deny if would not apply to sshd public-key logins.
grep -v '^account' "$work/su-good" >"$work/no-account"
# [success=ok] with nothing ending the stack after it.
grep -v 'authpolicy-done' "$work/login-good" >"$work/no-terminator"
# Something that decides between the policy and the terminator.
sed "s|^auth optional $store-gnome-keyring/lib/security/pam_gnome_keyring.so # authpolicy-gnome_keyring|auth required $store-duo/lib/security/pam_duo.so # duo|" \
  "$work/login-good" >"$work/decider-after-policy"
# A '-auth' line hides a missing module; it does not count as the policy rule.
sed "s|^auth \[success=done default=die\] $module|-auth [success=done default=die] $module|" "$work/su-good" >"$work/dash-auth"

# failDelay, homed and intune as nixpkgs orders them: behind the policy's end, never run.
sed "s|^auth required $pam/pam_deny.so|auth optional $pam/pam_faildelay.so delay=4000000 # faildelay (order 12500)\n&|" \
  "$work/su-good" >"$work/faildelay-after"
sed "s|^auth required $pam/pam_deny.so|auth sufficient $store-systemd/lib/security/pam_systemd_home.so # systemd_home (order 12800)\n&|" \
  "$work/login-good" >"$work/homed-after"
sed "s|^auth required $pam/pam_deny.so|auth optional $store-intune/lib/security/pam_intune.so # intune (order 12300)\n&|" \
  "$work/login-good" >"$work/intune-after"
# ... as nix/module.nix leaves them: faildelay moved in front, homed copied after the policy
# (nixpkgs' original stays behind the end, harmless).
sed "s|^auth \[success=done default=die\] $module|auth optional $pam/pam_faildelay.so delay=4000000 # faildelay (order 10840)\n&|" \
  "$work/su-good" >"$work/faildelay-moved"
sed "s|^auth \[success=done default=die\] $pam/pam_permit.so|auth optional $store-systemd/lib/security/pam_systemd_home.so # authpolicy-systemd_home (order 10858)\n&|" \
  "$work/homed-after" >"$work/homed-copied"

failures=0
expect() {
  local name=$1 wanted=$2 pattern=$3 file=$4 output status
  output=$(bash "$lint" "$module" "$work/$file" 2>&1)
  status=$?
  if [ "$status" -ne "$wanted" ] || ! printf '%s\n' "$output" | grep -Eq -- "$pattern"; then
    echo "FAIL: $name: status $status (expected $wanted), output:" >&2
    printf '%s\n' "$output" | sed 's/^/    /' >&2
    failures=$((failures + 1))
    return
  fi
  echo "ok: $name"
}

expect "login with a keyring copy and a terminator" 0 ": ok$" login-good
expect "su keeps rootok and wheel in front" 0 ": ok$" su-good
expect "a factor in front of the policy" 1 "pam_fprintd.so runs before the policy" factor-before-policy
expect "the policy as sufficient" 1 "not authoritative" sufficient
expect "a replaced text" 1 "no auth line with the module" user-text
expect "no account line" 1 "no account line with the module" no-account
expect "nothing ends the stack" 1 "nothing ends the stack" no-terminator
expect "a deciding rule after the policy" 1 "pam_duo.so \(required\) runs after the policy" decider-after-policy
expect "a -auth line does not count" 1 "no auth line with the module" dash-auth
expect "failDelay after the policy" 1 "pam_faildelay.so comes after the end of the stack and never runs" faildelay-after
expect "homed after the policy" 1 "pam_systemd_home.so comes after the end of the stack" homed-after
expect "intune after the policy" 1 "pam_intune.so comes after the end of the stack" intune-after
expect "failDelay moved in front of the policy" 0 ": ok$" faildelay-moved
expect "homed copied after the policy" 0 ": ok$" homed-copied

status=0
bash "$lint" "$module" >/dev/null 2>&1 || status=$?
if [ "$status" -ne 2 ]; then
  echo "FAIL: no file is a usage error (status $status)" >&2
  failures=$((failures + 1))
else
  echo "ok: no file is a usage error"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
