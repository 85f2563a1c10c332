#!/bin/sh
# Builds round-robin.c into a wasmplane LB plugin with Debian's clang and lld (apt-get install clang
# lld): wasm32, no libc (-nostdlib), no entry point, the host's capped env.memory imported.
# usage: build.sh [OUT.wasm] [extra clang flags…]
set -eu
here=$(dirname "$0")
out=${1:-$here/round-robin.wasm}
[ $# -gt 0 ] && shift
exec clang --target=wasm32 -nostdlib -O2 -fno-builtin \
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-debug \
  -o "$out" "$here/round-robin.c" "$@"
