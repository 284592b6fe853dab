#!/bin/sh
# Builds the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp) into build-fuzz/: the library's CPU
# sources compiled with clang, coverage instrumentation, AddressSanitizer and
# UndefinedBehaviorSanitizer (one sanitizer runtime throughout). Needs the Debian packages clang,
# libclang-rt-14-dev and libomp-14-dev. Usage: tests/fuzz/build.sh [harness ...] (default: all).
set -eu
cd "$(dirname "$0")/../.."
mkdir -p build-fuzz/obj
FLAGS="-std=c++20 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fopenmp -I. -DONNX_ML=1
 -DONNX_NAMESPACE=onnx -DTESSERA_VERSION_STRING=\"fuzz\""
# The sources of the library target, less the CUDA ones that need the toolkit's device code.
# The CPU backend's numeric kernels (KERNELS) keep both sanitizers but not the coverage
# instrumentation: their branches follow tensor values, not the file's structure, and the
# comparison hooks in their inner loops (arg-max over pooling windows, reductions) had come to
# take most of a run's time as the corpus grew towards models with large windows.
SOURCES=$(sed -n '/^set(TESSERA_SOURCES/,/)$/p' tessera/CMakeLists.txt | tr ' ()' '\n\n\n' | grep '\.cpp$')
KERNELS="backend/cpu/elementwise.cpp backend/cpu/reduce.cpp backend/cpu/sort.cpp backend/cpu/random.cpp
 backend/cpu/matmul.cpp backend/cpu/conv.cpp backend/cpu/pool.cpp backend/cpu/norm.cpp backend/cpu/rnn.cpp"
export FLAGS KERNELS
# shellcheck disable=SC2016
echo "$SOURCES" | xargs -P "$(nproc)" -I{} sh -c '
  o=build-fuzz/obj/$(echo "{}" | tr / _).o
  if [ ! -f "$o" ] || [ "tessera/{}" -nt "$o" ]; then
    echo "compiling {}"
    cov=-fsanitize=fuzzer-no-link
    case " $(echo $KERNELS) " in *" {} "*) cov= ;; esac
    clang++ $FLAGS $cov -c "tessera/{}" -o "$o"
  fi'

HARNESSES=${*:-$(cd tests/fuzz && ls ./*_fuzz.cpp | sed 's|^\./||; s|\.cpp$||')}
for h in $HARNESSES; do
  echo "linking $h"
  # shellcheck disable=SC2086
  clang++ $FLAGS -fsanitize=fuzzer "tests/fuzz/$h.cpp" build-fuzz/obj/*.o -ldnnl -lz -lonnx -lonnx_proto \
    -lprotobuf -lpthread -o "build-fuzz/$h"
done
