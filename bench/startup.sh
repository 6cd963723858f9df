#!/usr/bin/env bash
# Start-up of ./mhp -c against the pinned pwsh importing the module by hand, the two ways to run one command:
#   bench/startup.sh [RUNS]     RUNS alternating pairs (default 21); prints each side's median and their ratio
# mhp adds a bash script, a staleness check (find) and the import in front of the same pwsh; the target is 1.05x.
# Alternating the two, and taking medians, keeps a noisy VM's drift out of the ratio. Needs no root.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
runs=${1:-21}
. tools/pinned-pwsh.sh
pinned_pwsh
pwsh=$PINNED_PWSH
./mhp -c 1 >/dev/null # builds when stale, and warms the page cache for both sides

now_ms() { echo $(($(date +%s%N) / 1000000)); }
time_ms() {
  local start
  start=$(now_ms)
  "$@" >/dev/null
  echo $(($(now_ms) - start))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

mhp_times=() pwsh_times=()
for ((i = 0; i < runs; i++)); do
  mhp_times+=("$(time_ms ./mhp -c 1)")
  pwsh_times+=("$(time_ms "$pwsh" -NoProfile -c 'Import-Module ./module/MountHotplug; 1')")
done
mhp_median=$(printf '%s\n' "${mhp_times[@]}" | median)
pwsh_median=$(printf '%s\n' "${pwsh_times[@]}" | median)
echo "runs: $runs alternating pairs"
echo "./mhp -c 1                                                     median ${mhp_median} ms"
echo "pwsh -NoProfile -c 'Import-Module ./module/MountHotplug; 1'    median ${pwsh_median} ms"
awk -v a="$mhp_median" -v b="$pwsh_median" 'BEGIN { printf "ratio mhp/pwsh: %.3fx (target: within 1.05x)\n", a / b }'
