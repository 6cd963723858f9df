#!/usr/bin/env bash
# Cold paths as users feel them, in real pwsh (the pinned one, as ./mhp runs it), from ONE run, printed as ratios:
#   sudo bench/cold.sh [RUNS] [MOUNTS]    RUNS alternating one-shot rounds (default 11); MOUNTS in the listed namespace
#                                         (default 10000)
# - one-shot: `pwsh -NoProfile -c 'Import-Module …; <one hot-plug>'` (and ./mhp -c) against `pwsh -NoProfile -c 1`,
#   alternated, medians; also `Import-Module …; Get-MountApiSupport`;
# - in one pwsh process: the first pipeline of 200 hot-plugs (cold) against later ones (warm), and a foreach loop with
#   one pipeline per mount against the one-pipeline figure, alternated;
# - Get-Mount of a namespace with MOUNTS mounts: its first call in a session, later calls, and `findmnt -J -N PID`.
# The "container" is a process in a mount namespace of its own (unshare) with a tmpfs as the hot-plug target, so what is
# timed is the module and pwsh, not a disk. Everything runs in a private mount namespace; nothing is left behind.
# Exits 1 when a target does not hold (the figures are this VM's: 2 shared vCPUs, noisy; see docs/performance.md).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
runs=${1:-11}
mounts=${2:-10000}
[ "$(id -u)" -eq 0 ] || { echo "bench/cold.sh: needs root (it makes mount namespaces)" >&2; exit 1; }
if [ -z "${MHP_COLD_INNER:-}" ]; then
  ./mhp -c 1 >/dev/null # builds when stale, and warms the page cache for every side
  exec unshare --mount --propagation private -- env MHP_COLD_INNER=1 bash "$0" "$@"
fi
. tools/pinned-pwsh.sh
# shellcheck source=timing.sh
. bench/timing.sh
pinned_pwsh
pwsh=$PINNED_PWSH
module=$PWD/module/MountHotplug

work=$(mktemp -d /tmp/mhp-cold.XXXXXX)
mkdir -p "$work/src" "$work/target" "$work/list"
echo hello >"$work/src/hello.txt"
# The target container: a tmpfs at $work/target in its own namespace. The listed one: $mounts tmpfs mounts.
unshare --mount --propagation private -- sh -c 'mount -t tmpfs cold "$1" && exec sleep 1000000' sh "$work/target" &
ct=$!
unshare --mount --propagation private -- sh -c '
  mount -t tmpfs list "$1" && cd "$1" && i=0
  while [ $i -lt "$2" ]; do mkdir $i && mount -t tmpfs t $i; i=$((i + 1)); done
  exec sleep 1000000' sh "$work/list" "$mounts" &
lister=$!
trap 'kill $ct $lister 2>/dev/null; wait 2>/dev/null; rm -rf --one-file-system "$work"' EXIT
until grep -q " $work/target " "/proc/$ct/mountinfo" 2>/dev/null; do sleep 0.01; done
until [ "$(grep -c " $work/list/" "/proc/$lister/mountinfo" 2>/dev/null)" -ge "$mounts" ]; do sleep 0.2; done
listed=$(wc -l <"/proc/$lister/mountinfo")

plug() { echo "\$ct = Get-ContainerNamespace -ProcessId $ct; New-StagedMount $work/src -ReadOnly | Move-MountIntoNamespace -Namespace \$ct -Target $work/target/$1 -CreateTarget; \$ct.Dispose()"; }

floor=() oneshot=() mhp=() support=()
for ((i = 0; i < runs; i++)); do
  floor+=("$(time_ms "$pwsh" -NoProfile -c 1)")
  oneshot+=("$(time_ms "$pwsh" -NoProfile -c "Import-Module $module; $(plug "o$i")")")
  mhp+=("$(time_ms ./mhp -c "$(plug "m$i")")")
  support+=("$(time_ms "$pwsh" -NoProfile -c "Import-Module $module; Get-MountApiSupport")")
done
floor_ms=$(printf '%s\n' "${floor[@]}" | median)
oneshot_ms=$(printf '%s\n' "${oneshot[@]}" | median)
mhp_ms=$(printf '%s\n' "${mhp[@]}" | median)
support_ms=$(printf '%s\n' "${support[@]}" | median)

# In one process: pipeline 0 is the session's first (cold); then warm pipelines and foreach loops alternate.
inproc=$("$pwsh" -NoProfile -c "
Import-Module $module
\$ct = Get-ContainerNamespace -ProcessId $ct
\$n = 200
function Pipeline(\$dir) {
    \$sw = [Diagnostics.Stopwatch]::StartNew()
    New-StagedMount -Path (@('$work/src') * \$n) -ReadOnly | Move-MountIntoNamespace -Namespace \$ct -Target { \$dir + '/m' + \$_.MountId } -CreateTarget
    \$sw.Elapsed.TotalMilliseconds * 1000 / \$n
}
function Loop(\$dir) {
    \$sw = [Diagnostics.Stopwatch]::StartNew()
    foreach (\$i in 1..\$n) { New-StagedMount '$work/src' -ReadOnly | Move-MountIntoNamespace -Namespace \$ct -Target \"\$dir/f\$i\" -CreateTarget }
    \$sw.Elapsed.TotalMilliseconds * 1000 / \$n
}
function Listing {
    \$sw = [Diagnostics.Stopwatch]::StartNew()
    \$count = @(Get-Mount -ProcessId $lister).Count
    if (\$count -ne $listed) { throw \"Get-Mount listed \$count mounts, the namespace has $listed\" }
    \$sw.Elapsed.TotalMilliseconds
}
\$cold = Pipeline '$work/target/cold'
\$coldList = Listing
\$warm = @(); \$loop = @(); \$list = @()
Loop '$work/target/warmup' | Out-Null
foreach (\$r in 1..7) {
    if (\$r % 2) { \$warm += Pipeline \"$work/target/p\$r\"; \$loop += Loop \"$work/target/l\$r\" }
    else { \$loop += Loop \"$work/target/l\$r\"; \$warm += Pipeline \"$work/target/p\$r\" }
    \$list += Listing
}
function Median(\$v) { \$s = @(\$v | Sort-Object); \$s[[int][Math]::Floor(\$s.Count / 2)] }
'{0:0.0} {1:0.0} {2:0.0} {3:0.0} {4:0.0}' -f \$cold, (Median \$warm), (Median \$loop), \$coldList, (Median \$list)
\$ct.Dispose()")
read -r cold_us warm_us loop_us list_cold_ms list_warm_ms <<<"$inproc"

findmnt_times=()
for ((i = 0; i < 3; i++)); do findmnt_times+=("$(time_ms findmnt -J -N "$lister")"); done
findmnt_ms=$(printf '%s\n' "${findmnt_times[@]}" | median)

status=0
row() { # name value unit ratio target(≤ or ≥ N) holds-expression
  local holds=""
  if [ -n "$5" ]; then
    if awk "BEGIN { exit !($6) }"; then holds=yes; else holds=NO; status=1; fi
  fi
  printf '| %s | %s %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$holds"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
echo "MountHotplug cold paths, real pwsh $("$pwsh" -NoProfile -c '$PSVersionTable.PSVersion.ToString()'), $(date -u '+%Y-%m-%d %H:%M UTC'), $runs one-shot rounds, $listed mounts listed"
echo
echo "| measurement | value | ratio | target | holds |"
echo "|---|---:|---:|---:|---|"
overhead=$(awk -v a="$oneshot_ms" -v b="$floor_ms" 'BEGIN { printf "%.1f", a - b }')
row "pwsh -NoProfile -c 1 (the start-up floor)" "$floor_ms" ms "1.00×" "" ""
row "pwsh -NoProfile -c 'Import-Module …; <one hot-plug>'" "$oneshot_ms" ms "$(ratio "$oneshot_ms" "$floor_ms")" "" ""
row "  one-shot overhead over the floor" "$overhead" ms "" "≤ 60 ms" "$overhead <= 60"
row "./mhp -c '<one hot-plug>'" "$mhp_ms" ms "$(ratio "$mhp_ms" "$floor_ms")" "" ""
row "pwsh -NoProfile -c 'Import-Module …; Get-MountApiSupport'" "$support_ms" ms "$(ratio "$support_ms" "$floor_ms")" "" ""
row "warm pipeline of 200 hot-plugs, per mount" "$warm_us" µs "1.00×" "" ""
row "cold pipeline of 200 hot-plugs (the session's first), per mount" "$cold_us" µs "$(ratio "$cold_us" "$warm_us")" "≤ 2×" "$cold_us <= 2 * $warm_us"
row "foreach loop, one pipeline per mount (warm), per mount" "$loop_us" µs "$(ratio "$loop_us" "$warm_us")" "≤ 1.5×" "$loop_us <= 1.5 * $warm_us"
row "Get-Mount -ProcessId of $listed mounts, warm" "$list_warm_ms" ms "1.00×" "" ""
row "Get-Mount -ProcessId of $listed mounts, the session's first call" "$list_cold_ms" ms "$(ratio "$list_cold_ms" "$list_warm_ms")" "≤ 2×" "$list_cold_ms <= 2 * $list_warm_ms"
row "findmnt -J -N PID, $listed mounts ÷ Get-Mount warm" "$findmnt_ms" ms "$(ratio "$findmnt_ms" "$list_warm_ms")" "≥ 25×" "$findmnt_ms >= 25 * $list_warm_ms"
row "findmnt -J -N PID ÷ Get-Mount cold" "$findmnt_ms" ms "$(ratio "$findmnt_ms" "$list_cold_ms")" "≥ 25×" "$findmnt_ms >= 25 * $list_cold_ms"
exit $status
