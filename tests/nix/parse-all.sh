#!/usr/bin/env bash
# Parses every .nix file of the repository with nix-instantiate --parse (Debian's nix-bin cannot evaluate nixpkgs).
#
# usage: parse-all.sh SOURCE_ROOT
set -u

if [ "$#" -ne 1 ]; then
  echo "usage: parse-all.sh SOURCE_ROOT" >&2
  exit 2
fi
root=$1

if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "FAIL: nix-instantiate not found (install the Debian package nix-bin)" >&2
  exit 1
fi

# In-tree build folders and result links are not sources.
mapfile -t files < <(find "$root" -mindepth 1 \( -name .git -o -name 'build*' -o -name 'result*' \) -prune \
  -o -type f -name '*.nix' -print | sort)

# The flake, the package, the module and the tests must all be there: an empty list would make
# this test pass vacuously.
for required in flake.nix nix/package.nix nix/module.nix nix/lib.nix nix/vm-test.nix nix/checks.nix; do
  if [ ! -f "$root/$required" ]; then
    echo "FAIL: $required is missing" >&2
    exit 1
  fi
done

if [ "${#files[@]}" -eq 0 ]; then
  echo "FAIL: no .nix file found under $root" >&2
  exit 1
fi

failed=0
for file in "${files[@]}"; do
  if output=$(nix-instantiate --store dummy:// --parse "$file" 2>&1 >/dev/null); then
    echo "ok: ${file#"$root"/}"
  else
    echo "FAIL: ${file#"$root"/}" >&2
    printf '%s\n' "$output" | sed 's/^/    /' >&2
    failed=1
  fi
done
echo "${#files[@]} file(s) parsed"
exit "$failed"
