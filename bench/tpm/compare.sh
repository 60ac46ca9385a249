#!/usr/bin/env bash
# Whole-process cost of `authpolicy pin test` against `tpm2_nvread` doing the same read, on swtpm.
#
# usage: bench/tpm/compare.sh [AUTHPOLICY_BINARY] [RUNS]
#   AUTHPOLICY_BINARY: `authpolicy` (its `pin` sub-command is used); default: the one on PATH.
#   RUNS: runs per side (default 200).
# Runs as root (`pin test root`); starts its own swtpm on a free loopback port and removes it.
set -euo pipefail

binary=${1:-$(command -v authpolicy || true)}
runs=${2:-200}
for tool in swtpm tpm2_nvread python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed" >&2; exit 2; }
done
[[ -x "$binary" ]] || { echo "compare.sh: no authpolicy binary given or on PATH" >&2; exit 2; }

state=$(mktemp -d /tmp/ap-compare-XXXXXX)
port=$(python3 -c 'import socket
while True:
    a=socket.socket(); a.bind(("127.0.0.1",0)); p=a.getsockname()[1]
    b=socket.socket()
    try: b.bind(("127.0.0.1",p+1)); print(p); break
    except OSError: pass
    finally: a.close(); b.close()')
swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
  --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$state" \
  --flags not-need-init,startup-clear >/dev/null 2>&1 &
swtpm_pid=$!
trap 'kill "$swtpm_pid" 2>/dev/null; wait "$swtpm_pid" 2>/dev/null; rm -rf "$state"' EXIT
tcti="swtpm:host=127.0.0.1,port=$port"
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
export TSS2_LOG=all+NONE

echo 1234 | "$binary" pin setup root --tcti "$tcti" --max-attempts 1000 >/dev/null
index=0x1000000  # nv_base + uid 0

# Both sides: a fresh process, a new connection, the index read authorised by the PIN.
# tpm2_nvread -P sends the PIN as a plain password session; ours uses an HMAC session and first
# checks the index's public area and reads the counter as the owner. The runs alternate so that
# load from other processes falls on both sides alike.
ours_ns=0
peer_ns=0
for _ in $(seq "$runs"); do
  t0=$(date +%s%N)
  echo 1234 | "$binary" pin test root --tcti "$tcti" >/dev/null 2>&1 || { echo "pin test failed" >&2; exit 1; }
  t1=$(date +%s%N)
  tpm2_nvread "$index" -P 1234 -s 8 -T "$tcti" >/dev/null 2>&1 </dev/null || { echo "tpm2_nvread failed" >&2; exit 1; }
  t2=$(date +%s%N)
  ours_ns=$((ours_ns + t1 - t0))
  peer_ns=$((peer_ns + t2 - t1))
done
ours_us=$((ours_ns / runs / 1000))
peer_us=$((peer_ns / runs / 1000))

echo "runs per side:               $runs"
echo "authpolicy pin test:         ${ours_us} us/run"
echo "tpm2_nvread (same index):    ${peer_us} us/run"
python3 -c "print(f'ratio (ours / tpm2_nvread): {$ours_ns / $peer_ns:.2f}')"
