#!/usr/bin/env bash
# flake.lock pins the nixpkgs input flake.nix names: same branch, a full revision and its narHash
# (without a lock, every evaluation would take whatever the branch is that day).
#
# usage: flake-lock-test.sh SOURCE_ROOT
set -u
root=$1
command -v nix-instantiate > /dev/null || { echo "FAIL: nix-instantiate not found (nix-bin)"; exit 1; }
[[ -f $root/flake.lock ]] || { echo "FAIL: no flake.lock"; exit 1; }
url=$(sed -n 's/^ *inputs\.nixpkgs\.url = "\(.*\)";/\1/p' "$root/flake.nix")
[[ -n $url ]] || { echo "FAIL: flake.nix names no inputs.nixpkgs.url"; exit 1; }
expr="let l = builtins.fromJSON (builtins.readFile $root/flake.lock); n = l.nodes.nixpkgs; in
  [ n.original.type n.original.owner n.original.repo n.original.ref
    (builtins.match \"[0-9a-f]{40}\" n.locked.rev != null)
    (builtins.match \"sha256-[A-Za-z0-9+/]{43}=\" n.locked.narHash != null)
    (l.nodes.\${l.root}.inputs.nixpkgs == \"nixpkgs\") ]"
got=$(nix-instantiate --eval --strict --json -E "$expr" 2> "${TMPDIR:-/tmp}/flake-lock-test.$$") || { echo "FAIL: $(cat "${TMPDIR:-/tmp}/flake-lock-test.$$")"; rm -f "${TMPDIR:-/tmp}/flake-lock-test.$$"; exit 1; }
rm -f "${TMPDIR:-/tmp}/flake-lock-test.$$"
ref=${url#github:NixOS/nixpkgs/}
want="[\"github\",\"NixOS\",\"nixpkgs\",\"$ref\",true,true,true]"
[[ $got == "$want" ]] || { echo "FAIL: flake.lock does not pin $url: $got (want $want)"; exit 1; }
echo "ok: flake.lock pins $url"
