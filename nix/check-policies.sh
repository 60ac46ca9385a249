#!/usr/bin/env bash
# Build-time gate for NixOS: runs `authpolicy check` on every policy and fails on anything but a clean result.
#
# usage: check-policies.sh [--strict] AUTHPOLICY_BINARY POLICY_FILE...
#
# The NixOS module runs this inside the derivation that produces /etc/authpolicy, so a broken
# policy fails `nixos-rebuild` instead of locking people out at the next login. Files in the
# build sandbox are not owned by root, hence --ignore-ownership; the running system's files are
# root-owned copies (see module.nix) and pam_policy.so checks them again at every use. The GeoIP
# databases belong to the running system (geoipupdate writes them), not the sandbox, hence
# --no-geoip-databases: a `deny if` on them stays a warning here; `authpolicy status` on the
# running system reports a database that is really missing.
#
# Exit status: 0 when every policy is clean (warnings allowed unless --strict), 1 when any
# policy has errors or the checker failed in any other way, 2 on usage errors.
set -u

strict=()
if [ "${1:-}" = "--strict" ]; then
  strict=(--strict)
  shift
fi

if [ "$#" -lt 2 ]; then
  echo "usage: check-policies.sh [--strict] AUTHPOLICY_BINARY POLICY_FILE..." >&2
  exit 2
fi

checker=$1
shift
if [ ! -x "$checker" ] || [ -d "$checker" ]; then
  echo "check-policies: $checker is not an executable authpolicy binary" >&2
  exit 2
fi

failed=0
for policy in "$@"; do
  if [ ! -f "$policy" ]; then
    echo "check-policies: $policy: no such policy file" >&2
    failed=1
    continue
  fi
  "$checker" check --ignore-ownership --no-geoip-databases "${strict[@]}" "$policy"
  status=$?
  case "$status" in
    0) echo "check-policies: $policy: ok" ;;
    1) echo "check-policies: $policy: REJECTED (errors above)" >&2; failed=1 ;;
    2) echo "check-policies: $policy: REJECTED (unreadable, or the checker refused its arguments)" >&2; failed=1 ;;
    # Anything else (a crash, a signal) is a failure too: never let a policy through unchecked.
    *) echo "check-policies: $policy: REJECTED (authpolicy check ended with status $status)" >&2; failed=1 ;;
  esac
done

if [ "$failed" -ne 0 ]; then
  echo "check-policies: at least one policy was rejected; nothing was installed" >&2
  exit 1
fi
exit 0
