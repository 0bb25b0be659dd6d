#!/bin/sh
# The project's tests (run by `airlock run --check` in the sealed sandbox).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
failed=0
expect() {
  want=$1; shift
  got=$(sh "$here/src/greet.sh" "$@" 2>&1)
  if [ "$got" = "$want" ]; then echo "ok   greet $*"; else echo "FAIL greet $*: got '$got', want '$want'"; failed=1; fi
}
expect "* hello, world"
expect "* hello, Ada" Ada
expect "* HELLO, ADA!" --loud Ada
[ $failed -eq 0 ] && echo "tests: all passed" || { echo "tests: FAILED"; exit 1; }
