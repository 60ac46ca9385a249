#!/bin/bash
# End to end through the real OpenSSH sshd and ssh: docs/pam.md's sshd setting (its drop-in and
# its policy, read from the document) behind Debian's stock sshd settings, with and without the
# drop-in's AuthenticationMethods line, through the publickey, password and keyboard-interactive
# methods. The policy reads `ssh.auth` (SSH_AUTH_INFO_0, what sshd already checked):
#     auth (password unless ssh.auth in { publickey }) && totp
# With `AuthenticationMethods publickey,keyboard-interactive` a key login is asked the code only,
# and nothing reaches the policy without a key. Without the line, keyboard-interactive is asked
# the password and the code, and a code alone never logs in: not at the keyboard-interactive
# prompts, not after a key sshd refused, not through the password method. What no policy can
# change is shown too: without the line sshd lets an accepted key in on its own (auth never
# runs), and `authpolicy status` names that setting.
#
# usage: sshd_auth_e2e.sh AUTHPOLICY_BINARY PAM_POLICY_SO DOCS_PAM_MD   (as root; ctest -L sshd)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/sshd/lib.sh
source "$here/lib.sh"

[[ $# == 3 ]] || { echo "usage: sshd_auth_e2e.sh AUTHPOLICY_BINARY PAM_POLICY_SO DOCS_PAM_MD" >&2; exit 2; }
authpolicy=$1
module=$2
docs=$3
key_service=sshd-apauthk
key_port=2231
nolist_service=sshd-apauthn
nolist_port=2232
started=$SECONDS

ap_need_root
ap_need_tools ip ss ssh ssh-keygen oathtool perl useradd userdel chpasswd setsid timeout unshare mount awk
ap_need_sshd
[[ -x $authpolicy ]] || ap_die "authpolicy binary not found: $authpolicy"
[[ -f $module ]] || ap_die "PAM module not found: $module"
[[ -f $docs ]] || ap_die "docs/pam.md not found: $docs"
module=$(realpath "$module")
[[ -f $(dirname "$module")/pam_policy-factors/factor_totp.so ]] ||
  ap_die "totp plugin missing: $(dirname "$module")/pam_policy-factors/factor_totp.so"

# The section "## sshd" of docs/pam.md: its first code block is the drop-in, its second the policy.
docs_block() {
  awk -v want="$1" '/^## sshd$/ {s = 1; next} /^## / {s = 0}
    s && /^```/ {n++; next} s && n == 2 * want - 1 {print}' "$docs"
}
dropin=$(docs_block 1)
docs_policy=$(docs_block 2)
[[ $dropin == *"AuthenticationMethods publickey,keyboard-interactive"* ]] ||
  ap_die "docs/pam.md's sshd drop-in no longer says AuthenticationMethods publickey,keyboard-interactive: revisit this test"
[[ $docs_policy == auth\ * ]] || ap_die "docs/pam.md's second sshd block is not a policy: $docs_policy"

trap ap_cleanup EXIT
trap 'exit 130' INT TERM HUP

ap_make_work ap-sshd-auth
work=$AP_WORK
ap_setup_netns "a$$"
ap_prepare_run_sshd

user="apsa$$"
password="pw-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
ap_create_user "$user" "$password"
ap_enroll_totp "$authpolicy" "$user"
secret=$AP_TOTP_SECRET

# The documented policy, with this run's audit log and secrets.
{
  echo "audit { db = \"$work/audit/audit.db\" }"
  echo "factor totp { secrets = \"$work/totp/%u\" }"
  printf '%s\n' "$docs_policy"
} > "$work/sshd.pol"
chmod 644 "$work/sshd.pol"
"$authpolicy" check --strict "$work/sshd.pol" > "$work/check.out" 2>&1 ||
  { cat "$work/check.out" >&2; ap_die "authpolicy check --strict refused the documented policy"; }

pam_text="# Written by authpolicy's tests/sshd/sshd_auth_e2e.sh for the length of the test; removed after it.
auth     [success=done default=die]  $module policy=$work/sshd.pol
account  required  $module policy=$work/sshd.pol
account  required  pam_permit.so
session  required  pam_permit.so
password required  pam_deny.so"
ap_write_pam_service "$key_service" <<< "$pam_text"
ap_write_pam_service "$nolist_service" <<< "$pam_text"

# The drop-in as documented, and the same without its AuthenticationMethods line.
printf '%s\n' "$dropin" > "$work/dropin-key.conf"
grep -v '^AuthenticationMethods' "$work/dropin-key.conf" > "$work/dropin-nolist.conf"
ap_make_host_key "$key_port" "$nolist_port"
ap_start_syslog_sink
ap_start_sshd "$key_service" "$key_port" "stock+include=$work/dropin-key.conf"
ap_start_sshd "$nolist_service" "$nolist_port" "stock+include=$work/dropin-nolist.conf"

# The user's key, and a key sshd does not know.
ssh-keygen -q -t ed25519 -N '' -C ap-sshd-auth-client -f "$work/client_key"
ssh-keygen -q -t ed25519 -N '' -C ap-sshd-auth-stranger -f "$work/stranger_key"
home=$(getent passwd "$user" | cut -d: -f6)
install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
install -m 600 -o "$user" -g "$user" "$work/client_key.pub" "$home/.ssh/authorized_keys"

ap_install_askpass "$secret"

current_code() {
  oathtool --totp=sha1 --digits=6 --time-step-size=30s --base32 --now="@$(date +%s)" "$secret"
}

# login NAME SERVICE PORT METHOD PASSWORD_ANSWER CODE_MODE EXPECT PROMPTS CHECK...
#   METHOD: keyboard-interactive, password, key+kbdint=KEY, publickey=KEY (as ap_ssh takes it).
#   PASSWORD_ANSWER: what the askpass types at a password prompt ("CODE": a code valid now).
#   EXPECT: login or refused. PROMPTS: the prompts seen, in order ("password code", "code", "").
#   CHECK: as ap_expect_syslog takes them ("auth:TEXT", "auth:!TEXT", "no-auth", "account:TEXT").
login() {
  local name=$1 service=$2 port=$3 method=$4 answer=$5 code_mode=$6 expect=$7 want_prompts=$8
  shift 8
  [[ $answer == CODE ]] && answer=$(current_code)
  ap_login "$AP_UNTRUSTED_V4" "$port" "$method" "$answer" "$code_mode"
  ap_expect_seen "$expect" "$want_prompts"
  ap_expect_syslog "user=$user service=$service rhost=$AP_UNTRUSTED_V4 " "$@"
  ap_report "$name" "$service"
}

key="$work/client_key"
stranger="$work/stranger_key"

# ---- The drop-in as documented: AuthenticationMethods publickey,keyboard-interactive ----------
K=("$key_service" "$key_port")
login "documented: key, then the code only, logs in" "${K[@]}" "key+kbdint=$key" \
  "$password" right:0 login "code" \
  "auth:decision=permit" 'auth:factors="totp:pass(code accepted)"' "auth:waived=1" "auth:!password:" \
  "account:decision=permit"
login "documented: key, then a wrong code, refused" "${K[@]}" "key+kbdint=$key" \
  "$password" wrong refused "code" \
  "auth:decision=deny" "auth:totp:fail(wrong code)" "auth:!password:"
login "documented: no key, keyboard-interactive: nothing asked, refused" "${K[@]}" \
  keyboard-interactive "$password" right:1 refused "" "no-auth"
login "documented: a key sshd refuses, then the code: nothing asked, refused" "${K[@]}" \
  "key+kbdint=$stranger" "$password" right:1 refused "" "no-auth"
login "documented: password method: refused, nothing asked" "${K[@]}" password \
  "$password" right:1 refused "" "no-auth"

# ---- The same without the AuthenticationMethods line ------------------------------------------
N=("$nolist_service" "$nolist_port")
login "no AuthenticationMethods: keyboard-interactive, password and code, logs in" "${N[@]}" \
  keyboard-interactive "$password" right:1 login "password code" \
  "auth:decision=permit" 'auth:factors="password:pass(PAM_SUCCESS),totp:pass(code accepted)"' \
  "auth:!waived=1"
login "no AuthenticationMethods: keyboard-interactive, a code alone, refused" "${N[@]}" \
  keyboard-interactive CODE wrong refused "password" \
  "auth:decision=deny" "auth:password:fail" "auth:!totp:"
login "no AuthenticationMethods: keyboard-interactive, password and a wrong code, refused" \
  "${N[@]}" keyboard-interactive "$password" wrong refused "password code" \
  "auth:decision=deny" "auth:totp:fail(wrong code)"
login "no AuthenticationMethods: a key sshd refuses, then a code alone, refused" "${N[@]}" \
  "key+kbdint=$stranger" CODE wrong refused "password" \
  "auth:decision=deny" "auth:password:fail" "auth:!totp:"
login "no AuthenticationMethods: a key sshd refuses, then the password: code still asked" \
  "${N[@]}" "key+kbdint=$stranger" "$password" wrong refused "password code" \
  "auth:decision=deny" "auth:password:pass" "auth:totp:fail(wrong code)"
login "no AuthenticationMethods: password method with the password, refused" "${N[@]}" \
  password "$password" wrong refused "password" \
  "auth:decision=deny" "auth:password:pass" "auth:!totp:pass"
login "no AuthenticationMethods: password method with a code, refused" "${N[@]}" \
  password CODE wrong refused "password" \
  "auth:decision=deny" "auth:password:fail" "auth:!totp:"
# sshd's own decision, which no PAM policy sees: an accepted key alone logs in without auth.
login "no AuthenticationMethods: an accepted key alone skips auth (sshd's choice)" "${N[@]}" \
  "publickey=$key" "$password" wrong login "" "no-auth" "account:decision=permit"

# ---- What check and status say about these settings -------------------------------------------
install -d -m 755 "$work/pamd" "$work/policies"
printf 'auth [success=done default=die] %s\naccount required %s\n' "$module" "$module" \
  > "$work/pamd/sshd"
cp "$work/sshd.pol" "$work/policies/sshd.pol"
status_of() {
  local code=0
  "$authpolicy" status --pam-dir "$work/pamd" --policy-dir "$work/policies" \
    --sshd-config "$1" > "$work/status.out" 2>&1 || code=$?
  echo "$code"
}
code=$(status_of "$work/$key_service.$key_port.conf")
[[ $code == 0 ]] && ! grep -q 'problem:' "$work/status.out" && ! grep -q 'note:' "$work/status.out" &&
  ap_result ok "status: the documented setting (sshd -T) names no problem" ||
  ap_result fail "status: the documented setting (exit $code)" "$work/status.out"
code=$(status_of "$work/$nolist_service.$nolist_port.conf")
[[ $code == 1 ]] && grep -q 'problem: .*the publickey method logs in without the policy' "$work/status.out" &&
  grep -q 'problem: .*the password method runs the policy' "$work/status.out" &&
  ! grep -q 'one factor logs in' "$work/status.out" &&
  ap_result ok "status without AuthenticationMethods: names the key and password methods, not 'one factor'" ||
  ap_result fail "status without AuthenticationMethods (exit $code)" "$work/status.out"
"$authpolicy" check "$work/policies/sshd.pol" > "$work/status.out" 2>&1 &&
  ! grep -q W113 "$work/status.out" &&
  ap_result ok "check: no W113 for the documented policy" ||
  ap_result fail "check of the documented policy" "$work/status.out"
printf 'auth totp\n' > "$work/policies/sshd.pol"
"$authpolicy" check "$work/policies/sshd.pol" > "$work/status.out" 2>&1
grep -q 'warning\[W113\]' "$work/status.out" &&
  ap_result ok "check: W113 for 'auth totp', which a missing AuthenticationMethods line makes one factor" ||
  ap_result fail "check of 'auth totp'" "$work/status.out"

echo "sshd auth e2e: $AP_PASSED passed, $AP_FAILED failed in $((SECONDS - started)) s"
[[ $AP_FAILED == 0 ]]
