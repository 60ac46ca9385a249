#!/bin/bash
# The paths outside its temporary folders that the suite could write (the module's defaults, the
# installed files, PAM and sudo configuration, users and groups, TPM and journal state), and a check
# that a test run leaves every one of them exactly as it found it.
#
# usage: host_state.sh snapshot FILE     records the state into FILE
#        host_state.sh compare FILE      fails, printing the differences, unless the state equals FILE
#        host_state.sh paths             prints the watched paths
#
# ctest runs `snapshot` before every other test and `compare` after all of them (the host_state
# fixture, tests/CMakeLists.txt), so any test that leaves one of these paths changed fails the run.
# A state is: for each path, absent, or every entry below it with its type, mode, owner, group,
# size and, for regular files, its sha256 (not times: a file restored byte for byte is unchanged).
set -euo pipefail
export LC_ALL=C

multiarch=$(gcc -print-multiarch 2> /dev/null || true)
module_dirs=()
for dir in /lib/security /usr/lib/security ${multiarch:+/lib/$multiarch/security /usr/lib/$multiarch/security}; do
  [[ -d $dir ]] && module_dirs+=("$dir")
done

# Whole trees: the project's own folders and the configuration its commands edit.
trees=(/var/lib/authpolicy /etc/authpolicy /run/authpolicy /etc/pam.d /etc/security /etc/sudoers.d
  /etc/ssh /usr/lib/authpolicy /usr/libexec/authpolicy /usr/share/doc/authpolicy
  /usr/local/lib/authpolicy /var/lib/swtpm-localca /var/lib/swtpm /root/.config/authpolicy)
# Single files: users, groups, sudo, the installed binaries, pages and completion.
files=(/etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/subuid /etc/subgid /etc/sudoers
  /usr/bin/authpolicy /usr/sbin/authpolicy /usr/local/bin/authpolicy
  /usr/share/man/man1/authpolicy.1 /usr/share/man/man1/authpolicy.1.gz
  /usr/share/man/man5/authpolicy.pol.5 /usr/share/man/man5/authpolicy.pol.5.gz
  /usr/share/man/man8/pam_policy.8 /usr/share/man/man8/pam_policy.8.gz
  /usr/share/bash-completion/completions/authpolicy /etc/bash_completion.d/authpolicy
  /run/systemd/journal/socket /run/systemd/journal/stdout)
for dir in "${module_dirs[@]}"; do
  files+=("$dir/pam_policy.so")
  trees+=("$dir/pam_policy-factors")
done

describe() {  # one line per entry below $1 (or "absent")
  local path=$1
  if [[ ! -e $path && ! -L $path ]]; then
    echo "$path absent"
    return
  fi
  find "$path" -xdev -printf '%p %y %m %u %g %s\n' 2> /dev/null | sort | while read -r entry type rest; do
    if [[ $type == f ]]; then
      echo "$entry $type $rest $(sha256sum < "$entry" | cut -c1-64)"
    elif [[ $type == d ]]; then
      echo "$entry $type ${rest% *}"  # a folder's size grows with entries once made, then kept
    else
      echo "$entry $type $rest"
    fi
  done
}

state() {
  for path in "${trees[@]}" "${files[@]}"; do describe "$path"; done
  # The home folders and the journals: which exist (their contents are the users' own).
  echo "homes: $(find /home -mindepth 1 -maxdepth 1 -printf '%f %u ' 2> /dev/null | sort)"
  echo "journals: $(find /var/log/journal /run/log/journal -mindepth 1 -maxdepth 1 -printf '%p ' 2> /dev/null | sort)"
  echo "package: $(dpkg-query -W -f='${db:Status-Abbrev}${Version}' authpolicy 2> /dev/null || echo none)"
}

case ${1:-} in
  snapshot)
    [[ $# == 2 ]] || { echo "usage: host_state.sh snapshot FILE" >&2; exit 2; }
    state > "$2"
    echo "recorded $(wc -l < "$2") entries of ${#trees[@]} trees and ${#files[@]} files into $2"
    ;;
  compare)
    [[ $# == 2 ]] || { echo "usage: host_state.sh compare FILE" >&2; exit 2; }
    [[ -s $2 ]] || { echo "FAIL: no snapshot at $2 (the host_state.snapshot test did not run)"; exit 1; }
    now=$(mktemp)
    trap 'rm -f "$now"' EXIT
    state > "$now"
    if ! diff -u "$2" "$now" > "$now.diff"; then
      echo "FAIL: the test run changed paths outside its temporary folders (- before, + after):"
      cat "$now.diff"
      rm -f "$now.diff"
      exit 1
    fi
    rm -f "$now.diff"
    echo "unchanged: $(wc -l < "$2") entries of ${#trees[@]} trees and ${#files[@]} files"
    ;;
  paths)
    printf '%s\n' "${trees[@]}" "${files[@]}" /home /var/log/journal /run/log/journal
    ;;
  *)
    echo "usage: host_state.sh snapshot|compare FILE | paths" >&2
    exit 2
    ;;
esac
