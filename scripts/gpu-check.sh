#!/usr/bin/env bash
# The GPU check of PromptLossWeight, for a Linux machine with an NVIDIA GPU and PyTorch (CUDA) but no .NET.
#
#   scripts/gpu-check.sh pack [DIR]   on a machine with the .NET SDK (DIR defaults to .gpu, which git ignores):
#       publishes the three test projects and the bench for linux-x64, framework-dependent and without the TorchSharp-cpu
#       natives (-p:PromptLossWeightExternalLibTorch=true), adds this machine's .NET runtime and the xUnit console
#       runner, and writes DIR/plw-gpu.tar.xz.
#   scripts/gpu-check.sh run [DIR]    on the GPU machine, from the repository root: unpacks DIR/plw-gpu.tar.xz, points
#       TorchSharp at PyTorch's libtorch (scripts/use-pytorch-libtorch.sh), runs every CUDA test with PLW_REQUIRE_CUDA=1
#       (a missing GPU fails instead of skipping), then the GPU bench and its PyTorch anchor. Logs go to $OUT when set
#       (the device tool's output folder), else DIR/logs. PLW_GPU_CHECK_SKIP_BENCH=1 skips the benches.
#   scripts/gpu-check.sh selftest     here, without a GPU: packs, then runs the packed CPU tests of the external-libtorch
#       path against the TorchSharp-cpu libtorch of the NuGet cache (PLW_LIBTORCH_DIR), to prove the packing and loading.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode="${1:-}"
dir="${2:-$root/.gpu}"
apps=(tests/PromptLossWeight.Tests tests/PromptLossWeight.Llama.Tests tests/Race.Tests tests/DataParallelWorker bench)
xunit_version=2.4.1

pack() {
  rm -rf "$dir/stage" && mkdir -p "$dir/stage"
  for app in "${apps[@]}"; do
    name=$(basename "$app")
    echo "== publish $app"
    dotnet publish "$root/$app" -c Release -r linux-x64 --self-contained false -p:PromptLossWeightExternalLibTorch=true \
      -p:GenerateDocumentationFile=false -o "$dir/stage/$name" -v q -nologo
    if ls "$dir/stage/$name"/libtorch_cpu.so >/dev/null 2>&1; then
      echo "gpu-check: $name still carries libtorch_cpu.so; PromptLossWeightExternalLibTorch did not apply" >&2; exit 1
    fi
    # What a console run on Linux does not use: the test SDK's code-coverage engines, other platforms, translations, symbols.
    (cd "$dir/stage/$name" && rm -rf CodeCoverage macos win* osx* cs de es fr it ja ko pl pt-BR ru tr zh-Hans zh-Hant ./*.pdb)
  done
  # The .NET runtime this machine runs on (the GPU machine has none).
  dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  runtime=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
  mkdir -p "$dir/stage/dotnet/shared/Microsoft.NETCore.App"
  cp "$dotnet_root/dotnet" "$dir/stage/dotnet/"
  cp -r "$dotnet_root/host" "$dir/stage/dotnet/"
  cp -r "$dotnet_root/shared/Microsoft.NETCore.App/$runtime" "$dir/stage/dotnet/shared/Microsoft.NETCore.App/"
  # The xUnit console runner (runs the v2 test assemblies without the SDK).
  packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
  if [ ! -d "$packages/xunit.runner.console/$xunit_version" ]; then
    restore=$(mktemp -d)
    printf '%s\n' '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><TargetFramework>net10.0</TargetFramework>' \
      '<ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup><ItemGroup>' \
      "<PackageDownload Include=\"xunit.runner.console\" Version=\"[$xunit_version]\" /></ItemGroup></Project>" > "$restore/r.csproj"
    dotnet restore "$restore/r.csproj" -v q
    rm -rf "$restore"
  fi
  cp -r "$packages/xunit.runner.console/$xunit_version/tools/netcoreapp2.0" "$dir/stage/xunit"
  echo "== compress"
  # A 64 MiB dictionary, so that the files the four apps share are stored once.
  XZ_OPT="-9 -T0" tar -C "$dir/stage" -cJf "$dir/plw-gpu.tar.xz" .
  rm -rf "$dir/stage"
  du -h "$dir/plw-gpu.tar.xz"
}

# Runs the tests selected by $filter (xUnit console options) of each test app unpacked in $1.
run_tests() {
  local work=$1 status=0
  for name in PromptLossWeight.Tests PromptLossWeight.Llama.Tests Race.Tests; do
    echo "== $name: CUDA tests"
    (cd "$work/$name" && dotnet exec --roll-forward Major "$work/xunit/xunit.console.dll" "$name.dll" $filter -parallel none -noshadow) \
      2>&1 | tee "$logs/$name.log" || status=1
  done
  return $status
}

unpack() {
  work=$(mktemp -d /tmp/plw-gpu.XXXX)
  tar -C "$work" -xJf "$dir/plw-gpu.tar.xz"
  export DOTNET_ROOT="$work/dotnet" PATH="$work/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1
  export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}"
}

case "$mode" in
  pack)
    pack ;;
  run)
    logs="${OUT:-$dir/logs}"; mkdir -p "$logs"
    unpack
    nvidia-smi -L || true
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
    eval "$("$root/scripts/use-pytorch-libtorch.sh")"
    export PLW_REQUIRE_CUDA=1
    filter="-trait Category=Cuda"
    status=0
    run_tests "$work" || status=1
    if [ "${PLW_GPU_CHECK_SKIP_BENCH:-0}" != 1 ]; then
      echo "== bench gpu"
      (cd "$work/bench" && dotnet PromptLossWeight.Bench.dll gpu) 2>&1 | tee "$logs/bench-gpu.log" || status=1
      echo "== PyTorch anchor"
      PYTHONUNBUFFERED=1 python3 "$root/bench/anchor/pytorch_anchor.py" 2>&1 | tee "$logs/anchor.log" || status=1
    fi
    exit $status ;;
  selftest)
    pack
    logs="$dir/logs"; mkdir -p "$logs"
    unpack
    packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
    PLW_LIBTORCH_DIR=$(ls -d "$packages"/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native | tail -1)
    export PLW_LIBTORCH_DIR
    # As on a machine without .NET: no NuGet cache, from which the xUnit runner would otherwise load TorchSharp's
    # package files instead of those published beside the tests.
    NUGET_PACKAGES=$(mktemp -d)
    export NUGET_PACKAGES
    # The CUDA tests' code on the CPU stand-in device, with libtorch loaded through PLW_LIBTORCH_DIR.
    filter="-trait Category=Cuda"
    PLW_CUDA_TESTS_DEVICE=cpu run_tests "$work" ;;
  *)
    echo "usage: scripts/gpu-check.sh pack|run|selftest [DIR]" >&2; exit 2 ;;
esac
