#!/bin/sh
# Runs every harness built by build.sh for RUNS executions (default 10 million) each, one after
# the other: the ONNX loader, safetensors, and each of the readers on its own (IDX, CIFAR-10,
# CIFAR-100, CSV, checkpoints; TESSERA_FUZZ_READER). Logs go to build-fuzz/logs/NAME.log; the last
# lines of each (libFuzzer's "Done N runs in S second(s)" and its final stats) are printed.
# A crash, leak or sanitizer report stops the run with libFuzzer's status; the input is kept in
# build-fuzz/artifacts/ (crash-*, timeout-*, oom-*; slow-unit-* are inputs over 10 s, not failures).
# Usage: tests/fuzz/run.sh [RUNS [NAME ...]]   NAME: onnx safetensors idx cifar10 cifar100 csv checkpoint
set -eu
cd "$(dirname "$0")/../.."
RUNS=${1:-10000000}
[ $# -gt 0 ] && shift
NAMES=${*:-onnx safetensors idx cifar10 cifar100 csv checkpoint}
B=build-fuzz
mkdir -p "$B/logs"
# Huge allocations (a shape asking for terabytes) fail as they do outside the sanitizer.
export ASAN_OPTIONS=max_allocation_size_mb=4096:allocator_may_return_null=1
mkdir -p "$B/artifacts"
OPTS="-runs=$RUNS -timeout=30 -rss_limit_mb=8192 -malloc_limit_mb=8192 -print_final_stats=1 -artifact_prefix=$B/artifacts/"
# The mixed readers corpus (first byte: the reader) split into one corpus per reader.
if [ -d "$B/readers_corpus" ]; then
  python3 - "$B" <<'PY'
import os, sys
b = sys.argv[1]
names = ["idx", "cifar10", "cifar100", "csv", "checkpoint"]
for f in os.listdir(os.path.join(b, "readers_corpus")):
    data = open(os.path.join(b, "readers_corpus", f), "rb").read()
    if data:
        d = os.path.join(b, "corpus_" + names[data[0] % 5])
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, f), "wb").write(data[1:])
PY
fi
for name in $NAMES; do
  case $name in
    onnx) harness=onnx_fuzz; corpus=$B/onnx_corpus; reader= ;;
    safetensors) harness=safetensors_fuzz; corpus=$B/corpus; reader= ;;
    *) harness=readers_fuzz; corpus=$B/corpus_$name; reader=$name ;;
  esac
  mkdir -p "$corpus"
  echo "== $name: $RUNS runs of $harness on $corpus"
  # The ONNX harness runs what it loads: an allocation over 64 MB (a file asking for huge pads or
  # shapes; its inputs are at most 8 per dim) is refused as out of memory rather than computed for
  # tens of seconds under the sanitizers.
  asan=$ASAN_OPTIONS
  [ "$name" = onnx ] && asan=max_allocation_size_mb=64:allocator_may_return_null=1
  # shellcheck disable=SC2086
  ASAN_OPTIONS=$asan TESSERA_FUZZ_READER=$reader "$B/$harness" $OPTS "$corpus" > "$B/logs/$name.log" 2>&1
  grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$B/logs/$name.log"
done
