#!/bin/bash
# `cmake --install` gives the packaged layout: the module in the folder libpam loads modules
# from, plugins beside it, the CLI in <prefix>/bin, man pages and bash completion; the install
# manifest names only files that exist; the PIN helper is setgid only when its group change
# succeeded (a staged DESTDIR install leaves it 0755, a failed chgrp fails the install).
#
# usage: cmake_install_test.sh BUILD_DIR      (as root; ctest -L install)
# The real (non-staged) helper install runs in a private mount namespace with a tmpfs over the
# helper's folder, so the system's own files are never touched.
set -euo pipefail
[[ $# == 1 ]] || { echo "usage: cmake_install_test.sh BUILD_DIR" >&2; exit 2; }
build=$(realpath "$1")
failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
pass() { echo "PASS $*"; }
die() { echo "FAIL $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (chgrp, mount namespace)"
for tool in cmake unshare mount groupadd groupdel readelf stat; do
  command -v "$tool" > /dev/null || die "required tool missing: $tool"
done
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
module_dir=$(cache AUTHPOLICY_PAM_MODULE_DIR)
system_dir=$(cache AUTHPOLICY_SYSTEM_PAM_DIR)
helper=$(cache AUTHPOLICY_PIN_HELPER_PATH)
[[ -f $system_dir/pam_unix.so ]] || fail "AUTHPOLICY_SYSTEM_PAM_DIR $system_dir holds no pam_unix.so"
[[ $module_dir == "$system_dir" ]] ||
  fail "the module would go to $module_dir, not where libpam looks ($system_dir)"

work=$(mktemp -d /tmp/ap-cmake-install.XXXXXX)
group=apinst$$
cleanup() {
  getent group "$group" > /dev/null && groupdel "$group"
  rm -rf "$work"
}
trap cleanup EXIT

# ---- staged install: the layout -------------------------------------------------------------
stage=$work/stage
DESTDIR=$stage cmake --install "$build" --strip > "$work/install.out" 2>&1 ||
  { cat "$work/install.out"; die "DESTDIR=$stage cmake --install failed"; }
for file in "$module_dir/pam_policy.so" "$module_dir/pam_policy-factors/factor_totp.so" \
            "$prefix/bin/authpolicy" "$helper" "$prefix/share/man/man1/authpolicy.1" \
            "$prefix/share/man/man8/pam_policy.8" "$prefix/share/man/man5/authpolicy.pol.5" \
            "$prefix/share/bash-completion/completions/authpolicy"; do
  [[ -f $stage$file ]] && pass "installed $file" || fail "not installed: $file"
done
mode=$(stat -c '%a %U' "$stage$helper")
[[ $mode == "755 root" ]] && pass "staged PIN helper $mode, not setgid" ||
  fail "staged PIN helper is $mode (want 755 root: the package sets the group and the bit)"
for file in "$prefix/bin/authpolicy" "$module_dir/pam_policy.so"; do
  readelf -S "$stage$file" | grep -q '\.debug_info' && fail "--strip left debug info in $file" ||
    pass "--strip: $file $(stat -c %s "$stage$file") bytes"
done
manifest=$build/install_manifest.txt
[[ -s $manifest ]] || fail "no install manifest $manifest"
mapfile -t installed < "$manifest"
for file in "${installed[@]}"; do
  [[ -e $stage$file ]] || fail "the install manifest names $file, which does not exist"
done
grep -q -- "^$helper\$" "$manifest" && pass "manifest names the PIN helper where it is" ||
  fail "manifest lacks $helper"
DESTDIR=$stage cmake --build "$build" --target uninstall > "$work/uninstall.out" 2>&1 ||
  { cat "$work/uninstall.out"; fail "the uninstall target failed"; }
left=$(find "$stage" -type f -o -type l)
[[ -z $left ]] && pass "uninstall removed all ${#installed[@]} installed files" ||
  fail "uninstall left: $left"

# ---- real install of the helper, in a private mount namespace -------------------------------
helper_dir=$(dirname "$(dirname "$helper")")  # e.g. /usr/libexec: exists on every system
[[ -d $helper_dir ]] || die "$helper_dir does not exist"
script=$build/factors/tpm/cmake_install.cmake
[[ -f $script ]] || die "$script missing"
in_namespace() {  # in_namespace GROUP: installs the helper for real; prints "rc mode owner group"
  unshare --mount --propagation private bash -c '
    mount -t tmpfs -o mode=755 ap-install-test "$1" || exit 99
    cmake -DAUTHPOLICY_TPM_GROUP="$2" -P "$3" > "$5" 2>&1
    rc=$?
    echo "$rc $(stat -c "%a %U %G" "$4" 2> /dev/null || echo missing)"
  ' _ "$helper_dir" "$1" "$script" "$helper" "$work/real.out"
}
groupadd --system "$group"
result=$(in_namespace "$group")
[[ $result == "0 2755 root $group" ]] && pass "real install: helper 2755 root:$group" ||
  { cat "$work/real.out"; fail "real install with group $group: '$result' (want '0 2755 root $group')"; }
groupdel "$group"
result=$(in_namespace "$group")  # the group is gone now: chgrp fails
read -r rc mode _ <<< "$result"
[[ $rc != 0 ]] && pass "install fails when chgrp fails (rc $rc)" ||
  fail "install succeeded although group $group does not exist"
[[ $mode == 755 ]] && pass "helper left 755 after the failed chgrp" ||
  fail "helper is $mode after the failed chgrp (want 755, never setgid root)"
grep -q "could not chgrp" "$work/real.out" || fail "no 'could not chgrp' message: $(cat "$work/real.out")"
((failed == 0)) || { echo "cmake_install_test: $failed failures"; exit 1; }
echo "cmake_install_test: all passed"
