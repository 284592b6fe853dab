#!/usr/bin/env bash
# One run on a GPU machine (Ubuntu 24.04, CUDA 13, its own PyTorch, no package registry) that
# verifies and measures the CUDA backend, within BUDGET seconds (default 460: a 15-minute lease
# covers a run and a fix):
#   1. builds tessera with the CUDA backend (TESSERA_CUDA=ON, warnings not fatal: another compiler)
#   2. every CUDA test: the device-parameterized C++ suites, the CUDA runtime and tensor tests,
#      and the Python suites' CUDA cases (when the bindings build there)
#   3. compute-sanitizer memcheck over the conformance suite's and the tensor tests' CUDA cases
#   4. bench/run_gpu.py: ResNet-50 logits against torchvision's, then the GPU workloads beside
#      that machine's PyTorch (eager, channels_last, torch.compile)
# Results go to $OUT (or build-gpu/out): summary.json, bench.json and each step's log.
#
#   here:  make gpu-deps          (deps/gpu-debian.txt's packages into .debs/, about 12 MB)
#   there: tools/gpu/run_cuda_tests.sh     (with .debs carried; they are unpacked into .debs/prefix,
#                                           never into /)
# Exits non-zero when a step failed; the summary says which.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
budget=${BUDGET:-460}
start=$(date +%s)
prefix=$root/.debs/prefix
out=${OUT:-$root/build-gpu/out}
mkdir -p "$prefix" "$out"
declare -A status seconds

left() { echo $((budget - ($(date +%s) - start))); }
# step NAME MAX_SECONDS COMMAND...: runs with a deadline (the smaller of MAX and the budget left),
# output to $out/NAME.log, and records the status and the time taken.
step() {
  local name=$1 max=$2
  shift 2
  local t=$(left)
  ((t > max)) && t=$max
  if ((t < 10)); then
    echo "== $name: skipped, the time budget is spent" | tee "$out/$name.log"
    status[$name]=skipped
    return 1
  fi
  echo "== $name (at most ${t}s)"
  local s=$(date +%s)
  timeout --signal=KILL "$t" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  seconds[$name]=$(($(date +%s) - s))
  tail -n 15 "$out/$name.log"
  if ((rc == 0)); then status[$name]=ok; else status[$name]="failed ($rc)"; fi
  return $rc
}

if compgen -G ".debs/*.deb" >/dev/null; then
  for f in .debs/*.deb; do dpkg -x "$f" "$prefix"; done
else
  echo "run_cuda_tests: no .debs/*.deb (run 'make gpu-deps' here and carry .debs); using system packages"
fi
export LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=/usr/local/cuda/bin:$PATH
python=$(command -v python3)
# cuDNN: with the toolkit, or PyTorch's wheel (nvidia-cudnn-cu13).
cudnn_root=""
if [ ! -f /usr/local/cuda/include/cudnn.h ]; then
  cudnn_root=$($python -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null || true)
  [ -n "$cudnn_root" ] && export LD_LIBRARY_PATH=$cudnn_root/lib:$LD_LIBRARY_PATH
fi

{
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
  echo "nvcc: $(nvcc --version | tail -1)"
  echo "python: $python ($($python -c 'import torch; print("torch", torch.__version__)' 2>&1))"
  echo "cudnn: ${cudnn_root:-/usr/local/cuda}"
} | tee "$out/machine.txt"

step configure 120 cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON -DTESSERA_NATIVE=OFF \
  -DTESSERA_WERROR=OFF -DCMAKE_PREFIX_PATH="$prefix/usr" -DPython_EXECUTABLE="$python" \
  ${cudnn_root:+-DCUDNN_ROOT=$cudnn_root}
step build 300 cmake --build build-gpu -j "$(nproc)"
step info 30 ./build-gpu/tools/tessera info

# The CUDA cases of every device-parameterized suite, the runtime, tensor and planning tests.
cuda_tests='/cuda|^Cuda|GemmPlan|ConvPlan|ReducePlan|Philox|OffsetCalculator|RandomTransforms'
step ctest 240 bash -c "cd build-gpu && ctest --output-on-failure --no-tests=error -j 8 -R '$cuda_tests'"
if [ -d build-gpu/python/tessera ]; then
  step pytest 180 env PYTHONPATH="$root/build-gpu/python" "$python" -m pytest -q --maxfail=30 -k cuda \
    python/tests/test_cuda.py python/tests/test_ops_parity.py python/tests/test_parity.py \
    python/tests/test_modules_parity.py
else
  echo "== pytest: skipped, the Python bindings did not build here (see configure.log)" | tee "$out/pytest.log"
  status[pytest]="skipped (no bindings)"
fi
if command -v compute-sanitizer >/dev/null; then
  step memcheck 150 compute-sanitizer --tool memcheck --error-exitcode 1 ./build-gpu/tests/test_backend \
    --gtest_filter='*Conformance*/cuda:CudaTensors.*-CudaTensors.OutOfMemory*'
else
  echo "== memcheck: compute-sanitizer is not installed here" | tee "$out/memcheck.log"
  status[memcheck]="skipped (no compute-sanitizer)"
fi
step bench 240 "$python" bench/run_gpu.py --tessera build-gpu/bench/tessera_gpu_bench --rounds 2 --min-time 0.3 \
  --compile --budget-s $(($(left) - 60)) --out "$out/bench.json"

rc=0
for k in configure build info ctest pytest memcheck bench; do
  s=${status[$k]:-not run}
  [[ "$s" == ok || "$s" == skipped* ]] || rc=1
done
{
  echo "{"
  echo "  \"total_seconds\": $(($(date +%s) - start)),"
  for k in configure build info ctest pytest memcheck bench; do
    echo "  \"$k\": {\"status\": \"${status[$k]:-not run}\", \"seconds\": ${seconds[$k]:-0}},"
  done
  echo "  \"ok\": $([ $rc = 0 ] && echo true || echo false)"
  echo "}"
} | tee "$out/summary.json"
exit $rc
