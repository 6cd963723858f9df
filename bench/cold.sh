#!/usr/bin/env bash
# Cold paths as users feel them, in real pwsh (the pinned one, as ./mhp runs it), from ONE run, printed as ratios with
# issue 15's targets and whether each holds:
#   sudo bench/cold.sh [RUNS] [MOUNTS]    RUNS rotated one-shot rounds (default 11); MOUNTS in the listed namespace
#                                         (default 10000)
# The module measured is the one that ships (build.ps1 -Task Package): Release, its assemblies ReadyToRun-compiled by
# src/MountHotplug.ReadyToRun. Beside it, to show what bounds each figure:
# - the same Release build as IL only, without ReadyToRun (its one-shot, and its cold rows in a process of its own);
# - bench/FloorModule, the least a binary module is (one cmdlet): what any binary module costs a one-shot pwsh;
# - the pinned pwsh again with its engine's assemblies ReadyToRun-compiled here (crossgen2 of .NET 10, the pack the
#   module's own ReadyToRun build restores): the `powershell` .NET tool ships them as IL only, so this shows what of the
#   one-shot is the engine's JIT, and what a pwsh with a precompiled engine would cost;
# - the JIT of each one-shot as the runtime counts it ([System.Runtime.JitInfo]: methods, and milliseconds summed over
#   all threads), against pwsh -c 1's, and how many of the JIT-compiled methods are the module's (DOTNET_JitDisasmSummary).
# What is timed:
# - one-shot: `pwsh -NoProfile -c 'Import-Module …; <one hot-plug>'` against `pwsh -NoProfile -c 1`, and ./mhp -c
#   (which imports module/ as `dotnet build` stages it: Debug IL); also `Import-Module …; Get-MountApiSupport`. Each
#   round runs every way once, in an order that rotates from round to round; the figures are medians;
# - in one pwsh process: the first pipeline of 200 hot-plugs (cold) against later ones (warm), and a foreach loop with
#   one pipeline per mount against the one-pipeline figure, alternated; beside each warm pipeline, started from that
#   pwsh, bench/c/hotplug_loop making the same system calls with a namespace thread (its "threaded" mode), for the
#   warm pipeline ÷ C ratio (the median of the paired ratios); and the engine's floor for the foreach form, a foreach
#   of a two-command pipeline of built-in cmdlets;
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
  ./mhp -c 1 >/dev/null # builds module/ when stale, and warms the page cache for every side
  stage=$(mktemp -d /tmp/mhp-cold-stage.XXXXXX)
  # No build server is left running beside the timings.
  dotnet publish src/MountHotplug.ReadyToRun/MountHotplug.ReadyToRun.csproj -c Release -nologo -v quiet -clp:ErrorsOnly \
    --disable-build-servers "-p:ModuleStageDir=$stage/shipped/MountHotplug/" >&2
  mkdir -p "$stage/il"
  cp -r "$stage/shipped/MountHotplug" "$stage/il/"
  cp src/MountHotplug/bin/Release/net8.0/MountHotplug.dll src/MountHotplug/bin/Release/net8.0/MountHotplug.Core.dll "$stage/il/MountHotplug/"
  dotnet build bench/FloorModule/FloorModule.csproj -c Release -nologo -v quiet -clp:ErrorsOnly --disable-build-servers >&2
  . tools/pinned-pwsh.sh
  pinned_pwsh
  cp -r "$(dirname "$PINNED_PWSH")" "$stage/pwsh-r2r"
  crossgen2=$(ls -d "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/microsoft.netcore.app.crossgen2.linux-x64/10.*/tools/crossgen2 | sort -V | tail -n 1)
  framework=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" && $2 ~ /^10\./ { v = $2; d = $3 } END { gsub(/[][]/, "", d); print d "/" v }')
  for assembly in System.Management.Automation Microsoft.PowerShell.ConsoleHost Microsoft.PowerShell.Commands.Utility \
    Microsoft.PowerShell.Commands.Management Microsoft.PowerShell.Security Microsoft.ApplicationInsights Newtonsoft.Json; do
    "$crossgen2" "$(dirname "$PINNED_PWSH")/$assembly.dll" -o "$stage/pwsh-r2r/$assembly.dll" -r "$framework/*.dll" \
      -r "$(dirname "$PINNED_PWSH")/*.dll" --targetos linux --targetarch x64 -O >/dev/null
  done
  exec unshare --mount --propagation private -- env MHP_COLD_INNER=1 MHP_COLD_STAGE="$stage" bash "$0" "$@"
fi
. tools/pinned-pwsh.sh
# shellcheck source=timing.sh
. bench/timing.sh
pinned_pwsh
pwsh=$PINNED_PWSH
stage=$MHP_COLD_STAGE
r2r_pwsh=$stage/pwsh-r2r/pwsh
shipped=$stage/shipped/MountHotplug
il=$stage/il/MountHotplug
floor_module=$PWD/bench/FloorModule/bin/Release/net8.0/FloorModule.psd1
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d /tmp/mhp-cold.XXXXXX)
mkdir -p "$work/src" "$work/target" "$work/list"
gcc -O2 -Wall -Wextra -Werror -pthread -o "$work/hotplug_loop" bench/c/hotplug_loop.c
echo hello >"$work/src/hello.txt"
# The target container: a tmpfs at $work/target in its own namespace. The listed one: $mounts tmpfs mounts.
unshare --mount --propagation private -- sh -c 'mount -t tmpfs cold "$1" && exec sleep 1000000' sh "$work/target" &
ct=$!
unshare --mount --propagation private -- sh -c '
  mount -t tmpfs list "$1" && cd "$1" && i=0
  while [ $i -lt "$2" ]; do mkdir $i && mount -t tmpfs t $i; i=$((i + 1)); done
  exec sleep 1000000' sh "$work/list" "$mounts" &
lister=$!
trap 'kill $ct $lister 2>/dev/null; wait 2>/dev/null; rm -rf --one-file-system "$work" "$stage"' EXIT
until grep -q " $work/target " "/proc/$ct/mountinfo" 2>/dev/null; do sleep 0.01; done
until [ "$(grep -c " $work/list/" "/proc/$lister/mountinfo" 2>/dev/null)" -ge "$mounts" ]; do sleep 0.2; done
listed=$(wc -l <"/proc/$lister/mountinfo")

plug() { echo "\$ct = Get-ContainerNamespace -ProcessId $ct; New-StagedMount $work/src -ReadOnly | Move-MountIntoNamespace -Namespace \$ct -Target $work/target/$1 -CreateTarget; \$ct.Dispose()"; }
# The script of one way; $2 names its hot-plug's target (each gets one of its own).
oneshot() {
  case $1 in
    floor | r2rfloor) echo 1 ;;
    floormod | r2rfloormod) echo "Import-Module $floor_module; Test-FloorModule -ProcessId $ct" ;;
    shipped | r2rshipped) echo "Import-Module $shipped; $(plug "$2")" ;;
    il) echo "Import-Module $il; $(plug "$2")" ;;
    mhp) plug "$2" ;;
    support) echo "Import-Module $shipped; Get-MountApiSupport" ;;
  esac
}

ways=(floor floormod shipped il mhp support r2rfloor r2rfloormod r2rshipped)
declare -A took
for ((i = 0; i < runs; i++)); do
  for ((k = 0; k < ${#ways[@]}; k++)); do
    way=${ways[$(((i + k) % ${#ways[@]}))]}
    if [ "$way" = mhp ]; then
      t=$(time_ms ./mhp -c "$(oneshot mhp "$way$i")")
    elif [[ $way == r2r* ]]; then
      t=$(time_ms "$r2r_pwsh" -NoProfile -c "$(oneshot "$way" "$way$i")")
    else
      t=$(time_ms "$pwsh" -NoProfile -c "$(oneshot "$way" "$way$i")")
    fi
    took[$way]+="$t "
  done
done
med() { printf '%s\n' ${took[$1]} | median; }
floor_ms=$(med floor)
floormod_ms=$(med floormod)
shipped_ms=$(med shipped)
il_ms=$(med il)
mhp_ms=$(med mhp)
support_ms=$(med support)
r2rfloor_ms=$(med r2rfloor)
r2rfloormod_ms=$(med r2rfloormod)
r2rshipped_ms=$(med r2rshipped)

# What each one-shot JIT-compiles, untimed: the runtime's own count and time at the end of the command (the median of
# three), and, from one more run with the JIT's summary file, how many of those methods are the module's.
jit_report="; '{0} {1:0.0}' -f [System.Runtime.JitInfo]::GetCompiledMethodCount(), [System.Runtime.JitInfo]::GetCompilationTime().TotalMilliseconds"
declare -A jit_methods jit_ms own_methods
for way in floor floormod shipped il; do
  counts=() times=()
  for r in 1 2 3; do
    command=$(oneshot "$way" "jit-$way$r")
    [ "$way" = floor ] && command='$null'
    read -r n ms < <("$pwsh" -NoProfile -c "$command$jit_report" | tail -n 1)
    counts+=("$n") times+=("$ms")
  done
  jit_methods[$way]=$(printf '%s\n' "${counts[@]}" | median)
  jit_ms[$way]=$(printf '%s\n' "${times[@]}" | median)
  # On stdout: DOTNET_JitStdOutFile crashed about one exit in ten here.
  DOTNET_JitDisasmSummary=1 "$pwsh" -NoProfile -c "$(oneshot "$way" "jit-$way-summary")" >"$work/jit-$way.txt"
  own_methods[$way]=$(grep -c 'JIT compiled MountHotplug\.' "$work/jit-$way.txt" || true)
done

# In one process: pipeline 0 is the session's first (cold); then warm pipelines and foreach loops alternate.
inproc() { # MODULE TAG [PWSH] -> "cold-µs warm-µs loop-µs list-cold-ms list-warm-ms c-µs warm÷c floor-loop-µs"
  "${3:-$pwsh}" -NoProfile -c "
Import-Module $1
\$ct = Get-ContainerNamespace -ProcessId $ct
\$n = 200
# The C loop attaches below a directory that must exist in the container's namespace; its first figure is ns a mount.
function CLoop(\$dir) {
    nsenter -m -t $ct mkdir -p \$dir
    \$out = & '$work/hotplug_loop' $ct '$work/src' \$n \$dir threaded
    if (\$LASTEXITCODE -ne 0) { throw \"hotplug_loop failed: \$out\" }
    [double](\$out -split ' ')[0] / 1000
}
function FloorLoop {
    \$sw = [Diagnostics.Stopwatch]::StartNew()
    foreach (\$i in 1..\$n) { \$null = Write-Output '$work/src' | Write-Output }
    \$sw.Elapsed.TotalMilliseconds * 1000 / \$n
}
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
\$cold = Pipeline '$work/target/$2-cold'
\$coldList = Listing
\$warm = @(); \$loop = @(); \$list = @(); \$c = @(); \$overC = @(); \$floor = @()
Loop '$work/target/$2-warmup' | Out-Null
CLoop '$work/target/$2-cwarmup' | Out-Null
FloorLoop | Out-Null
foreach (\$r in 1..7) {
    if (\$r % 2) { \$p = Pipeline \"$work/target/$2-p\$r\"; \$cr = CLoop \"$work/target/$2-c\$r\"; \$loop += Loop \"$work/target/$2-l\$r\" }
    else { \$loop += Loop \"$work/target/$2-l\$r\"; \$cr = CLoop \"$work/target/$2-c\$r\"; \$p = Pipeline \"$work/target/$2-p\$r\" }
    \$warm += \$p; \$c += \$cr; \$overC += \$p / \$cr
    \$floor += FloorLoop
    \$list += Listing
}
function Median(\$v) { \$s = @(\$v | Sort-Object); \$s[[int][Math]::Floor(\$s.Count / 2)] }
'{0:0.0} {1:0.0} {2:0.0} {3:0.0} {4:0.0} {5:0.0} {6:0.00} {7:0.0}' -f \$cold, (Median \$warm), (Median \$loop), \$coldList, (Median \$list), (Median \$c), (Median \$overC), (Median \$floor)
\$ct.Dispose()"
}
read -r cold_us warm_us loop_us list_cold_ms list_warm_ms c_us warm_over_c floor_loop_us <<<"$(inproc "$shipped" s)"
read -r il_cold_us il_warm_us _ il_list_cold_ms il_list_warm_ms _ _ _ <<<"$(inproc "$il" i)"
read -r r2r_cold_us r2r_warm_us _ r2r_list_cold_ms r2r_list_warm_ms _ _ _ <<<"$(inproc "$shipped" r "$r2r_pwsh")"

findmnt_times=()
for ((i = 0; i < 3; i++)); do findmnt_times+=("$(time_ms findmnt -J -N "$lister")"); done
findmnt_ms=$(printf '%s\n' "${findmnt_times[@]}" | median)

status=0
held=() missed=()
row() { # name value unit ratio target(≤ or ≥ N) holds-expression
  local holds=""
  if [ -n "$5" ]; then
    if awk "BEGIN { exit !($6) }"; then holds=yes; held+=("$1"); else holds=NO; missed+=("$1"); status=1; fi
  fi
  printf '| %s | %s %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$holds"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
jit_row() { # way label
  local methods=$((jit_methods[$1] - jit_methods[floor]))
  local own=""
  [ "$1" = shipped ] || [ "$1" = il ] && own=", ${own_methods[$1]} of them the module's"
  row "  JIT in it beyond the floor's: $methods methods$own" "$(minus "${jit_ms[$1]}" "${jit_ms[floor]}")" ms "" "" ""
}
echo "MountHotplug cold paths, real pwsh $("$pwsh" -NoProfile -c '$PSVersionTable.PSVersion.ToString()'), $(date -u '+%Y-%m-%d %H:%M UTC'), $runs one-shot rounds, $listed mounts listed, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
echo "| measurement | value | ratio | target | holds |"
echo "|---|---:|---:|---:|---|"
row "pwsh -NoProfile -c 1 (the start-up floor)" "$floor_ms" ms "1.00×" "" ""
row "  JIT in it ([System.Runtime.JitInfo], all threads): ${jit_methods[floor]} methods" "${jit_ms[floor]}" ms "" "" ""
row "pwsh -NoProfile -c 'Import-Module FloorModule; Test-FloorModule' (any binary module: one cmdlet)" "$floormod_ms" ms "$(ratio "$floormod_ms" "$floor_ms")" "" ""
row "  its overhead over the floor" "$(minus "$floormod_ms" "$floor_ms")" ms "" "" ""
jit_row floormod
row "pwsh -NoProfile -c 'Import-Module …; <one hot-plug>' (the module as it ships, ReadyToRun)" "$shipped_ms" ms "$(ratio "$shipped_ms" "$floor_ms")" "" ""
row "  one-shot overhead over the floor" "$(minus "$shipped_ms" "$floor_ms")" ms "" "≤ 60 ms" "$shipped_ms - $floor_ms <= 60"
jit_row shipped
row "  the same, the module's IL without ReadyToRun" "$il_ms" ms "$(ratio "$il_ms" "$floor_ms")" "" ""
row "    its overhead over the floor" "$(minus "$il_ms" "$floor_ms")" ms "" "" ""
jit_row il
row "./mhp -c '<one hot-plug>' (module/ as dotnet build stages it: Debug IL)" "$mhp_ms" ms "$(ratio "$mhp_ms" "$floor_ms")" "" ""
row "pwsh -NoProfile -c 'Import-Module …; Get-MountApiSupport'" "$support_ms" ms "$(ratio "$support_ms" "$floor_ms")" "" ""
row "the same pwsh with its engine ReadyToRun (compiled here): pwsh -NoProfile -c 1" "$r2rfloor_ms" ms "$(ratio "$r2rfloor_ms" "$floor_ms")" "" ""
row "  FloorModule's one-shot overhead over that floor" "$(minus "$r2rfloormod_ms" "$r2rfloor_ms")" ms "" "" ""
row "  the shipped module's one-shot hot-plug overhead over that floor" "$(minus "$r2rshipped_ms" "$r2rfloor_ms")" ms "" "" ""
row "warm pipeline of 200 hot-plugs, per mount" "$warm_us" µs "1.00×" "" ""
row "cold pipeline of 200 hot-plugs (the session's first), per mount" "$cold_us" µs "$(ratio "$cold_us" "$warm_us")" "≤ 2×" "$cold_us <= 2 * $warm_us"
row "  the same with the IL build, against its own warm pipeline ($il_warm_us µs)" "$il_cold_us" µs "$(ratio "$il_cold_us" "$il_warm_us")" "" ""
row "  the same in the pwsh with its engine ReadyToRun, against its own warm pipeline ($r2r_warm_us µs)" "$r2r_cold_us" µs "$(ratio "$r2r_cold_us" "$r2r_warm_us")" "" ""
row "  C loop making the same system calls with a namespace thread (hotplug_loop threaded, beside each warm pipeline)" "$c_us" µs "" "" ""
row "  warm pipeline ÷ that C loop (median of the paired ratios)" "${warm_over_c}×" "" "" "≤ 2×" "$warm_over_c <= 2"
row "foreach loop, one pipeline per mount (warm), per mount" "$loop_us" µs "$(ratio "$loop_us" "$warm_us")" "≤ 1.5×" "$loop_us <= 1.5 * $warm_us"
row "  the engine's floor for that form: a foreach of (\$null = Write-Output x | Write-Output), per iteration" "$floor_loop_us" µs "$(ratio "$floor_loop_us" "$warm_us")" "" ""
row "Get-Mount -ProcessId of $listed mounts, warm" "$list_warm_ms" ms "1.00×" "" ""
row "Get-Mount -ProcessId of $listed mounts, the session's first call" "$list_cold_ms" ms "$(ratio "$list_cold_ms" "$list_warm_ms")" "≤ 2×" "$list_cold_ms <= 2 * $list_warm_ms"
row "  the same with the IL build, against its own warm calls ($il_list_warm_ms ms)" "$il_list_cold_ms" ms "$(ratio "$il_list_cold_ms" "$il_list_warm_ms")" "" ""
row "  the same in the pwsh with its engine ReadyToRun, against its own warm calls ($r2r_list_warm_ms ms)" "$r2r_list_cold_ms" ms "$(ratio "$r2r_list_cold_ms" "$r2r_list_warm_ms")" "" ""
row "  findmnt -J ÷ that first call" "$findmnt_ms" ms "$(ratio "$findmnt_ms" "$r2r_list_cold_ms")" "" ""
row "findmnt -J -N PID, $listed mounts ÷ Get-Mount warm" "$findmnt_ms" ms "$(ratio "$findmnt_ms" "$list_warm_ms")" "≥ 25×" "$findmnt_ms >= 25 * $list_warm_ms"
row "findmnt -J -N PID ÷ Get-Mount cold" "$findmnt_ms" ms "$(ratio "$findmnt_ms" "$list_cold_ms")" "≥ 25×" "$findmnt_ms >= 25 * $list_cold_ms"
echo
listing() { if [ $# -eq 0 ]; then echo " none"; else printf ' %s;' "${@/#  /}"; echo; fi; }
echo "targets that hold (${#held[@]}):$(listing "${held[@]}")"
echo "targets that do not (${#missed[@]}):$(listing "${missed[@]}")"
exit $status
