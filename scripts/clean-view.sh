#!/bin/bash
# Runs a command in a clean view of this machine: a private mount namespace where /etc, /usr,
# /var, /run and /home are overlays whose changes vanish when the command ends, and where every
# path the project writes outside its build starts as on a fresh machine (no /var/lib/authpolicy,
# no /etc/authpolicy, no installed module, CLI, pages or package). So what the command sees does
# not depend on what earlier runs, installs or `authpolicy enable` left on this machine, and
# nothing it writes there stays behind. The build folders (under the checkout) and /tmp are the
# real ones.
#
# usage: scripts/clean-view.sh COMMAND [ARGS...]      (as root; scripts/test.sh runs itself this way)
set -euo pipefail

if [[ ${AP_CLEAN_VIEW_INSIDE:-} != 1 ]]; then
  [[ $# -ge 1 ]] || { echo "usage: scripts/clean-view.sh COMMAND [ARGS...]" >&2; exit 2; }
  [[ $(id -u) == 0 ]] || { echo "clean-view: needs root (mount namespace, overlayfs)" >&2; exit 2; }
  for tool in unshare mount findmnt; do
    command -v "$tool" > /dev/null || { echo "clean-view: required tool missing: $tool" >&2; exit 2; }
  done
  scratch=$(mktemp -d /tmp/ap-clean-view.XXXXXX)
  trap 'rm -rf "$scratch"' EXIT
  status=0
  AP_CLEAN_VIEW_INSIDE=1 AP_CLEAN_VIEW_SCRATCH=$scratch \
    unshare --mount --propagation private "$0" "$@" || status=$?
  exit "$status"
fi

scratch=$AP_CLEAN_VIEW_SCRATCH
mount -t tmpfs -o mode=0700 ap-clean-view "$scratch"
for top in /etc /usr /var /run /home; do
  name=${top#/}
  mkdir -p "$scratch/$name.upper" "$scratch/$name.work"
  mount -t overlay "ap-clean-$name" \
    -o "lowerdir=$top,upperdir=$scratch/$name.upper,workdir=$scratch/$name.work" "$top"
done

# What the project itself puts on a machine, hidden (as whiteouts in the overlays).
hidden=()
hide() {
  for path in "$@"; do
    if [[ -e $path || -L $path ]]; then
      rm -rf -- "$path"
      hidden+=("$path")
    fi
  done
}
if dpkg-query -W -f='${db:Status-Abbrev}' authpolicy 2> /dev/null | grep -q '^[ic]'; then
  dpkg --purge --force-all authpolicy > /dev/null 2>&1 || true
  hidden+=("the authpolicy package")
fi
multiarch=$(gcc -print-multiarch 2> /dev/null || true)
for dir in /lib/security /usr/lib/security ${multiarch:+/usr/lib/$multiarch/security}; do
  hide "$dir/pam_policy.so" "$dir/pam_policy-factors"
done
hide /var/lib/authpolicy /etc/authpolicy /run/authpolicy /usr/lib/authpolicy /usr/libexec/authpolicy \
  /usr/share/doc/authpolicy /usr/bin/authpolicy /usr/sbin/authpolicy /usr/local/bin/authpolicy \
  /usr/local/lib/authpolicy /usr/share/bash-completion/completions/authpolicy \
  /etc/bash_completion.d/authpolicy \
  /usr/share/man/man1/authpolicy.1* /usr/share/man/man5/authpolicy.pol.5* /usr/share/man/man8/pam_policy.8*
# pam_policy.so sends each decision to journald's native socket (audit { journal }, fleet.md):
# no test may add entries to this machine's journal, so that socket is not there in the view
# (the journal tests start journalds of their own, listening in their own folders).
hide /run/systemd/journal/socket
if ((${#hidden[@]})); then
  echo "clean-view: hidden as on a fresh machine: ${hidden[*]}"
else
  echo "clean-view: nothing of the project was on this machine"
fi
# A stack that an `authpolicy enable` on this machine left behind cannot be undone from here;
# it would make the view differ from a fresh machine, so it is named.
if left=$(grep -l 'pam_policy' /etc/pam.d/* 2> /dev/null) && [[ -n $left ]]; then
  echo "clean-view: WARNING: these PAM files name pam_policy.so (an earlier enable?):" $left >&2
fi

unset AP_CLEAN_VIEW_INSIDE AP_CLEAN_VIEW_SCRATCH
exec "$@"
