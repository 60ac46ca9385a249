#!/usr/bin/env bash
# Lints generated /etc/pam.d files: pam_policy.so must decide the auth stack alone and carry the account stack.
#
# usage: check-pam-stack.sh MODULE_PATH PAM_FILE...
#
# For each file, in the order Linux-PAM runs the lines:
#   - an `auth` line with MODULE_PATH exists, and every auth line before it is a guard that
#     asks nothing (pam_rootok, pam_wheel, pam_faillock, pam_faildelay);
#   - its control is [success=done default=die], or [success=ok default=die] followed only by
#     `optional` lines up to a [success=done default=die] pam_permit.so line ending the stack;
#   - an `account` line with MODULE_PATH exists;
#   - no rule that only works when it runs is left where it never runs: pam_faildelay,
#     pam_systemd_home or pam_intune after the end of the stack, unless the same module also
#     runs (pam_faildelay before the policy, the others copied between it and the end).
# Used by the flake's checks on the real nixpkgs output and by tests/nix on sample files.
set -u

if [ "$#" -lt 2 ]; then
  echo "usage: check-pam-stack.sh MODULE_PATH PAM_FILE..." >&2
  exit 2
fi
module=$1
shift

failed=0
for file in "$@"; do
  if [ ! -r "$file" ]; then
    echo "check-pam-stack: $file: cannot read" >&2
    failed=1
    continue
  fi
  verdict=$(awk -v module="$module" '
    # Splits a rule into type, control (brackets joined) and module path; returns 0 for
    # comments and blank lines.
    function parse(line,    n, f, i) {
      sub(/#.*/, "", line)
      n = split(line, f, /[ \t]+/)
      i = 1
      if (f[i] == "") i++
      if (i > n) return 0
      type = f[i++]
      control = f[i++]
      if (substr(control, 1, 1) == "[") {
        while (control !~ /\]$/ && i <= n) control = control " " f[i++]
      }
      path = f[i]
      return 1
    }
    function base(p) { sub(/.*\//, "", p); return p }
    BEGIN {
      state = "before"; account = 0; problem = ""
      split("pam_faildelay.so pam_systemd_home.so pam_intune.so", list, " ")
      for (i in list) never_after[list[i]] = 1
    }
    {
      if (!parse($0)) next
      if (type == "account" && path == module) account = 1
      if (type != "auth" && type != "-auth") next
      if (state == "before") {
        if (path == module && type == "auth") {
          if (control == "[success=done default=die]") state = "done"
          else if (control == "[success=ok default=die]") state = "captures"
          else { problem = problem "policy rule has control " control " (not authoritative); "; state = "done" }
          next
        }
        b = base(path)
        ran[b] = 1
        if (b != "pam_rootok.so" && b != "pam_wheel.so" && b != "pam_faillock.so" && b != "pam_faildelay.so")
          problem = problem b " runs before the policy; "
        next
      }
      if (state == "captures") {
        if (control == "[success=done default=die]" && base(path) == "pam_permit.so") { state = "done"; next }
        ran[base(path)] = 1
        if (control != "optional") problem = problem base(path) " (" control ") runs after the policy before the stack ends; "
        next
      }
      b = base(path)
      if ((b in never_after) && !(b in ran) && !(b in reported)) {
        problem = problem b " comes after the end of the stack and never runs (move it before the policy or copy it after); "
        reported[b] = 1
      }
    }
    END {
      if (state == "before") problem = problem "no auth line with the module; "
      if (state == "captures") problem = problem "nothing ends the stack after the policy; "
      if (!account) problem = problem "no account line with the module; "
      print (problem == "" ? "ok" : problem)
    }' "$file")
  if [ "$verdict" = "ok" ]; then
    echo "check-pam-stack: $file: ok"
  else
    echo "check-pam-stack: $file: $verdict" >&2
    failed=1
  fi
done
exit "$failed"
