#!/usr/bin/env bash
# Installs the peer frameworks of bench/rosetta_peers.py, each into a virtual environment of its
# own under .peers/NAME (made from Debian's python3), from the pins in requirements-NAME.txt.
# usage: bench/peers/install.sh [NAME ...]   (default: all; an installed one is kept)
set -euo pipefail
cd "$(dirname "$0")"
dest=../../.peers
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(torch tensorflow jax mxnet onnxruntime openvino)
for n in "${names[@]}"; do
  req="requirements-$n.txt"
  [ -f "$req" ] || { echo "install.sh: no $req (known: torch tensorflow jax mxnet onnxruntime openvino)" >&2; exit 2; }
  if [ -x "$dest/$n/bin/python" ] && [ "$dest/$n/.installed" -nt "$req" ]; then
    echo "$n: installed"
    continue
  fi
  echo "$n: installing into .peers/$n"
  rm -rf "$dest/$n.tmp"
  /usr/bin/python3 -m venv "$dest/$n.tmp"
  pip=("$dest/$n.tmp/bin/python" -m pip install -q --disable-pip-version-check)
  if [ "$n" = torch ]; then
    "${pip[@]}" --no-deps -r "$req"   # see the comment in requirements-torch.txt
  else
    "${pip[@]}" -r "$req"
  fi
  touch "$dest/$n.tmp/.installed"
  rm -rf "$dest/$n"
  mv "$dest/$n.tmp" "$dest/$n"
done
