#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and runs a separate
# project that finds it with find_package(tessera).
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$src/consumer" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
"$work/build/consumer"
"$work/build/libtorch_style"
"$work/build/libtorch_mnist"  # LibTorch's MNIST example, ported by renaming (Fashion-MNIST data)
# The C API from C99, found with pkg-config in the installed prefix, and its exports (ts_ only).
pc=$(find "$work/prefix" -name tessera_c.pc)
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs tessera_c)
# shellcheck disable=SC2086
cc -std=c99 -Wall -Wextra -Werror -pedantic "$src/../c/c_api_test.c" -o "$work/c_api_test" $flags -lm
"$work/c_api_test"
lib=$(find "$work/prefix" -name 'libtessera_c.so.*' -type f)
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^ts_' | grep .; then
  echo "libtessera_c exports symbols other than ts_*" >&2
  exit 1
fi
