#!/bin/bash
# End to end through the real OpenSSH sshd and ssh: conditional TOTP by source address and
# GeoIP denial, in two network namespaces, IPv4 and IPv6.
#
# usage: sshd_e2e.sh AUTHPOLICY_BINARY PAM_POLICY_SO      (as root; registered with ctest -L sshd)
#
# The server namespace runs /usr/sbin/sshd started as "sshd-authpolicy" (sshd's PAM service name
# is the name it was started as), whose /etc/pam.d/sshd-authpolicy hands auth to pam_policy.so
# with the policy
#     deny if rhost.country in { "KP", "IR" }
#     auth password && totp unless rhost in trusted
# The client namespace holds one trusted, one untrusted and one denied-country address per IP
# version and logs in with `ssh -b ADDRESS`, answering keyboard-interactive prompts through
# SSH_ASKPASS (askpass.sh), which logs every prompt it was shown. The password is a real
# temporary user's, checked by pam_unix; codes come from oathtool and the enrolled secret.
# Per IP version: trusted (password only), untrusted (password then code: right, wrong; and a
# wrong password, after which no code is asked), denied country (refused before any prompt);
# over IPv4 also a replayed code. Then remembered step-up (recent(totp, 8h, rhost)): a second
# login from the same address skips the code, another address does not. Each scenario checks the prompts seen, ssh's outcome, and the
# module's decision line, which sshd's private /dev/log hands to syslog_sink.pl.
# Every scenario prints PASS or FAIL; the script exits 0 only if all passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/sshd/lib.sh
source "$here/lib.sh"

[[ $# == 2 ]] || { echo "usage: sshd_e2e.sh AUTHPOLICY_BINARY PAM_POLICY_SO" >&2; exit 2; }
authpolicy=$1
module=$2
write_mmdb=$here/../geoip/write_mmdb.pl
service=sshd-authpolicy
port=2222
stock_service=sshd-apstock
stock_port=2223
keyplus_service=sshd-apkey
keyplus_port=2224
started=$SECONDS

# Each login must leave its phase=auth decision (rhost, user, service, permit/deny) as the first
# new row of the policy's audit db.
check_audit=1

ap_need_root
ap_need_tools ip ss ssh ssh-keygen oathtool perl useradd userdel chpasswd setsid timeout unshare mount
ap_need_sshd
[[ $check_audit == 0 ]] || ap_need_tools sqlite3
perl -MMaxMind::DB::Writer::Tree -e 1 2> /dev/null ||
  ap_die "required perl module missing: MaxMind::DB::Writer::Tree (Debian package libmaxmind-db-writer-perl)"
[[ -f $write_mmdb ]] || ap_die "missing $write_mmdb"
[[ -x $authpolicy ]] || ap_die "authpolicy binary not found: $authpolicy"
[[ -f $module ]] || ap_die "PAM module not found: $module"
module=$(realpath "$module")
[[ -f $(dirname "$module")/pam_policy-factors/factor_totp.so ]] ||
  ap_die "totp plugin missing: $(dirname "$module")/pam_policy-factors/factor_totp.so"

trap ap_cleanup EXIT
trap 'exit 130' INT TERM HUP

ap_make_work ap-sshd-e2e
work=$AP_WORK
ap_setup_netns "$$"
ap_prepare_run_sshd

# The user, a password pam_unix really checks, and a TOTP enrolment owned by root (mode 0600).
user="apssh$$"
password="pw-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
ap_create_user "$user" "$password"
ap_enroll_totp "$authpolicy" "$user"
secret=$AP_TOTP_SECRET

# The GeoIP database: the third client subnet of each IP version is in a denied country; the
# untrusted one in an allowed country (so its lookup finds a value that is not denied).
printf '%s\n' \
  '{"network":"198.51.100.0/24","country":"NL","asn":64500}' \
  '{"network":"2001:db8:1::/48","country":"NL","asn":64500}' \
  '{"network":"203.0.113.0/24","country":"KP","asn":64501}' \
  '{"network":"2001:db8:2::/48","country":"KP","asn":64501}' \
  | perl "$write_mmdb" --out "$work/geo.mmdb" --layout geoip2 --ip-version 6 - ||
  ap_die "write_mmdb.pl failed"
chmod 644 "$work/geo.mmdb"

cat > "$work/sshd.pol" <<POL
# The sshd system test's policy (tests/sshd/sshd_e2e.sh).
set trusted = { 192.0.2.0/24, 2001:db8::/64 }

geoip {
  country = "$work/geo.mmdb"
  asn = "$work/geo.mmdb"
}
audit { db = "$work/audit/audit.db" }
factor totp { secrets = "$work/totp/%u" }

deny if rhost.country in { "KP", "IR" }
auth password && totp unless rhost in trusted
POL
chmod 644 "$work/sshd.pol"
"$authpolicy" check "$work/sshd.pol" > "$work/check.out" 2>&1 ||
  { cat "$work/check.out" >&2; ap_die "authpolicy check refused the test policy"; }

pam_text="# Written by authpolicy's tests/sshd/sshd_e2e.sh for the length of the test; removed after it.
auth     [success=done default=die]  $module policy=$work/sshd.pol
account  required  $module policy=$work/sshd.pol
account  required  pam_permit.so
session  required  pam_permit.so
password required  pam_deny.so"
ap_write_pam_service "$service" <<< "$pam_text"
# A second sshd with the authentication settings of Debian's stock sshd_config, same policy.
ap_write_pam_service "$stock_service" <<< "$pam_text"
# A third with docs/pam.md's "a key, then the policy's factors".
ap_write_pam_service "$keyplus_service" <<< "$pam_text"

ap_make_host_key "$port" "$stock_port" "$keyplus_port"
ap_start_syslog_sink
ap_start_sshd "$service" "$port"
ap_start_sshd "$stock_service" "$stock_port" stock
ap_start_sshd "$keyplus_service" "$keyplus_port" key+kbdint

ap_install_askpass "$secret"
right_codes=0

# Reads the tables the way docs/audit.md tells an admin to: `authpolicy audit flush` first moves
# the decisions waiting in the spool into them.
audit_sql() {
  "$authpolicy" audit flush --db "$work/audit/audit.db" > /dev/null 2>&1 || true
  sqlite3 "$@"
}

audit_last_id() {
  [[ $check_audit == 1 && -f $work/audit/audit.db ]] || { echo 0; return; }
  audit_sql "$work/audit/audit.db" 'SELECT coalesce(max(id), 0) FROM decisions'
}

# scenario NAME SOURCE PASSWORD CODE_MODE EXPECT PROMPTS [LOG_CHECK...]
#   EXPECT: login (exit 0, `id -un` prints the user) or refused (exit 255, "Permission denied")
#   PROMPTS: the kinds of prompt the askpass must have seen, in order, e.g. "password code";
#            "" means none at all.
#   LOG_CHECK: text the module's phase=auth decision line for this login must contain, or with a
#            leading "!" must not contain. A login must also leave a phase=account permit line.
scenario() {
  local name=$1 source=$2 answer=$3 code_mode=$4 expect=$5 want_prompts=$6
  shift 6
  local before check checks=()
  before=$(audit_last_id)
  ap_login "$source" "$port" keyboard-interactive "$answer" "$code_mode"
  ap_expect_seen "$expect" "$want_prompts"
  for check in "$@"; do checks+=("auth:$check"); done
  [[ $expect == login ]] && checks+=("account:decision=permit")
  ap_expect_syslog "user=$user service=$service rhost=$source " "${checks[@]}"
  if [[ $check_audit == 1 ]]; then
    local want_decision=permit row
    [[ $expect == login ]] || want_decision=deny
    row=$(audit_sql -separator ' ' "$work/audit/audit.db" \
      "SELECT rhost, user, service, decision FROM decisions WHERE id > $before ORDER BY id LIMIT 1" 2>&1 || true)
    [[ $row == "$source $user $service $want_decision" ]] ||
      AP_PROBLEMS+=("audit row: '$row', expected '$source $user $service $want_decision'")
  fi
  ap_report "$name" "$service"
}

# Each accepted code must be for a later time step than the one before (replay protection): the
# n-th right code is the one n steps ahead of now, within the policy's window of +-1 step.
next_right_code() {
  right_mode="right:$right_codes"
  right_codes=$((right_codes + 1))
}

for family in v4 v6; do
  if [[ $family == v4 ]]; then
    trusted=$AP_TRUSTED_V4 untrusted=$AP_UNTRUSTED_V4 denied=$AP_DENIED_V4
  else
    trusted=$AP_TRUSTED_V6 untrusted=$AP_UNTRUSTED_V6 denied=$AP_DENIED_V6
  fi
  scenario "$family trusted $trusted: password only, logs in" \
    "$trusted" "$password" wrong login "password" \
    "decision=permit" "factors=password:pass(PAM_SUCCESS) " "waived=1" "!totp:"
  next_right_code
  scenario "$family untrusted $untrusted: password, right code, logs in" \
    "$untrusted" "$password" "$right_mode" login "password code" \
    "decision=permit" 'factors="password:pass(PAM_SUCCESS),totp:pass(code accepted)"'
  if [[ $family == v4 ]]; then
    scenario "$family untrusted $untrusted: the same code again, refused as a replay" \
      "$untrusted" "$password" replay refused "password code" \
      "decision=deny" 'factors="password:pass(PAM_SUCCESS),totp:fail(replayed code)"'
  fi
  scenario "$family untrusted $untrusted: password, wrong code, refused" \
    "$untrusted" "$password" wrong refused "password code" \
    "decision=deny" 'factors="password:pass(PAM_SUCCESS),totp:fail(wrong code)"'
  scenario "$family untrusted $untrusted: wrong password, refused, no code asked" \
    "$untrusted" "not-$password" wrong refused "password" \
    "decision=deny" "factors=password:fail(PAM_AUTH_ERR) " "!totp:"
  scenario "$family denied country $denied: refused before any prompt" \
    "$denied" "$password" wrong refused "" \
    "decision=deny" "factors=- " 'deny_rule="deny if rhost.country in'
done

# ---- Debian's stock sshd_config: KbdInteractiveAuthentication no, UsePAM yes ----------------
# What docs/pam.md ("sshd") tells administrators, shown with the real sshd: the password method
# hands the password to every PAM prompt, so the code prompt gets the password and the second
# factor fails (closed, but with nothing but "Permission denied" to show for it); a public-key
# login never runs PAM's auth stack, so only the account phase (the policy's deny rules) applies.
ssh-keygen -q -t ed25519 -N '' -C ap-sshd-client -f "$work/client_key"
home=$(getent passwd "$user" | cut -d: -f6)
install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
install -m 600 -o "$user" -g "$user" "$work/client_key.pub" "$home/.ssh/authorized_keys"

# stock_scenario NAME SOURCE METHOD EXPECT PROMPTS CHECK...
#   METHOD: password or publickey; EXPECT: login or refused; PROMPTS as in scenario().
#   CHECK: "auth:TEXT" (the phase=auth decision line contains TEXT; "auth:!TEXT": does not),
#   "no-auth" (no phase=auth line at all), "account:TEXT" (a phase=account line with TEXT).
stock_scenario() {
  local name=$1 source=$2 method=$3 expect=$4 want_prompts=$5
  shift 5
  local sshd_service=${sshd_service:-$stock_service} sshd_port=${sshd_port:-$stock_port}
  local how=$method quiet=""
  [[ $method == publickey || $method == key+kbdint ]] && how="$method=$work/client_key"
  # After the account phase refuses a key, ssh at LogLevel=ERROR may say nothing at all.
  [[ $method == publickey ]] && quiet=quiet
  ap_login "$source" "$sshd_port" "$how" "$password" "${code_mode:-wrong}"
  ap_expect_seen "$expect" "$want_prompts" "$quiet"
  ap_expect_syslog "user=$user service=$sshd_service rhost=$source " "$@"
  ap_report "$name" "$sshd_service"
}

stock_scenario "stock config, untrusted: password method, code prompt fed the password" \
  "$AP_UNTRUSTED_V4" password refused "password" \
  "auth:decision=deny" "auth:password:pass(PAM_SUCCESS)" "auth:!totp:pass"
stock_scenario "stock config, trusted: password method, password only, logs in" \
  "$AP_TRUSTED_V4" password login "password" \
  "auth:decision=permit" "account:decision=permit"
stock_scenario "stock config, untrusted: public key skips auth, no code asked" \
  "$AP_UNTRUSTED_V4" publickey login "" \
  "no-auth" "account:decision=permit"
stock_scenario "stock config, denied country: public key refused by account" \
  "$AP_DENIED_V4" publickey refused "" \
  "no-auth" "account:decision=deny"

# AuthenticationMethods publickey,keyboard-interactive: the key, then the policy asks as usual.
# A fresh enrolment (new secret, no used steps), so this code cannot collide with the steps the
# earlier logins used.
ap_enroll_totp "$authpolicy" "$user" --force
printf '%s\n' "$AP_TOTP_SECRET" > "$work/answers/totp_secret"
sshd_service=$keyplus_service sshd_port=$keyplus_port code_mode=right:0 stock_scenario \
  "key, then keyboard-interactive: password and code" \
  "$AP_UNTRUSTED_V4" key+kbdint login "password code" \
  "auth:decision=permit" "auth:totp:pass" "account:decision=permit"
sshd_service=$keyplus_service sshd_port=$keyplus_port stock_scenario \
  "key, then keyboard-interactive: wrong code refused" \
  "$AP_UNTRUSTED_V4" key+kbdint refused "password code" \
  "auth:decision=deny" "auth:totp:fail"

# ---- Remembered step-up: recent(totp, 8h, rhost) --------------------------------------------
# The same sshd and audit log, a new policy (read at every login). The trusted addresses never
# passed the code in the scenarios above (it was waived there), so their first login asks it; a
# second login from the same address within the window does not; another address still does.
cat > "$work/sshd.pol.new" <<POL
# The sshd system test's remembered step-up policy (tests/sshd/sshd_e2e.sh).
audit { db = "$work/audit/audit.db" }
factor totp { secrets = "$work/totp/%u" }
auth password && (totp unless recent(totp, 8h, rhost))
POL
chmod 644 "$work/sshd.pol.new"
mv "$work/sshd.pol.new" "$work/sshd.pol"
"$authpolicy" check "$work/sshd.pol" > "$work/check.out" 2>&1 ||
  { cat "$work/check.out" >&2; ap_die "authpolicy check refused the recent() policy"; }
ap_enroll_totp "$authpolicy" "$user" --force
printf '%s\n' "$AP_TOTP_SECRET" > "$work/answers/totp_secret"
scenario "recent: $AP_TRUSTED_V4 first login, password and code" \
  "$AP_TRUSTED_V4" "$password" right:0 login "password code" \
  "decision=permit" 'factors="password:pass(PAM_SUCCESS),totp:pass(code accepted)"'
scenario "recent: $AP_TRUSTED_V4 again within 8h, password only" \
  "$AP_TRUSTED_V4" "$password" wrong login "password" \
  "decision=permit" "factors=password:pass(PAM_SUCCESS) " "waived=1" "!totp:"
scenario "recent: $AP_TRUSTED_V6 (another address) is asked the code" \
  "$AP_TRUSTED_V6" "$password" wrong refused "password code" \
  "decision=deny" 'factors="password:pass(PAM_SUCCESS),totp:fail(wrong code)"'

[[ $check_audit == 1 ]] ||
  echo "NOTE: audit assertions disabled"
echo "sshd e2e: $AP_PASSED passed, $AP_FAILED failed in $((SECONDS - started)) s"
[[ $AP_FAILED == 0 ]]
