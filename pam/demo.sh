#!/usr/bin/env bash
# The README demo: real libpam (under pam_wrapper) authenticating through pam_policy.so against
# the project's policies/, with pamtester as the application. Shows each prompt and decision.
#
# usage: pam/demo.sh BUILD_DIR [TCTI AUDIT_DB]    (as root: policy files must be root-owned)
#   TCTI: a TPM (swtpm) on which user `nobody` has a PIN: adds the `auth pin || password` scenes.
#   AUDIT_DB: where the decisions are logged (default: a file in the demo's temporary folder).
# needs: pamtester, libpam-wrapper (pam_matrix.so stands in for pam_unix), oathtool for the
#        one-time-code scene.
set -euo pipefail

build=${1:?usage: pam/demo.sh BUILD_DIR [TCTI AUDIT_DB]}
tcti=${2:-}
audit_db=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
module="$build/pam/pam_policy.so"
wrapper=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so
matrix=/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so
for need in "$module" "$wrapper" "$matrix" /usr/bin/pamtester; do
  [[ -e "$need" ]] || { echo "demo.sh: missing $need" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "demo.sh: run as root (policy files must be root-owned)" >&2; exit 2; }
preload="$wrapper"
if asan=$(ldd "$module" | awk '/libasan/ {print $3}') && [[ -n "$asan" ]]; then
  preload="$asan $wrapper"   # an ASan build: its runtime must be loaded first
fi

work=$(mktemp -d /tmp/authpolicy-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/pam.d" "$work/policies/shared" "$work/totp"
chmod 700 "$work/totp"

# The demo user: alice, password "alice-pass", for every demo service (pam_matrix's format).
services=(unlock remote design sshd)
{ for s in "${services[@]}"; do echo "alice:alice-pass:$s"; done
  echo "nobody:nobody-pass:pin"; } > "$work/passdb"
[[ -n "$audit_db" ]] || audit_db="$work/audit/audit.db"
chmod 600 "$work/passdb"

# The project's policies, unchanged except: `password` checks pam_matrix's database instead of
# /etc/shadow, and one-time-code enrolments live in the demo folder.
cp "$here"/policies/shared/*.inc "$work/policies/shared/"
sed -i "s|/etc/authpolicy/totp/%u|$work/totp/%u|" "$work/policies/shared/keys.inc"
install_policy() {  # service policy-file
  { cat "$here/policies/$2.pol"
    echo "factor password { module = \"$matrix\"; arguments = \"passdb=$work/passdb\" }"
    echo "audit { db = \"$audit_db\" }"
    [[ -z "$tcti" ]] || echo "tpm { tcti = \"$tcti\" }"
  } > "$work/policies/$1.pol"
  chmod 644 "$work/policies/$1.pol"
  printf 'auth required %s policy=%s\naccount required %s policy=%s\n' \
    "$module" "$work/policies/$1.pol" "$module" "$work/policies/$1.pol" > "$work/pam.d/$1"
}
install_policy unlock unlock-fingerprint-or-password
install_policy remote remote-otp
install_policy design design-card
install_policy sshd sshd
install_policy pin pin-fallback
echo "auth required pam_deny.so" > "$work/pam.d/other"
chown -R root:root "$work"

secret=JBSWY3DPEHPK3PXP
printf '%s\n" TOTP_AUTH\n' "$secret" > "$work/totp/alice"
chmod 600 "$work/totp/alice"

# Runs pamtester and shows what the person sees and what pam_policy.so logged.
scene() {  # title answers pamtester-arguments...
  local title=$1 answers=$2
  shift 2
  echo
  echo "== $title"
  echo "\$ pamtester $*"
  local out
  out=$(printf '%b' "$answers" | LD_PRELOAD="$preload" PAM_WRAPPER=1 \
    PAM_WRAPPER_SERVICE_DIR="$work/pam.d" PAM_WRAPPER_DEBUGLEVEL=2 pamtester "$@" 2>&1 || true)
  # Prompts and pamtester's verdict as the person sees them, then the module's syslog line.
  sed -E -e 's/PWRAP_.*$//' <<<"$out" | grep -v '^[[:space:]]*$' | sed -e 's/^/  /'
  grep -o 'SYSLOG([0-9]*): .*' <<<"$out" | sed -e 's/^SYSLOG([0-9]*): /  syslog: /'
}

echo "policies: $here/policies (password checked by pam_matrix; user alice, password alice-pass)"
scene "unlock-fingerprint-or-password.pol: no fingerprint reader here, so the password" \
  'alice-pass\n' unlock alice authenticate
scene "the same with a wrong password" 'guess\n' unlock alice authenticate
scene "remote-otp.pol from a trusted network: the code is waived" \
  'alice-pass\n' -I rhost=192.168.1.20 remote alice authenticate
if command -v oathtool > /dev/null; then
  code=$(oathtool --totp -b "$secret")
  scene "remote-otp.pol from elsewhere: password, then the one-time code ($code)" \
    "alice-pass\n$code\n" -I rhost=203.0.113.9 remote alice authenticate
fi
scene "remote-otp.pol from elsewhere with a wrong code" \
  'alice-pass\n000000\n' -I rhost=203.0.113.9 remote alice authenticate
scene "design-card.pol from the trusted network" 'alice-pass\n' -I rhost=10.1.2.3 design alice authenticate
scene "design-card.pol from elsewhere: no TPM PIN and no security key here, so denied" \
  'alice-pass\n' -I rhost=203.0.113.9 design alice authenticate
scene "sshd.pol: no GeoIP database here, so the country rule is unknown: denied, nothing asked" \
  'alice-pass\n' -I rhost=10.20.1.1 sshd alice authenticate
scene "account phase only (an sshd public-key login): the same deny rules" \
  '' -I rhost=10.20.1.1 sshd alice acct_mgmt
if [[ -n "$tcti" ]]; then
  scene "pin-fallback.pol (auth pin || password): the right TPM PIN" \
    '2468\n' pin nobody authenticate
  scene "a wrong PIN falls back to the password; the TPM counts the attempt" \
    '1111\nnobody-pass\n' pin nobody authenticate
  scene "two more wrong PINs and wrong passwords: the hardware locks the PIN" \
    '1111\nwrong\n' pin nobody authenticate
  scene "(third)" '1111\nwrong\n' pin nobody authenticate
  scene "locked: the PIN is not even asked, the person is told, the password still works" \
    'nobody-pass\n' pin nobody authenticate
fi
