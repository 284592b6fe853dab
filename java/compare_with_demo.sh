#!/bin/sh
# The Java example FashionMnist against the C++ demo it reproduces (`tessera train` with its
# defaults): both run here, and their test accuracies must agree to 0.5%.
# Usage: compare_with_demo.sh TESSERA_CLI JAVA CLASSPATH JNI_LIBRARY ONNX_OUT
set -eu
cli=$1 java=$2 classpath=$3 lib=$4 onnx=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cli" train --out "$work/run" > "$work/cpp.log"
"$java" -Dtessera.library="$lib" -cp "$classpath" FashionMnist "$onnx" > "$work/java.log"
cat "$work/java.log"
cpp=$(sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$work/cpp.log")
jv=$(sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$work/java.log")
echo "test accuracy: C++ demo $cpp, Java $jv"
awk -v a="$cpp" -v b="$jv" 'BEGIN { d = a - b; if (d < 0) d = -d; if (a == "" || b == "" || d > 0.005 || b < 0.9) exit 1 }'
