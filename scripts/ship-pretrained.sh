#!/usr/bin/env bash
# Pretrains the RACE sample's small model with the default settings (from scratch, on every core) and ships it as
# samples/Race/assets/pretrained/<settings key>/ with a SHA-256 list, replacing the shipped one. The sweep of the default
# then copies it instead of pretraining; tests/Race.Tests checks that the default settings still have this key.
# Usage: scripts/ship-pretrained.sh      (no arguments: the shipped model must be the default's)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# One step of one PLW run after the pretraining: the sweep is not what is shipped.
dotnet run -c Release --project samples/Race -- --pretrain-from-scratch --plw 1 --max-steps 1 --eval-steps 1 --max-eval-examples 8 --output "$out"
entry=$(find "$out/pretrained" -mindepth 1 -maxdepth 1 -type d | head -n 1)
key=$(basename "$entry")
dest=samples/Race/assets/pretrained/$key
rm -rf samples/Race/assets/pretrained
mkdir -p "$dest"
find "$entry" -maxdepth 1 -type f -exec cp {} "$dest/" \;
echo "scripts/ship-pretrained.sh" > "$dest/command.txt"
(cd "$dest" && sha256sum -- $(ls | grep -v '^SHA256SUMS$') > SHA256SUMS)
echo "shipped $dest:"; ls -l "$dest"
