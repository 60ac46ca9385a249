# Shared set-up for the sshd system test and benchmark: namespaces, a test user, sshd, ssh logins.
# shellcheck shell=bash disable=SC2034
#
# Sourced by tests/sshd/sshd_e2e.sh, tests/sshd/sshd_auth_e2e.sh and bench/sshd/login_bench.sh.
# Everything it creates is recorded in AP_* variables and removed by ap_cleanup (call it from an
# EXIT trap). Traffic stays inside two network namespaces made here: the addresses are
# documentation ranges (RFC 5737, RFC 3849) that exist only on the veth pair between them.

AP_SERVER_NS=""
AP_CLIENT_NS=""
AP_USER=""
AP_PAM_FILES=()
AP_SSHD_PIDS=()
AP_MADE_RUN_SSHD=0
AP_WORK=""
AP_DEV_DIR=""
AP_SINK_PID=""
AP_SYSLOG=""

# Server side, one address per client subnet so every client address is on-link.
AP_SERVER_V4=192.0.2.1
AP_SERVER_V6=2001:db8::1
# Client addresses: trusted (in the policy's set), untrusted, and one the test GeoIP database
# places in a denied country.
AP_TRUSTED_V4=192.0.2.10
AP_TRUSTED_V6=2001:db8::10
AP_UNTRUSTED_V4=198.51.100.10
AP_UNTRUSTED_V6=2001:db8:1::10
AP_DENIED_V4=203.0.113.10
AP_DENIED_V6=2001:db8:2::10

ap_die() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

ap_need_root() {
  [[ $EUID == 0 ]] || ap_die "must run as root (network namespaces, useradd, /etc/pam.d, root-owned policy files)"
}

# Fails naming the first missing tool. Arguments: commands looked up in PATH.
ap_need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" > /dev/null 2>&1 || ap_die "required tool missing: $tool"
  done
}

ap_need_sshd() {
  [[ -x /usr/sbin/sshd ]] || ap_die "required tool missing: /usr/sbin/sshd (Debian package openssh-server)"
  getent passwd sshd > /dev/null || ap_die "the sshd privilege separation user is missing (openssh-server)"
}

# A root-owned private folder for this run; the test user must reach its home folder inside.
ap_make_work() {
  local prefix=$1
  AP_WORK=$(mktemp -d "/tmp/$prefix.XXXXXX")
  chmod 711 "$AP_WORK"
}

# Two namespaces joined by a veth pair. Arguments: a short tag that makes the names unique.
ap_setup_netns() {
  local tag=$1
  AP_SERVER_NS="ap-sshd-s-$tag"
  AP_CLIENT_NS="ap-sshd-c-$tag"
  local veth_server="aps${tag}s" veth_client="aps${tag}c"
  ip netns add "$AP_SERVER_NS"
  ip netns add "$AP_CLIENT_NS"
  ip link add "$veth_server" netns "$AP_SERVER_NS" type veth peer name "$veth_client" netns "$AP_CLIENT_NS"
  local ns dev
  for ns in "$AP_SERVER_NS" "$AP_CLIENT_NS"; do
    ip -n "$ns" link set lo up
  done
  ip -n "$AP_SERVER_NS" addr add 192.0.2.1/24 dev "$veth_server"
  ip -n "$AP_SERVER_NS" addr add 198.51.100.1/24 dev "$veth_server"
  ip -n "$AP_SERVER_NS" addr add 203.0.113.1/24 dev "$veth_server"
  ip -n "$AP_SERVER_NS" addr add 2001:db8::1/64 dev "$veth_server" nodad
  ip -n "$AP_SERVER_NS" addr add 2001:db8:1::1/64 dev "$veth_server" nodad
  ip -n "$AP_SERVER_NS" addr add 2001:db8:2::1/64 dev "$veth_server" nodad
  ip -n "$AP_CLIENT_NS" addr add "$AP_TRUSTED_V4/24" dev "$veth_client"
  ip -n "$AP_CLIENT_NS" addr add "$AP_UNTRUSTED_V4/24" dev "$veth_client"
  ip -n "$AP_CLIENT_NS" addr add "$AP_DENIED_V4/24" dev "$veth_client"
  ip -n "$AP_CLIENT_NS" addr add "$AP_TRUSTED_V6/64" dev "$veth_client" nodad
  ip -n "$AP_CLIENT_NS" addr add "$AP_UNTRUSTED_V6/64" dev "$veth_client" nodad
  ip -n "$AP_CLIENT_NS" addr add "$AP_DENIED_V6/64" dev "$veth_client" nodad
  for ns in "$AP_SERVER_NS" "$AP_CLIENT_NS"; do
    dev=$([[ $ns == "$AP_SERVER_NS" ]] && echo "$veth_server" || echo "$veth_client")
    ip -n "$ns" link set "$dev" up
  done
  # nodad makes the global addresses usable at once; still wait (bounded) until none is
  # tentative, so a bind() to one cannot fail with EADDRNOTAVAIL.
  local i
  for ((i = 0; i < 50; i++)); do
    if ! ip -n "$AP_SERVER_NS" -6 addr show tentative | grep -q 'scope global' &&
      ! ip -n "$AP_CLIENT_NS" -6 addr show tentative | grep -q 'scope global'; then
      break
    fi
    sleep 0.1
  done
}

# A real local user with a real password (checked by pam_unix against /etc/shadow).
# Arguments: user name, password.
ap_create_user() {
  local name=$1 password=$2
  getent passwd "$name" > /dev/null && ap_die "user $name already exists (left over from an earlier run?)"
  mkdir -p "$AP_WORK/home"
  chmod 755 "$AP_WORK/home"
  useradd --home-dir "$AP_WORK/home/$name" --create-home --shell /bin/sh --user-group "$name"
  AP_USER=$name
  printf '%s:%s\n' "$name" "$password" | chpasswd
}

# ap_enroll_totp AUTHPOLICY USER [--force]: a TOTP enrolment for USER in WORK/totp/USER (root's,
# mode 0600), without the rate limit: a test makes more code attempts within 30 s than the
# default 3 allow (the rate limit has its own tests in tests/totp). Sets AP_TOTP_SECRET.
ap_enroll_totp() {
  local authpolicy=$1 user=$2
  shift 2
  "$authpolicy" totp enroll "$user" --secrets "$AP_WORK/totp/%u" --no-qr --no-rate-limit "$@" \
    > "$AP_WORK/enroll.out" 2>&1 ||
    { cat "$AP_WORK/enroll.out" >&2; ap_die "authpolicy totp enroll $user $* failed"; }
  AP_TOTP_SECRET=$(head -n 1 "$AP_WORK/totp/$user")
  [[ $AP_TOTP_SECRET =~ ^[A-Z2-7]+$ ]] ||
    ap_die "unexpected first line in the enrolment file $AP_WORK/totp/$user"
}

# sshd's privilege separation folder; Debian's service unit makes it, a bare container may not.
ap_prepare_run_sshd() {
  if [[ ! -d /run/sshd ]]; then
    mkdir -m 755 /run/sshd
    AP_MADE_RUN_SSHD=1
  fi
}

# Writes /etc/pam.d/SERVICE from stdin and remembers it for removal.
ap_write_pam_service() {
  local service=$1
  [[ $service == sshd ]] && ap_die "refusing to touch /etc/pam.d/sshd"
  AP_PAM_FILES+=("/etc/pam.d/$service")
  cat > "/etc/pam.d/$service"
  chmod 644 "/etc/pam.d/$service"
}

# A /dev for sshd's own mount namespace whose `log` socket is a syslog sink writing WORK/syslog,
# so the module's decision lines can be checked without touching the host's /dev or syslog.
# The device nodes sshd and its children use are bind-mounted onto the placeholders in
# ap_start_sshd, inside that namespace only.
ap_start_syslog_sink() {
  local here
  here=$(dirname "${BASH_SOURCE[0]}")
  AP_DEV_DIR="$AP_WORK/dev"
  AP_SYSLOG="$AP_WORK/syslog"
  mkdir -m 755 "$AP_DEV_DIR"
  local node
  for node in null zero full random urandom tty; do
    : > "$AP_DEV_DIR/$node"
  done
  ln -s /proc/self/fd "$AP_DEV_DIR/fd"
  ln -s /proc/self/fd/0 "$AP_DEV_DIR/stdin"
  ln -s /proc/self/fd/1 "$AP_DEV_DIR/stdout"
  ln -s /proc/self/fd/2 "$AP_DEV_DIR/stderr"
  : > "$AP_SYSLOG"
  perl "$here/syslog_sink.pl" "$AP_DEV_DIR/log" "$AP_SYSLOG" 600 &
  AP_SINK_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -S $AP_DEV_DIR/log ]] && return 0
    kill -0 "$AP_SINK_PID" 2> /dev/null || break
    sleep 0.1
  done
  ap_die "the syslog sink did not start"
}

# Waits (at most 3 s) for a line of WORK/syslog after line AFTER that contains every one of the
# other arguments; prints it. Returns 1 if none came.
ap_syslog_line() {
  local after=$1 i line needle found
  shift
  for ((i = 0; i < 30; i++)); do
    while IFS= read -r line; do
      found=1
      for needle in "$@"; do
        [[ $line == *"$needle"* ]] || { found=0; break; }
      done
      if [[ $found == 1 ]]; then
        printf '%s\n' "$line"
        return 0
      fi
    done < <(tail -n "+$((after + 1))" "$AP_SYSLOG")
    sleep 0.1
  done
  return 1
}

# The host key and known_hosts file shared by every sshd of the run.
ap_make_host_key() {
  ssh-keygen -q -t ed25519 -N '' -C ap-sshd-test -f "$AP_WORK/host_key"
  local pub
  pub=$(cut -d' ' -f1,2 "$AP_WORK/host_key.pub")
  : > "$AP_WORK/known_hosts"
  local port
  for port in "$@"; do
    printf '[%s]:%s %s\n[%s]:%s %s\n' "$AP_SERVER_V4" "$port" "$pub" "$AP_SERVER_V6" "$port" "$pub" \
      >> "$AP_WORK/known_hosts"
  done
}

# Starts sshd in the server namespace under the name SERVICE (its PAM service name: sshd uses
# the file name it was started as) on PORT, in the foreground, logging to WORK/SERVICE.log.
# AllowUsers keeps every other account out. AUTH "kbdint" (the default): keyboard-interactive
# only, as docs/pam.md recommends; "stock": the authentication settings of Debian's stock
# sshd_config (/usr/share/openssh/sshd_config: KbdInteractiveAuthentication no, UsePAM yes;
# password and public-key methods at their defaults, keys from ~/.ssh/authorized_keys);
# "key+kbdint": a key, then keyboard-interactive (docs/pam.md's second setting);
# "stock+include=FILE": Debian's stock settings after `Include FILE` (a drop-in, whose values win
# because sshd keeps the first value it reads, as with /etc/ssh/sshd_config.d/).
ap_start_sshd() {
  local service=$1 port=$2 auth=${3:-kbdint} auth_lines
  if [[ $auth == stock+include=* ]]; then
    local stock=/usr/share/openssh/sshd_config
    [[ -f $stock ]] || ap_die "Debian's stock sshd_config $stock missing (package openssh-server)"
    auth_lines="Include ${auth#stock+include=}
$(grep -E '^(UsePAM|KbdInteractiveAuthentication|ChallengeResponseAuthentication|PasswordAuthentication|PubkeyAuthentication|AuthenticationMethods|AuthorizedKeysFile)[[:space:]]' "$stock")"
  elif [[ $auth == key+kbdint ]]; then
    auth_lines="UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods publickey,keyboard-interactive
PasswordAuthentication no
PubkeyAuthentication yes"
  elif [[ $auth == stock ]]; then
    local stock=/usr/share/openssh/sshd_config
    [[ -f $stock ]] || ap_die "Debian's stock sshd_config $stock missing (package openssh-server)"
    auth_lines=$(grep -E '^(UsePAM|KbdInteractiveAuthentication|ChallengeResponseAuthentication|PasswordAuthentication|PubkeyAuthentication|AuthenticationMethods|AuthorizedKeysFile)[[:space:]]' "$stock")
    [[ $auth_lines == *"KbdInteractiveAuthentication no"* && $auth_lines == *"UsePAM yes"* ]] ||
      ap_die "$stock no longer says KbdInteractiveAuthentication no / UsePAM yes: revisit this test"
  else
    auth_lines="UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods keyboard-interactive
PasswordAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none"
  fi
  ln -sf /usr/sbin/sshd "$AP_WORK/$service"
  local conf=$AP_WORK/$service.$port.conf
  cat > "$conf" <<CONF
Port $port
ListenAddress $AP_SERVER_V4
ListenAddress $AP_SERVER_V6
HostKey $AP_WORK/host_key
PidFile $AP_WORK/$service.$port.pid
$auth_lines
HostbasedAuthentication no
GSSAPIAuthentication no
PermitRootLogin no
AllowUsers $AP_USER
UseDNS no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
PrintLastLog no
MaxAuthTries 3
LoginGraceTime 30
MaxStartups 20:30:60
LogLevel VERBOSE
CONF
  "$AP_WORK/$service" -t -f "$conf" || ap_die "sshd refused its config $conf"
  # An ASan build of the module needs the runtime preloaded into (uninstrumented) sshd.
  local preload=()
  if [[ -n ${AP_SSHD_PRELOAD:-} ]]; then
    preload=("LD_PRELOAD=$AP_SSHD_PRELOAD" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
  fi
  # With a syslog sink, sshd gets its own mount namespace whose /dev is the sink's folder with
  # the host's device nodes bound in (unshare(1) makes it private: nothing propagates back).
  local wrap=()
  if [[ -n $AP_DEV_DIR ]]; then
    # shellcheck disable=SC2016
    wrap=(unshare --mount --propagation private bash -c '
      set -e
      dev=$1
      shift
      for node in null zero full random urandom tty; do mount --bind "/dev/$node" "$dev/$node"; done
      mount --rbind "$dev" /dev
      exec "$@"' private-dev "$AP_DEV_DIR")
  fi
  # ip netns exec, unshare, bash and env exec sshd in turn, so $! is sshd's pid.
  ip netns exec "$AP_SERVER_NS" "${wrap[@]}" env "${preload[@]}" "$AP_WORK/$service" -D -e \
    -f "$conf" > "$AP_WORK/$service.log" 2>&1 &
  local pid=$!
  AP_SSHD_PIDS+=("$pid")
  local i listening
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2> /dev/null || { cat "$AP_WORK/$service.log" >&2; ap_die "sshd ($service) exited at start"; }
    listening=$(ip netns exec "$AP_SERVER_NS" ss -Htln "sport = :$port" | wc -l)
    [[ $listening -ge 2 ]] && break
    sleep 0.1
  done
  [[ $listening -ge 2 ]] || ap_die "sshd ($service) not listening on port $port after 10 s"
  # Both address families reach it from the client namespace (a bare TCP connect, closed at once).
  local address
  for address in "$AP_SERVER_V4" "$AP_SERVER_V6"; do
    ip netns exec "$AP_CLIENT_NS" timeout 5 bash -c "exec 3<>/dev/tcp/$address/$port" 2> /dev/null ||
      ap_die "no path from the client namespace to sshd at $address port $port"
  done
}

# One whole login: ssh from SOURCE to the server on PORT, as AP_USER, running `id -un`.
# Keyboard-interactive prompts go to the askpass program ASKPASS (with AP_ASKPASS_DIR set).
# METHOD: keyboard-interactive (default), password (its prompt goes to ASKPASS too), or
# publickey=KEYFILE, or key+kbdint=KEYFILE (a key, then keyboard-interactive). Sets AP_SSH_RC, and leaves stdout/stderr in WORK/ssh.out / WORK/ssh.err.
ap_ssh() {
  local source=$1 port=$2 askpass=$3 askpass_dir=$4 method=${5:-keyboard-interactive}
  local methods=(-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no
                 -o PasswordAuthentication=no)
  case $method in
    password)
      methods=(-o PreferredAuthentications=password -o PubkeyAuthentication=no
               -o KbdInteractiveAuthentication=no) ;;
    key+kbdint=*)
      methods=(-o PreferredAuthentications=publickey,keyboard-interactive
               -o PasswordAuthentication=no -o IdentitiesOnly=yes
               -o IdentityFile="${method#key+kbdint=}") ;;
    publickey=*)
      methods=(-o PreferredAuthentications=publickey -o PasswordAuthentication=no
               -o KbdInteractiveAuthentication=no -o IdentitiesOnly=yes
               -o IdentityFile="${method#publickey=}") ;;
  esac
  local target=$AP_SERVER_V4
  [[ $source == *:* ]] && target=$AP_SERVER_V6
  AP_SSH_RC=0
  timeout -k 2 25 ip netns exec "$AP_CLIENT_NS" setsid -w env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$AP_WORK" \
    SSH_ASKPASS="$askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=none AP_ASKPASS_DIR="$askpass_dir" \
    ssh -F /dev/null -n -b "$source" -p "$port" -l "$AP_USER" \
    -o UserKnownHostsFile="$AP_WORK/known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o CheckHostIP=no -o UpdateHostKeys=no \
    -o BatchMode=no "${methods[@]}" -o GSSAPIAuthentication=no \
    -o HostbasedAuthentication=no -o IdentityAgent=none -o NumberOfPasswordPrompts=1 \
    -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=2 \
    -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR \
    "$target" id -un > "$AP_WORK/ssh.out" 2> "$AP_WORK/ssh.err" < /dev/null || AP_SSH_RC=$?
}

# ---- One login and what to check of it (the system tests) ------------------------------------
# A test runs ap_login, then the ap_expect_* checks it needs, which collect what is wrong in
# AP_PROBLEMS, then ap_report, which counts the login in AP_PASSED or AP_FAILED.

AP_PASSED=0
AP_FAILED=0
AP_PROBLEMS=()

# The askpass that answers ssh's prompts from WORK/answers (tests/sshd/askpass.sh): the password,
# a code for the TOTP secret SECRET as the code mode says, and a log of the prompts it was shown.
ap_install_askpass() {
  install -m 755 "$(dirname "${BASH_SOURCE[0]}")/askpass.sh" "$AP_WORK/askpass"
  mkdir -m 700 "$AP_WORK/answers"
  printf '%s\n' "$1" > "$AP_WORK/answers/totp_secret"
}

# ap_login SOURCE PORT METHOD PASSWORD CODE_MODE: one ssh login (METHOD as ap_ssh takes it) whose
# askpass types PASSWORD at a password prompt and, at a code prompt, a code as CODE_MODE says.
# Sets AP_TOOK (seconds), AP_PROMPTS (the kinds of prompt shown, in order: "password code"; ""
# for none) and AP_LOG_BEFORE (the module's syslog lines before this login); empties AP_PROBLEMS.
ap_login() {
  local source=$1 port=$2 method=$3 answers=$AP_WORK/answers line t0=$SECONDS
  printf '%s\n' "$4" > "$answers/password"
  printf '%s\n' "$5" > "$answers/code_mode"
  : > "$answers/prompts.log"
  AP_LOG_BEFORE=$(wc -l < "$AP_SYSLOG")
  AP_PROBLEMS=()
  ap_ssh "$source" "$port" "$AP_WORK/askpass" "$answers" "$method"
  AP_TOOK=$((SECONDS - t0))
  AP_PROMPTS=""
  while IFS= read -r line; do
    case $line in
      *[Pp]assword*) AP_PROMPTS+=" password" ;;
      *[Cc]ode*) AP_PROMPTS+=" code" ;;
      *) AP_PROMPTS+=" other($line)" ;;
    esac
  done < "$answers/prompts.log"
  AP_PROMPTS=${AP_PROMPTS# }
}

# ap_expect_seen EXPECT PROMPTS [quiet]: what the user saw. The prompts shown, and for EXPECT
# login: ssh exited 0 and `id -un` printed AP_USER; for refused: ssh exited 255 saying
# "Permission denied" (with quiet it may say nothing, as after the account phase refused a key).
ap_expect_seen() {
  local expect=$1 want_prompts=$2 quiet=${3:-} printed
  [[ $AP_PROMPTS == "$want_prompts" ]] ||
    AP_PROBLEMS+=("prompts seen: [${AP_PROMPTS}], expected [${want_prompts}]")
  if [[ $expect == login ]]; then
    printed=$(cat "$AP_WORK/ssh.out")
    [[ $AP_SSH_RC == 0 && $printed == "$AP_USER" ]] ||
      AP_PROBLEMS+=("ssh exit $AP_SSH_RC, printed '$printed'; expected a login")
  else
    [[ $AP_SSH_RC == 255 ]] || AP_PROBLEMS+=("ssh exit $AP_SSH_RC, expected 255 (refused)")
    [[ -n $quiet ]] || grep -q 'Permission denied' "$AP_WORK/ssh.err" ||
      AP_PROBLEMS+=("no 'Permission denied' from ssh")
  fi
}

# ap_expect_syslog IDENT CHECK...: the module's own lines for this login (pam_syslog, caught in
# sshd's private /dev/log); IDENT is "user=U service=S rhost=R ". A CHECK is "auth:TEXT" (the
# phase=auth line contains TEXT), "auth:!TEXT" (there is one, and it lacks TEXT), "no-auth" (there
# is none: auth never ran) or "account:TEXT" (a phase=account line contains TEXT).
ap_expect_syslog() {
  local ident=$1 check decision
  shift
  for check in "$@"; do
    case $check in
      no-auth)
        ! ap_syslog_line "$AP_LOG_BEFORE" "phase=auth " "$ident" > /dev/null ||
          AP_PROBLEMS+=("a phase=auth line, although auth should not have run") ;;
      auth:!*)
        decision=$(ap_syslog_line "$AP_LOG_BEFORE" "phase=auth " "$ident") || decision=""
        [[ -n $decision && $decision != *"${check#auth:!}"* ]] ||
          AP_PROBLEMS+=("phase=auth line missing or contains '${check#auth:!}': $decision") ;;
      auth:*)
        ap_syslog_line "$AP_LOG_BEFORE" "phase=auth " "$ident" "${check#auth:}" > /dev/null ||
          AP_PROBLEMS+=("no phase=auth line with '${check#auth:}': $(ap_syslog_line \
            "$AP_LOG_BEFORE" "phase=auth " "$ident" || echo none)") ;;
      account:*)
        ap_syslog_line "$AP_LOG_BEFORE" "phase=account " "$ident" "${check#account:}" > /dev/null ||
          AP_PROBLEMS+=("no phase=account line with '${check#account:}'") ;;
      *) ap_die "unknown syslog check: $check" ;;
    esac
  done
}

# ap_report NAME SERVICE: counts the login as passed when AP_PROBLEMS is empty; else prints them
# with what ssh and the service's sshd said.
ap_report() {
  local name=$1 service=$2 problem
  if [[ ${#AP_PROBLEMS[@]} == 0 ]]; then
    printf 'PASS: %-72s (%s s)\n' "$name" "$AP_TOOK"
    AP_PASSED=$((AP_PASSED + 1))
    return
  fi
  printf 'FAIL: %s\n' "$name"
  for problem in "${AP_PROBLEMS[@]}"; do printf '      %s\n' "$problem"; done
  printf '      ssh stderr: %s\n' "$(tr '\n' ' ' < "$AP_WORK/ssh.err")"
  printf '      sshd log (last lines):\n'
  tail -n 8 "$AP_WORK/$service.log" | sed 's/^/        /'
  AP_FAILED=$((AP_FAILED + 1))
}

# ap_result ok|fail NAME [FILE]: a check that is not a login, counted the same way (FILE: what to
# show when it failed).
ap_result() {
  if [[ $1 == ok ]]; then
    printf 'PASS: %s\n' "$2"
    AP_PASSED=$((AP_PASSED + 1))
  else
    printf 'FAIL: %s\n' "$2"
    [[ -z ${3:-} ]] || printf '      %s\n' "$(tr '\n' ' ' < "$3")"
    AP_FAILED=$((AP_FAILED + 1))
  fi
}

# Removes everything the run made; safe to call more than once and after a partial set-up.
ap_cleanup() {
  local pid ns file
  for pid in "${AP_SSHD_PIDS[@]}"; do
    kill "$pid" 2> /dev/null || true
  done
  for pid in "${AP_SSHD_PIDS[@]}"; do
    wait "$pid" 2> /dev/null || true
  done
  AP_SSHD_PIDS=()
  if [[ -n $AP_SINK_PID ]]; then
    kill "$AP_SINK_PID" 2> /dev/null || true
    wait "$AP_SINK_PID" 2> /dev/null || true
    AP_SINK_PID=""
  fi
  for ns in "$AP_SERVER_NS" "$AP_CLIENT_NS"; do
    [[ -n $ns ]] || continue
    # Anything still running in our own namespaces (sshd session children) was started by us.
    for pid in $(ip netns pids "$ns" 2> /dev/null); do
      kill "$pid" 2> /dev/null || true
    done
    ip netns del "$ns" 2> /dev/null || true
  done
  AP_SERVER_NS="" AP_CLIENT_NS=""
  if [[ -n $AP_USER ]]; then
    userdel --remove "$AP_USER" 2> /dev/null || true
    AP_USER=""
  fi
  for file in "${AP_PAM_FILES[@]}"; do
    rm -f "$file"
  done
  AP_PAM_FILES=()
  if [[ $AP_MADE_RUN_SSHD == 1 ]]; then
    rmdir /run/sshd 2> /dev/null || true
    AP_MADE_RUN_SSHD=0
  fi
  if [[ -n $AP_WORK && -d $AP_WORK && ${AP_KEEP_WORK:-0} != 1 ]]; then
    rm -rf "$AP_WORK"
  fi
}
