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
