#!/usr/bin/env bash
# Counts the system calls of one hot-plug, per mount, with strace: the issue's raw C loop, the C loop making the
# native layer's calls (safe, threaded) and the native C# API. Each count is a run with 1,000 mounts minus a run
# with none, divided by 1,000. The target is a process in a private mount namespace of its own, on a tmpfs.
#   bench/syscalls.sh      (root; needs strace, gcc and the .NET SDK)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
command -v strace > /dev/null || { echo "bench/syscalls.sh needs strace (apt-get install strace)" >&2; exit 2; }
work=$(mktemp -d /tmp/mhp-syscalls.XXXXXX)
gcc -O2 -Wall -Wextra -Werror -pthread -o "$work/hotplug_loop" bench/c/hotplug_loop.c
dotnet build bench/MountHotplug.Bench/MountHotplug.Bench.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >&2
bench_dll=bench/MountHotplug.Bench/bin/Release/net10.0/MountHotplug.Bench.dll
export work bench_dll
unshare --mount --propagation private -- bash -euo pipefail -c '
  mkdir -p "$work/src" "$work/t"
  mount -t tmpfs mhp-syscalls "$work/t"
  unshare --mount --propagation private sleep 600 &
  target=$!
  sleep 0.3
  per_mount() { # label, then the command, with @COUNT@ and @DIR@ where the mount count and target directory go
    local label=$1; shift
    for n in 0 1000; do
      mkdir -p "$work/t/$label-$n"
      local -a command=("${@//@COUNT@/$n}")
      command=("${command[@]//@DIR@/$work/t/$label-$n}")
      strace -f -qq -c -o "$work/$label-$n.txt" "${command[@]}" > /dev/null 2>&1 || true
      awk "NR>2 && \$NF!=\"total\" && \$1 !~ /^-/ {print \$NF, (\$4 ~ /^[0-9]+\$/ ? \$4 : \$5)}" "$work/$label-$n.txt" | sort > "$work/$label-$n.counts"
    done
    printf "%-9s" "$label:"
    join -a2 -e0 -o 2.1,1.2,2.2 "$work/$label-0.counts" "$work/$label-1000.counts" |
      awk "{d=(\$3-\$2)/1000; if (d>=0.5) {printf \" %s %.1f\", \$1, d; if (\$1 != \"sched_yield\" && \$1 != \"futex\") total+=d}} END {printf \"  = %.0f without the spin\n\", total}"
  }
  per_mount raw      "$work/hotplug_loop" "$target" "$work/src" @COUNT@ @DIR@
  per_mount safe     "$work/hotplug_loop" "$target" "$work/src" @COUNT@ @DIR@ safe
  per_mount threaded "$work/hotplug_loop" "$target" "$work/src" @COUNT@ @DIR@ threaded
  per_mount dotnet   dotnet "$bench_dll" --attach-loop "$target" "$work/src" @COUNT@ @DIR@
  kill "$target"
'
rm -rf "$work"
