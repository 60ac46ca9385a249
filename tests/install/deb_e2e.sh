#!/bin/bash
# The whole admin path on this machine, with the real clients, as issue #14's "done when" says:
# build the .deb from the build tree (CPack), `apt-get install` it, `authpolicy enable sudo` (alone)
# with the policy `auth password && totp`, drive real `sudo -k true` and `sudo -k -i true` through
# expect (the code must be asked, a wrong code must be refused), `authpolicy disable sudo` and
# require /etc/pam.d to be byte for byte as before. sudo runs with Debian's default sudoers (the
# users are in group sudo; three tries, PAM_SILENT), through what issue #26 asks: `sudo` then
# `sudo -i` under recent() (the code asked once), a typo then the right code (asked again), a
# broken policy (the person sees the line), an unenrolled user (told so after the password) and
# the rate limit (the person sees why the code is not asked). Then the same for `enable su` with
# `su USER` and `su - USER`, and last `apt-get remove`, after which /etc/pam.d must again be as
# before.
#
# usage: deb_e2e.sh BUILD_DIR        (as root; ctest -L install, RUN_SERIAL)
#
# It changes the system (package, /etc/pam.d, users, sudo's state, /etc/authpolicy), so it runs in
# a clean view of the machine (scripts/clean-view.sh: a private mount namespace whose /etc, /usr,
# /var, /run and /home changes vanish with it, and where nothing of the project is installed), and
# still every exit path runs cleanup(), which puts back whatever is left and then checks /etc/pam.d
# against the checksums taken at the start; any difference fails the test loudly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -z ${AP_DEB_E2E_VIEW:-} ]]; then
  AP_DEB_E2E_VIEW=1 exec "$here/../../scripts/clean-view.sh" bash "${BASH_SOURCE[0]}" "$@"
fi
[[ $# == 1 ]] || { echo "usage: deb_e2e.sh BUILD_DIR" >&2; exit 2; }
build=$(realpath "$1")

die() { echo "deb_e2e: FAIL: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (it installs a package and edits /etc/pam.d)"
for tool in cpack apt-get dpkg dpkg-query dpkg-statoverride dpkg-architecture sudo su expect \
            oathtool setpriv useradd userdel chpasswd sha256sum readelf cmp stat; do
  command -v "$tool" > /dev/null || die "required tool missing: $tool"
done
[[ -f $build/CPackConfig.cmake ]] || die "$build/CPackConfig.cmake missing (configure the build first)"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
[[ $prefix == /usr ]] || die "the build's CMAKE_INSTALL_PREFIX is '$prefix', not /usr: reconfigure"
! dpkg-query -W -f='${Status}' authpolicy 2> /dev/null | grep -q ' installed' ||
  die "a package authpolicy is already installed; this test would replace it"

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
pam_dir=/usr/lib/$multiarch/security
work=$(mktemp -d /tmp/ap-deb-e2e.XXXXXX)
chmod 755 "$work"
made_policy_dir=0
made_state_dir=0
[[ -e /etc/authpolicy ]] || made_policy_dir=1
[[ -e /var/lib/authpolicy ]] || made_state_dir=1
users=()
admin=apdeb$$
other=apdeb$$x

# Contents, modes and owners of everything under /etc/pam.d, one line per entry; except the
# services other suites make for themselves while they run (tests/pam_load: authpolicy-load-PID,
# tests/sshd: sshd-authpolicy), which are not ours to judge or restore.
others='^\./(authpolicy-load-[0-9]+|sshd-authpolicy)$'
entries() { (cd "$1" && find . -mindepth 1 -maxdepth 1 | grep -Ev "$others" | sort); }
pam_state() {
  local name
  for name in $(entries /etc/pam.d); do
    stat -c '%n %F %a %U %G' "/etc/pam.d/$name"
    [[ -f /etc/pam.d/$name ]] && sha256sum "/etc/pam.d/$name"
  done
  return 0
}
pam_state > "$work/pam.before"
pam_same() { pam_state | cmp -s - "$work/pam.before"; }
installed() { dpkg-query -W -f='${Status}' authpolicy 2> /dev/null | grep -q ' installed'; }
# Nothing of the package left in dpkg's database (not even "config-files").
known() { dpkg-query -W -f='${Status}' authpolicy 2> /dev/null | grep -qv 'not-installed'; }
mkdir "$work/pam.orig"
cp -a /etc/pam.d/. "$work/pam.orig/"
# Puts back, entry by entry, whatever differs from the copy taken at the start.
restore_pam() {
  local name
  for name in $(entries /etc/pam.d); do
    [[ -e $work/pam.orig/$name || -L $work/pam.orig/$name ]] || rm -rf "/etc/pam.d/$name"
  done
  for name in $(entries "$work/pam.orig"); do
    if ! cmp -s "$work/pam.orig/$name" "/etc/pam.d/$name" ||
       [[ $(stat -c '%F %a %U %G' "$work/pam.orig/$name") != \
          $(stat -c '%F %a %U %G' "/etc/pam.d/$name" 2> /dev/null) ]]; then
      rm -rf "/etc/pam.d/$name"
      cp -a "$work/pam.orig/$name" "/etc/pam.d/$name"
    fi
  done
}

cleanup() {
  local rc=$? user
  set +e
  if command -v authpolicy > /dev/null && authpolicy help disable > /dev/null 2>&1; then
    authpolicy disable sudo su > /dev/null 2>&1
  fi
  # Whatever is still wired, the copy puts back (and the package can then go).
  if ! pam_state | cmp -s - "$work/pam.before"; then
    echo "deb_e2e: cleanup: restoring /etc/pam.d from the copy taken at the start" >&2
    restore_pam
  fi
  if known; then
    apt-get purge -y -q authpolicy > "$work/purge.out" 2>&1 || cat "$work/purge.out" >&2
  fi
  for user in "${users[@]}"; do
    userdel --remove "$user" 2> /dev/null
    # What sudo keeps per user: the lecture mark and the credential timestamp.
    rm -f "/var/lib/sudo/lectured/$user" "/run/sudo/ts/$user"
  done
  if ((made_policy_dir)); then
    rm -rf /etc/authpolicy
  else
    rm -f /etc/authpolicy/sudo.pol /etc/authpolicy/su.pol "/etc/authpolicy/totp/$admin"
  fi
  # The audit log our logins wrote, and enable's backups; unless another suite's service shows
  # it is running on this machine right now and may be writing the same default audit log.
  if ((made_state_dir)) && ! compgen -G '/etc/pam.d/authpolicy-load-*' > /dev/null; then
    rm -rf /var/lib/authpolicy
  fi
  if ! pam_state | cmp -s - "$work/pam.before"; then
    echo "deb_e2e: FAIL: /etc/pam.d differs from before the test:" >&2
    pam_state | diff "$work/pam.before" - >&2
    rc=1
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

started=$SECONDS
passed=0
quietly() {  # quietly COMMAND...: its output only when it fails
  "$@" > "$work/quietly.out" 2>&1 || { local rc=$?; cat "$work/quietly.out" >&2; return "$rc"; }
}
check() {  # check DESCRIPTION COMMAND...: one PASS/FAIL line; a FAIL ends the test
  if "${@:2}"; then
    echo "PASS $1"
    passed=$((passed + 1))
  else
    die "$1"
  fi
}

# ---- build and install the package ---------------------------------------------------------
t0=$SECONDS
cpack --config "$build/CPackConfig.cmake" -B "$work/package" > "$work/cpack.out" 2>&1 ||
  { cat "$work/cpack.out" >&2; die "cpack failed"; }
deb=$(echo "$work"/package/authpolicy_*.deb)
[[ -f $deb ]] || die "cpack made no authpolicy_*.deb in $work/package"
echo "package built in $((SECONDS - t0)) s: $(basename "$deb") ($(stat -c %s "$deb") bytes)"
apt-get install -y -q --no-install-recommends "$deb" > "$work/install.out" 2>&1 ||
  { cat "$work/install.out" >&2; die "apt-get install $deb failed"; }

check "module in libpam's folder $pam_dir" test -f "$pam_dir/pam_policy.so"
for kind in totp u2f pin; do
  check "plugin $kind beside the module" test -f "$pam_dir/pam_policy-factors/factor_$kind.so"
done
# Under the spelling dpkg has libpam-modules' pam_unix.so under (Debian 12: /lib/..., one folder
# with /usr/lib/... under merged /usr): the folder is then shared, never taken for ours alone.
pam_unix_dir=$(dpkg-query -S "*/$multiarch/security/pam_unix.so" | sed -n '1s|^[^ ]* \(.*\)/pam_unix\.so$|\1|p')
check "module registered in dpkg beside pam_unix.so ($pam_unix_dir)" \
  sh -c "dpkg-query -L authpolicy | grep -qx '$pam_unix_dir/pam_policy.so'"
((made_policy_dir == 0)) ||
  check "policy folder made by the package, root's, 0755: $(stat -c '%a %U' /etc/authpolicy)" \
  sh -c "[ \"\$(stat -c '%a %U:%G' /etc/authpolicy)\" = '755 root:root' ]"
check "policy folder not the package's own" sh -c "! dpkg-query -L authpolicy | grep -qx /etc/authpolicy"
check "CLI in /usr/bin" test -x /usr/bin/authpolicy
helper=/usr/libexec/authpolicy/pin-helper
check "PIN helper setgid tss: $(stat -c '%a %U:%G' "$helper")" \
  test "$(stat -c '%a %U %G' "$helper")" = "2755 root tss"
stripped() { ! readelf -S "$1" | grep -q '\.debug_info' && ! readelf -S "$1" | grep -q '\.symtab'; }
for file in /usr/bin/authpolicy "$pam_dir/pam_policy.so" "$pam_dir"/pam_policy-factors/*.so "$helper"; do
  check "stripped: $file ($(stat -c %s "$file") bytes)" stripped "$file"
done
for page in authpolicy.1 pam_policy.8 authpolicy.pol.5; do
  check "man page $page" test -s "/usr/share/man/man${page##*.}/$page"
done
check "bash completion" test -f /usr/share/bash-completion/completions/authpolicy
check "authpolicy help check" eval "authpolicy help check > /dev/null"

# ---- users, enrolment, policies --------------------------------------------------------------
step=5  # seconds per code: each successful login waits for a fresh step (codes are single-use)
password="pw-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
for user in "$admin" "$other"; do
  getent passwd "$user" > /dev/null && die "user $user already exists"
  # Group sudo: Debian's default sudoers lets its members run anything (nothing added to sudoers).
  useradd --no-create-home --home-dir /nonexistent --shell /bin/sh --user-group --groups sudo "$user"
  users+=("$user")
  printf '%s:%s\n' "$user" "$password" | chpasswd
done

[[ $made_policy_dir == 1 || ! -e /etc/authpolicy/sudo.pol && ! -e /etc/authpolicy/su.pol ]] ||
  die "/etc/authpolicy/sudo.pol or su.pol exists already; this test would overwrite it"
# As README.md's "Install and enable": the default secrets folder, the policy in one line.
authpolicy totp enroll "$admin" --step "$step" --no-qr --no-rate-limit > "$work/enroll.out" 2>&1 ||
  { cat "$work/enroll.out" >&2; die "authpolicy totp enroll failed"; }
totp_file=/etc/authpolicy/totp/$admin
secret=$(head -n 1 "$totp_file")
[[ $secret =~ ^[A-Z2-7]+$ ]] || die "unexpected first line in the enrolment file"
for service in sudo su; do
  echo 'auth password && totp' > "/etc/authpolicy/$service.pol"

  authpolicy check "/etc/authpolicy/$service.pol" > "$work/check.out" 2>&1 ||
    { cat "$work/check.out" >&2; die "authpolicy check refused the $service policy"; }
done

# ---- enable sudo, alone ----------------------------------------------------------------------
check "authpolicy enable sudo" quietly authpolicy enable sudo
for service in sudo sudo-i; do
  check "enable sudo wired $service" grep -q '^auth.*pam_policy.so policy=/etc/authpolicy/sudo.pol' \
    "/etc/pam.d/$service"
done
for service in su su-l common-auth; do
  check "enable sudo left $service as it was" cmp -s "$work/pam.orig/$service" "/etc/pam.d/$service"
done
check "authpolicy status: sudo and sudo-i covered, su not" sh -c \
  'authpolicy status > "$1" 2>&1; grep -q "^sudo: auth+account run pam_policy.so with /etc/authpolicy/sudo.pol" "$1" &&
   grep -q "^sudo-i: auth+account run pam_policy.so with /etc/authpolicy/sudo.pol" "$1" &&
   grep -q "^su: not covered" "$1"' sh "$work/status.out"
check "package refuses removal while a stack uses the module" \
  sh -c "! apt-get remove -y -q authpolicy > '$work/remove-early.out' 2>&1"
check "still installed after the refused removal" installed

# ---- the real clients ------------------------------------------------------------------------
# Waits for a TOTP step no earlier login used.
fresh_step() { sleep $((step - $(date +%s) % step)).1; }
# session NAME USER ANSWERS WANT_PROMPTS WANT_EXIT COMMAND...: one whole session of a client with
# its retries, run as USER through expect (tests/install/session.exp: ANSWERS is pw, badpw, code,
# typo per prompt). Sets $said: the lines the client printed besides its prompts.
session() {
  local name=$1 as=$2 answers=$3 want_prompts=$4 want=$5
  shift 5
  [[ ,$answers, == *,code,* ]] && fresh_step
  local out exit_status
  out=$(setpriv --reuid="$as" --regid="$as" --init-groups -- \
        expect "$here/session.exp" "$password" "$secret" "$step" "$answers" "$@" 2>&1) || true
  prompts=$(sed -n 's/^prompts: //p' <<< "$out" | tr -d '\r')
  said=$(sed -n 's/^said: //p' <<< "$out" | tr -d '\r')
  exit_status=$(sed -n 's/^exit: //p' <<< "$out" | tr -d '\r')
  if [[ $prompts != "$want_prompts" || $exit_status != "$want" ]]; then
    echo "$out" >&2
    die "$name: prompts '$prompts' (want '$want_prompts'), exit '$exit_status' (want $want)"
  fi
  echo "PASS $name: prompts '$prompts', exit $exit_status"
  passed=$((passed + 1))
}
# said_line NAME TEXT: the last session printed a line containing TEXT.
said_line() {
  grep -qF -- "$2" <<< "$said" || { echo "$said" >&2; die "$1: no line with '$2' among the above"; }
  echo "PASS $1"
  passed=$((passed + 1))
}
# login NAME right|wrong WANT_EXIT COMMAND...: run as $admin (or as $other for su) through expect.
login() {
  local name=$1 which=$2 want=$3 as=$4
  shift 4
  [[ $which == right ]] && fresh_step
  local out
  out=$(setpriv --reuid="$as" --regid="$as" --init-groups -- \
        expect "$here/login.exp" "$password" "$secret" "$step" "$which" "$@" 2>&1) || true
  local prompts exit_status
  prompts=$(sed -n 's/^prompts: //p' <<< "$out" | tr -d '\r')
  exit_status=$(sed -n 's/^exit: //p' <<< "$out" | tr -d '\r')
  if [[ $prompts != "password code" || $exit_status != "$want" ]]; then
    echo "$out" >&2
    die "$name: prompts '$prompts' (want 'password code'), exit '$exit_status' (want $want)"
  fi
  echo "PASS $name: asked password then code, exit $exit_status"
  passed=$((passed + 1))
}
# sudo then sudo -i: one policy for both (enable wires sudo-i to sudo.pol), so recent() counts the
# code typed for sudo when sudo -i asks. First, before any other pass is in the audit log.
echo 'auth password && (totp unless recent(totp, 10m))' > /etc/authpolicy/sudo.pol
session "sudo -k true under recent(totp, 10m): the code is asked" "$admin" pw,code \
  "password code" 0 sudo -k true
session "then sudo -k -i true: the code is not asked again" "$admin" pw "password" 0 sudo -k -i true
echo 'auth password && totp' > /etc/authpolicy/sudo.pol

session "sudo -k true, right code" "$admin" pw,code "password code" 0 sudo -k true
session "sudo -k true, a typo then the right code: asked again" "$admin" pw,typo,pw,code \
  "password code password code" 0 sudo -k true
said_line "sudo said why it asks again" "Sorry, try again."
session "sudo -k true, three wrong codes refused" "$admin" pw,typo,pw,typo,pw,typo \
  "password code password code password code" 1 sudo -k true
session "sudo -k -i true, right code" "$admin" pw,code "password code" 0 sudo -k -i true
session "sudo -k -i true, wrong codes refused" "$admin" pw,typo,pw,typo,pw,typo \
  "password code password code password code" 1 sudo -k -i true

# A user with no enrolment: told so after the password (sudo passes PAM_SILENT), not "wrong".
session "sudo -k true by $other (not enrolled): password only" "$other" pw,pw,pw \
  "password password password" 1 sudo -k true
said_line "$other is told there is no code set up" \
  "Access refused: totp is unavailable for this account: not enrolled."
session "sudo -k true by $other with a wrong password" "$other" badpw,badpw,badpw \
  "password password password" 1 sudo -k true
grep -q 'Access refused' <<< "$said" && die "a wrong password must not learn about the enrolment"

# A broken policy: nothing is asked and the person sees the line (also under PAM_SILENT).
echo 'auth password &&' > /etc/authpolicy/sudo.pol
session "sudo -k true under a broken policy: nothing asked" "$admin" "" "" 1 sudo -k true
said_line "the sudo user sees the policy line" "authentication policy unavailable"
echo 'auth password && totp' > /etc/authpolicy/sudo.pol

# The rate limit (RATE_LIMIT 3 30, as enroll writes it by default): the third wrong code says the
# wait, and while it holds the code is not asked and the person is told why.
authpolicy totp enroll "$admin" --step "$step" --no-qr --force > "$work/enroll.out" 2>&1 ||
  { cat "$work/enroll.out" >&2; die "authpolicy totp enroll --force failed"; }
secret=$(head -n 1 "$totp_file")
grep -q '^" RATE_LIMIT 3 30' "$totp_file" || die "enroll wrote no RATE_LIMIT 3 30"
session "sudo -k true, three wrong codes use up the rate limit" "$admin" pw,typo,pw,typo,pw,typo \
  "password code password code password code" 1 sudo -k true
said_line "the third wrong code says the wait" "Too many one-time codes tried: wait"
session "sudo -k true while the limit holds: no code asked" "$admin" pw,pw,pw \
  "password password password" 1 sudo -k true
said_line "the sudo user is told why the code is not asked" "Too many one-time codes tried: wait"
authpolicy totp enroll "$admin" --step "$step" --no-qr --no-rate-limit --force > "$work/enroll.out" 2>&1 ||
  { cat "$work/enroll.out" >&2; die "authpolicy totp enroll --force failed"; }
secret=$(head -n 1 "$totp_file")

check "authpolicy disable sudo" quietly authpolicy disable sudo
check "/etc/pam.d byte for byte as before, after disable sudo" pam_same

# ---- su and su - (su-l includes su), as a second step -------------------------------------
check "authpolicy enable su" quietly authpolicy enable su
login "su $admin, right code" right 0 "$other" su "$admin" -c true
login "su $admin, wrong code refused" wrong 1 "$other" su "$admin" -c true
login "su - $admin, right code" right 0 "$other" su - "$admin" -c true
login "su - $admin, wrong code refused" wrong 1 "$other" su - "$admin" -c true
check "authpolicy disable su" quietly authpolicy disable su
check "/etc/pam.d byte for byte as before, after disable su" pam_same

# ---- remove: /etc/pam.d still byte for byte as before ----------------------------------------
check "apt-get remove authpolicy" sh -c "apt-get remove -y -q authpolicy > '$work/remove.out' 2>&1"
check "/etc/pam.d byte for byte as before, after remove" pam_same
# dpkg removes the package's folders when they are empty and warns about a folder it takes to be
# the package's alone that is not: the PAM folder must be libpam-modules' own path, so no warning.
check "apt-get remove gives no warning" sh -c "! grep -i 'warning' '$work/remove.out'"
check "the admin's policy folder is kept" test -d /etc/authpolicy
check "apt-get purge authpolicy" sh -c "apt-get purge -y -q authpolicy > '$work/purge-end.out' 2>&1"
check "apt-get purge gives no warning" sh -c "! grep -i 'warning' '$work/purge-end.out'"
check "apt-get purge says the policy folder is kept" \
  grep -q 'authpolicy: kept /etc/authpolicy' "$work/purge-end.out"
check "module gone" test ! -e "$pam_dir/pam_policy.so"
check "plugin folder gone" test ! -e "$pam_dir/pam_policy-factors"
check "CLI gone" test ! -e /usr/bin/authpolicy
check "PIN helper and its folder gone" test ! -e /usr/libexec/authpolicy
check "no stat override left" sh -c "! dpkg-statoverride --list '$helper' > /dev/null"
check "nothing of the package left in dpkg's database" eval '! known'
echo "deb_e2e: $passed checks passed in $((SECONDS - started)) s"
