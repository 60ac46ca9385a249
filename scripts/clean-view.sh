#!/bin/bash
# Runs a command in a clean view of this machine: a private mount namespace where /etc, /var, /run
# and /home are overlays whose changes vanish when the command ends, and where the paths the
# project writes there start as on a fresh machine (no /var/lib/authpolicy, no /etc/authpolicy,
# no package in dpkg's database). So what the command sees does not depend on what earlier runs,
# installs or `authpolicy enable` left on this machine, and nothing it writes there stays behind.
# The build folders (under the checkout), /tmp and /usr are the real ones: /usr is not overlaid
# because pam_policy.so checks each module it loads against /proc/self/maps, whose device numbers
# differ from the file's on overlayfs (the module then refuses pam_unix.so, fails closed). A module
# or CLI installed by hand in /usr is named as a difference from a fresh machine; tests that
# install into /usr (tests/install) remove what they installed.
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
for top in /etc /var /run /home; do
  name=${top#/}
  mkdir -p "$scratch/$name.upper" "$scratch/$name.work"
  mount -t overlay "ap-clean-$name" \
    -o "lowerdir=$top,upperdir=$scratch/$name.upper,workdir=$scratch/$name.work" "$top"
done

# What the project itself puts on a machine outside /usr, hidden (as whiteouts in the overlays).
hidden=()
for path in /var/lib/authpolicy /etc/authpolicy /run/authpolicy /etc/bash_completion.d/authpolicy; do
  if [[ -e $path || -L $path ]]; then
    rm -rf -- "$path"
    hidden+=("$path")
  fi
done
# dpkg's database is in /var: forgetting the package there leaves /usr alone.
if dpkg-query -W -f='${db:Status-Abbrev}' authpolicy 2> /dev/null | grep -q '^[ic]'; then
  rm -f /var/lib/dpkg/info/authpolicy.*
  sed -i '/^Package: authpolicy$/,/^$/d' /var/lib/dpkg/status
  hidden+=("the authpolicy package in dpkg's database")
fi
if ((${#hidden[@]})); then
  echo "clean-view: hidden as on a fresh machine: ${hidden[*]}"
else
  echo "clean-view: nothing of the project was on this machine"
fi
multiarch=$(gcc -print-multiarch 2> /dev/null || true)
installed=()
for path in /lib/security/pam_policy.so /usr/lib/security/pam_policy.so \
  ${multiarch:+/usr/lib/$multiarch/security/pam_policy.so /usr/lib/$multiarch/security/pam_policy-factors} \
  /usr/bin/authpolicy /usr/local/bin/authpolicy /usr/libexec/authpolicy /usr/lib/authpolicy \
  /usr/share/bash-completion/completions/authpolicy; do
  [[ -e $path ]] && installed+=("$path")
done
if ((${#installed[@]})); then
  echo "clean-view: WARNING: installed by hand in /usr, unlike a fresh machine: ${installed[*]}" >&2
fi
# A stack that an `authpolicy enable` on this machine left behind cannot be undone from here;
# it would make the view differ from a fresh machine, so it is named.
if left=$(grep -l 'pam_policy' /etc/pam.d/* 2> /dev/null) && [[ -n $left ]]; then
  echo "clean-view: WARNING: these PAM files name pam_policy.so (an earlier enable?):" $left >&2
fi

unset AP_CLEAN_VIEW_INSIDE AP_CLEAN_VIEW_SCRATCH
exec "$@"
