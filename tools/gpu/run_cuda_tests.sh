#!/usr/bin/env bash
# Builds tessera on a GPU machine and runs what needs the GPU: the CUDA tests (the conformance
# suite and the CUDA runtime/allocator tests instantiate themselves for CUDA when a device
# answers), compute-sanitizer's memcheck over them, and `tessera info`.
#
#   here:  make gpu-deps                 (downloads deps/gpu-debian.txt's packages into .debs/)
#   there: tools/gpu/run_cuda_tests.sh   (with .debs carried along; results also in $OUT if set)
#
# The packages are unpacked into .debs/prefix, never into /. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
prefix=$root/.debs/prefix
out=${OUT:-$root/build-gpu/out}
mkdir -p "$prefix" "$out"

if compgen -G ".debs/*.deb" >/dev/null; then
  for f in .debs/*.deb; do dpkg -x "$f" "$prefix"; done
else
  echo "run_cuda_tests: no .debs/*.deb (run 'make gpu-deps' on the build machine and carry .debs); using system packages"
fi
arch_lib=$prefix/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=/usr/local/cuda/bin:$PATH

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: not available"
nvcc --version | tail -1 || true

echo "== configure and build (TESSERA_CUDA=ON)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON -DTESSERA_NATIVE=OFF \
  -DCMAKE_PREFIX_PATH="$prefix/usr" -DPython_EXECUTABLE="$(command -v python3)" | tee "$out/configure.log"
cmake --build build-gpu -j "$(nproc)" 2>&1 | tail -n 20

echo "== tessera info"
./build-gpu/tools/tessera info | tee "$out/info.txt"

echo "== CUDA tests"
status=0
(cd build-gpu && ctest --output-on-failure -j 4 -R "Cuda|Conformance|CachingAllocator" 2>&1 | tee "$out/ctest.log") || status=1

echo "== compute-sanitizer memcheck"
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 1 ./build-gpu/tests/test_backend \
    --gtest_filter='Cuda*:Conformance*' 2>&1 | tail -n 30 | tee "$out/memcheck.log" || status=1
else
  echo "compute-sanitizer: not installed here; skipped" | tee "$out/memcheck.log"
fi
exit $status
