#!/usr/bin/env bash
# Evaluates a tests/nix/*-test.nix file with nix-instantiate (builtins only) and passes when it yields no failing case.
#
# usage: eval-test.sh TEST_FILE
set -u

if [ "$#" -ne 1 ]; then
  echo "usage: eval-test.sh TEST_FILE" >&2
  exit 2
fi

if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "FAIL: nix-instantiate not found (install the Debian package nix-bin)" >&2
  exit 1
fi

# The dummy store and --readonly-mode: paths named by the module (the scripts it runs) are hashed,
# never copied, so the test needs neither a writable /nix nor a nix daemon (non-root runs too).
if ! output=$(nix-instantiate --store dummy:// --readonly-mode --eval --strict --json "$1" 2>&1); then
  echo "FAIL: $1 did not evaluate:" >&2
  printf '%s\n' "$output" >&2
  exit 1
fi
if [ "$output" != "[]" ]; then
  echo "FAIL: failing cases (name, got, expected):" >&2
  printf '%s\n' "$output" >&2
  exit 1
fi
echo "ok: every case of $1 passed"
