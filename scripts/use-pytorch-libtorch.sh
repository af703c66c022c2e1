#!/usr/bin/env bash
# Prints the shell exports that make a PromptLossWeight application run on the libtorch of an installed PyTorch
# (no TorchSharp CUDA package needed): PLW_LIBTORCH_DIR=<site-packages>/torch/lib, and LD_LIBRARY_PATH with that folder
# and PyTorch's NVIDIA libraries (<site-packages>/nvidia/*/lib).
#
#   eval "$(scripts/use-pytorch-libtorch.sh)"            # the python3 on PATH
#   eval "$(scripts/use-pytorch-libtorch.sh /path/to/python)"
#
# The application must be built or published with -p:PromptLossWeightExternalLibTorch=true (no TorchSharp-cpu natives
# beside it). TorchRuntime then checks that this libtorch exports every symbol TorchSharp imports before loading it.
set -euo pipefail
python="${1:-python3}"
if ! torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  echo "use-pytorch-libtorch: '$python' cannot import torch; install PyTorch (pip install torch) or pass the python that has it" >&2
  exit 1
fi
lib="$torch_dir/lib"
for f in libc10.so libtorch_cpu.so libtorch.so; do
  if [ ! -f "$lib/$f" ]; then
    echo "use-pytorch-libtorch: $lib has no $f; this PyTorch install has no shared libtorch" >&2
    exit 1
  fi
done
paths="$lib"
for d in "$(dirname "$torch_dir")"/nvidia/*/lib; do
  if [ -d "$d" ]; then paths="$paths:$d"; fi
done
cuda=no
if [ -f "$lib/libtorch_cuda.so" ]; then cuda=yes; fi
version=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo unknown)
echo "# PyTorch $version at $torch_dir (CUDA libtorch: $cuda)"
echo "export PLW_LIBTORCH_DIR='$lib'"
echo "export LD_LIBRARY_PATH='$paths'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
