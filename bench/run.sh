#!/usr/bin/env bash
# MountHotplug benchmark: compiles the raw C baselines, builds the bench, and prints one comparison table of ratios.
#   bench/run.sh           full run (the figures in docs/performance.md); exits 1 if a target does not hold
#   bench/run.sh --short   a quick pass that CI runs so the bench cannot rot (figures not meaningful)
# Needs root (it starts sandbox containers) and runs inside a private mount namespace.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
out=$(mktemp -d /tmp/mhp-bench-bin.XXXXXX)
trap 'rm -rf "$out"' EXIT
for c in bench/c/*.c; do
  gcc -O2 -Wall -Wextra -Werror -pthread -o "$out/$(basename "$c" .c)" "$c"
done
dotnet build bench/MountHotplug.Bench/MountHotplug.Bench.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >&2
# Not exec: the EXIT trap must outlive the bench to remove the C binaries.
unshare --mount --propagation private -- dotnet bench/MountHotplug.Bench/bin/Release/net10.0/MountHotplug.Bench.dll --c-dir "$out" "$@"
