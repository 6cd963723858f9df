#!/usr/bin/env bash
# Where a hot-plug's CPU time goes, per mount, from perf samples: the C loop making the native layer's calls with a
# namespace thread (hotplug_loop threaded) beside the native C# API (ContainerMounter.Attach). Each figure is a run
# with 10,000 mounts minus a run with none, divided by 10,000, so start-up (the JIT, loading assemblies) drops out.
# Columns: the kernel; libc (mostly its syscall(3) and sched_yield stubs: the time around each trap into the kernel,
# which on this paravirtualized guest passes through the hypervisor); the program's own code (the C binary, or the
# JIT-compiled C#); the runtime (libcoreclr, the JIT, CoreLib, ld.so's TLS lookups). Both programs spin on the other
# thread while a move_mount is handed over, so CPU time exceeds wall time.
# A second table sets single calls from C (bench/c/call_cost.c) beside the same calls through the native layer, each
# the median of five alternating runs.
#   bench/profile.sh      (root; needs perf from Debian's linux-perf, gcc and the .NET SDK)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
command -v perf > /dev/null || { echo "bench/profile.sh needs perf (apt-get install linux-perf)" >&2; exit 2; }
work=$(mktemp -d /tmp/mhp-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
gcc -O2 -Wall -Wextra -Werror -pthread -o "$work/hotplug_loop" bench/c/hotplug_loop.c
gcc -O2 -Wall -Wextra -Werror -o "$work/call_cost" bench/c/call_cost.c
dotnet build bench/MountHotplug.Bench/MountHotplug.Bench.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >&2
mounts=10000
# One sample per 0.5 ms of a thread's CPU time: sampling much faster slows this guest down several times over.
period_ns=500000

# Records each run inside a private mount namespace, the target being a process in a namespace of its own on a tmpfs;
# leaves $work/<label>-<count>.samples with lines "thread name<TAB>dso<TAB>samples".
export work mounts period_ns
unshare --mount --propagation private -- bash -euo pipefail -c '
  bench_dll=bench/MountHotplug.Bench/bin/Release/net10.0/MountHotplug.Bench.dll
  ulimit -n "$(ulimit -Hn)" # the C loop stages every clone before it attaches any, and holds their descriptors
  mkdir -p "$work/src" "$work/t"
  mount -t tmpfs mhp-profile "$work/t"
  unshare --mount --propagation private sleep 600 &
  target=$!
  sleep 0.3
  record() { # label, then the command with @COUNT@ and @DIR@
    local label=$1; shift
    for n in 0 "$mounts"; do
      mkdir -p "$work/t/$label-$n"
      local -a command=("${@//@COUNT@/$n}")
      command=("${command[@]//@DIR@/$work/t/$label-$n}")
      DOTNET_PerfMapEnabled=1 perf record -q -e cpu-clock -c "$period_ns" -o "$work/$label-$n.data" -- "${command[@]}" > /dev/null
      perf report -i "$work/$label-$n.data" --sort comm,dso -n --stdio -t @ 2> /dev/null |
        awk -F @ "/^ *[0-9.]+%/ { for (i = 2; i <= 4; i++) gsub(/^ +| +\$/, \"\", \$i); print \$3 \"\t\" \$4 \"\t\" \$2 }" \
        > "$work/$label-$n.samples"
    done
  }
  record c "$work/hotplug_loop" "$target" "$work/src" @COUNT@ @DIR@ threaded
  record net dotnet "$bench_dll" --attach-loop "$target" "$work/src" @COUNT@ @DIR@
  for round in 1 2 3 4 5; do # alternating: this guest drifts by tens of percent from one process to the next
    "$work/call_cost" "$target" 100000 >> "$work/calls-c.txt"
    dotnet "$bench_dll" --call-costs "$target" 100000 >> "$work/calls-net.txt"
  done
  kill "$target"
'

# Samples of the full run minus those of the empty run, per thread and dso, as µs of CPU per mount.
per_mount() {
  join -t $'\t' -a 2 -e 0 -o 0,1.2,2.2 \
    <(awk -F '\t' '{ print $1 "|" $2 "\t" $3 }' "$work/$1-0.samples" | sort) \
    <(awk -F '\t' '{ print $1 "|" $2 "\t" $3 }' "$work/$1-$mounts.samples" | sort) |
  awk -F '\t' -v program="$2" -v mounts="$mounts" -v period="$period_ns" '
    {
      split($1, key, "|"); name = key[1]; dso = key[2]
      us = ($3 - $2) * period / 1000 / mounts
      if (name == "hotplug_loop" || name == "dotnet") thread = "calling thread"
      else if (name == "namespace" || name ~ /^MountHotplug/) thread = "namespace thread"
      else thread = "runtime threads (JIT, finalizer)"
      if (dso ~ /kernel/) kind = 1
      else if (dso ~ /^libc\./) kind = 2
      else if (dso ~ /^hotplug_loop$|^memfd:doublemapper|^perf-[0-9]+\.map$/) kind = 3
      else kind = 4
      t[thread, kind] += us; t[thread, 5] += us; seen[thread] = 1
    }
    END {
      n = split("calling thread|namespace thread|runtime threads (JIT, finalizer)", order, "|")
      for (i = 1; i <= n; i++)
        if (seen[order[i]])
          printf "| %s, %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", program, order[i], t[order[i], 1], t[order[i], 2], t[order[i], 3], t[order[i], 4], t[order[i], 5]
    }'
}
echo "MountHotplug profile: µs of CPU per mount, $mounts mounts, $(nproc) CPUs, $(uname -r), $(date -u '+%F %TZ')"
echo
echo "| thread | kernel | libc | program | runtime | total |"
echo "|---|---:|---:|---:|---:|---:|"
per_mount c "C loop (safe calls, namespace thread)"
per_mount net "native C# API"
echo
echo "| one call | C | through the native layer | added by .NET |"
echo "|---|---:|---:|---:|"
median() { # the median per call name of "name ns" lines
  sort -k1,1 -k2,2n "$1" | awk '{ v[$1, ++n[$1]] = $2 } END { for (k in n) print k, v[k, int((n[k] + 1) / 2)] }' | sort
}
join <(median "$work/calls-c.txt") <(median "$work/calls-net.txt") |
  awk '{ printf "| %s | %d ns | %d ns | %+d ns |\n", $1, $2, $3, $3 - $2 }'
