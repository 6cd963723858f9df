#!/usr/bin/env bash
# MountHotplug beside LXD's own hot-plug, into the same running LXD container, in ONE run, paired and rotated:
#   sudo bench/peers.sh [ROUNDS]     ROUNDS rotations (default 11); prints medians and ratios to LXD's REST call
# Per round, in a rotating order: LXD's REST device add (PATCH on the daemon's unix socket, curl), its CLI
# `lxc config device add`, MountHotplug's one-shot `pwsh -NoProfile -c` and `./mhp -c`, bare `pwsh -NoProfile -c 1`
# (the start-up floor); MountHotplug's warm pipeline is timed in one pwsh process after the rounds, per mount.
# LXD is started as the tests' fixture tests/MountHotplug.Tests/Runtimes/LxdDaemon.cs starts it: LXD_DIR and LXD_CONF
# temporary, loopback proxies, no network at all; the daemon is stopped and its directory removed on exit, whatever
# happens. Runs in a private mount namespace.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
rounds=${1:-11}
[ "$(id -u)" -eq 0 ] || { echo "bench/peers.sh: needs root" >&2; exit 1; }
command -v lxd >/dev/null || { echo "bench/peers.sh: lxd is not installed (Debian package lxd)" >&2; exit 1; }
if [ -z "${MHP_PEERS_INNER:-}" ]; then
  ./mhp -c 1 >/dev/null
  exec unshare --mount --propagation private -- env MHP_PEERS_INNER=1 bash "$0" "$@"
fi
. tools/pinned-pwsh.sh
# shellcheck source=timing.sh
. bench/timing.sh
pinned_pwsh
pwsh=$PINNED_PWSH
module=$PWD/module/MountHotplug

root=$(mktemp -d /tmp/mhp-peers.XXXXXX)
export LXD_DIR=$root/lxd LXD_CONF=$root/conf https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9
mkdir -p "$LXD_DIR" "$LXD_CONF" "$root/src"
chmod 711 "$root" "$LXD_DIR"
echo hello >"$root/src/hello.txt"
daemon=
cleanup() {
  lxc delete --force peer >/dev/null 2>&1 || true
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; fi
  grep " $root/" /proc/self/mountinfo | awk '{ print $5 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
setsid lxd --group root --logfile "$LXD_DIR/lxd.log" </dev/null >/dev/null 2>&1 &
daemon=$!
lxd waitready --timeout=120
lxd init --preseed >/dev/null <tools/lxd-preseed.yaml
img=$root/image
mkdir -p "$img/rootfs"
(
  cd "$img/rootfs"
  mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp root run var mnt
  chmod 1777 tmp
  cp /bin/busybox bin/
  for a in $(bin/busybox --list-full); do [ -e "$a" ] || ln -s /bin/busybox "$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >etc/passwd
  echo 'root:x:0:' >etc/group
  rm -f sbin/init
  printf '#!/bin/sh\ntrap "exit 0" TERM INT PWR USR2 HUP\nwhile :; do sleep 1 & wait $!; done\n' >sbin/init
  chmod 755 sbin/init
)
printf 'architecture: x86_64\ncreation_date: %s\nproperties: {description: busybox, os: busybox}\n' "$(date +%s)" >"$img/metadata.yaml"
tar -C "$img" -czf "$root/image.tar.gz" metadata.yaml rootfs
lxc image import "$root/image.tar.gz" --alias busybox >/dev/null
lxc launch busybox peer -c security.privileged=true >/dev/null 2>&1
src=$root/src

rest() { curl -sf --unix-socket "$LXD_DIR/unix.socket" -X PATCH -H 'Content-Type: application/json' \
  -d "{\"devices\":{\"r$1\":{\"type\":\"disk\",\"source\":\"$src\",\"path\":\"/mnt/r$1\",\"readonly\":\"true\"}}}" lxd/1.0/instances/peer; }
cli() { lxc config device add peer "c$1" disk "source=$src" "path=/mnt/c$1" readonly=true; }
plug() { echo "\$ct = Get-ContainerNamespace -Name peer -Runtime Lxd; New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace \$ct -Target /mnt/$1 -CreateTarget; \$ct.Dispose()"; }
oneshot() { "$pwsh" -NoProfile -c "Import-Module $module; $(plug "o$1")"; }
viamhp() { ./mhp -c "$(plug "h$1")"; }
floor() { "$pwsh" -NoProfile -c 1; }

declare -A times
variants=(rest cli oneshot viamhp floor)
for ((i = 0; i < rounds; i++)); do
  for ((k = 0; k < ${#variants[@]}; k++)); do
    v=${variants[$(((i + k) % ${#variants[@]}))]}
    times[$v]+="$(time_ms "$v" "$i") "
  done
done
warm_us=$("$pwsh" -NoProfile -c "
Import-Module $module
\$ct = Get-ContainerNamespace -Name peer -Runtime Lxd
\$n = 200; \$r = @()
foreach (\$k in 0..3) {
    \$sw = [Diagnostics.Stopwatch]::StartNew()
    New-StagedMount -Path (@('$src') * \$n) -ReadOnly | Move-MountIntoNamespace -Namespace \$ct -Target { '/mnt/w' + \$k + '-' + \$_.MountId } -CreateTarget
    if (\$k) { \$r += \$sw.Elapsed.TotalMilliseconds * 1000 / \$n }
}
\$ct.Dispose()
'{0:0.0}' -f (@(\$r | Sort-Object)[1])")
lxc exec peer -- cat /mnt/r0/hello.txt /mnt/c0/hello.txt /mnt/o0/hello.txt /mnt/h0/hello.txt >/dev/null

m() { printf '%s\n' ${times[$1]} | median; }
rest_ms=$(m rest)
echo "Hot-plugs into one running LXD $(lxd --version) container, $rounds rounds, rotated; real pwsh $("$pwsh" -NoProfile -c '$PSVersionTable.PSVersion.ToString()'); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| way | per hot-plug (median) | ÷ LXD REST |"
echo "|---|---:|---:|"
line() { awk -v n="$1" -v v="$2" -v u="$3" -v b="$rest_ms" 'BEGIN { printf "| %s | %s %s | %.3f× |\n", n, v, u, (u == "µs" ? v / 1000 : v) / b }'; }
line "MountHotplug warm pipeline (New-StagedMount \\| Move-MountIntoNamespace, 200 a pipeline)" "$warm_us" µs
line "LXD REST: PATCH /1.0/instances/NAME on the unix socket (curl)" "$rest_ms" ms
line "LXD CLI: lxc config device add NAME D disk source=… path=… readonly=true" "$(m cli)" ms
line "MountHotplug one-shot: pwsh -NoProfile -c 'Import-Module …; Get-ContainerNamespace -Name … \\| …'" "$(m oneshot)" ms
line "MountHotplug one-shot: ./mhp -c '…'" "$(m viamhp)" ms
line "pwsh -NoProfile -c 1 (start-up floor, no hot-plug)" "$(m floor)" ms
