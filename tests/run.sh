#!/usr/bin/env bash
# Runs every MountHotplug test, as root, on a fresh Debian host: installs what the tests need when it is missing
# (busybox-static for the sandbox containers, util-linux's unshare/nsenter/setpriv, mount's losetup and e2fsprogs'
# mkfs.ext4 for the loop-device ext4 tests, and the real runtimes: lxc, runc, crun, podman, systemd-container,
# docker.io, uidmap), builds the solution, and runs the tests inside a private mount namespace so the host's mount
# table cannot change. Loop devices the tests made are detached afterwards. Idempotent.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

started=$(date +%s)
missing=()
[ -x /bin/busybox ] || missing+=(busybox-static)
for tool in unshare nsenter setpriv; do command -v "$tool" >/dev/null || { missing+=(util-linux); break; }; done
command -v losetup >/dev/null || missing+=(mount)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
# The real container runtimes the runtime tests start (tests/MountHotplug.Tests/Runtimes): each package only when its
# tool is missing, so a second run installs nothing. uidmap gives LXC newuidmap for the unprivileged container.
[ -x /usr/bin/lxc-start ] || missing+=(lxc)
[ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ] || missing+=(runc)
[ -x /usr/bin/crun ] || missing+=(crun)
[ -x /usr/bin/podman ] || missing+=(podman)
[ -x /usr/bin/systemd-nspawn ] || missing+=(systemd-container)
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
[ -x /usr/bin/newuidmap ] || missing+=(uidmap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: missing ${missing[*]}; run as root (sudo tests/run.sh) so it can install them." >&2
    exit 1
  fi
  echo "tests/run.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
installed=$(date +%s)
echo "tests/run.sh: prerequisites ready in $((installed - started)) s" >&2

# losetup --find needs the loop driver; it is built in or a module (best effort: a test that cannot get a device fails).
if [ "$(id -u)" -eq 0 ] && [ ! -e /dev/loop-control ]; then modprobe loop 2>/dev/null || true; fi

dotnet build MountHotplug.slnx -nologo -v quiet -clp:ErrorsOnly

host_table_before=$(cat /proc/1/mountinfo)
log=$(mktemp /tmp/mhp-test-log.XXXXXX)

# The loop-device tests attach images under /tmp/mhp-img-<tag>-*; a test that was killed may leave one attached.
# The tag is this run's, so a run never detaches the devices of another one going on beside it.
export MHP_TEST_LOOP_TAG="run$$"
detach_test_loops() {
  command -v losetup >/dev/null || return 0
  losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v prefix="/tmp/mhp-img-$MHP_TEST_LOOP_TAG-" 'index($2, prefix) == 1 { print $1 }' |
    while read -r dev; do losetup -d "$dev" 2>/dev/null || true; done
}
trap 'rm -f "$log"; detach_test_loops' EXIT

runner=(dotnet test tests/MountHotplug.Tests/MountHotplug.Tests.csproj --no-build -nologo --logger "console;verbosity=normal")
if [ "$(id -u)" -eq 0 ]; then
  # Privileged tests make their mounts in containers they start; the private namespace is the second fence.
  runner=(unshare --mount --propagation private -- "${runner[@]}")
fi

set +e
"${runner[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The bench's short mode runs with the tests so that it cannot rot (its figures mean nothing at this size).
if [ "$(id -u)" -eq 0 ]; then
  if ! bash bench/run.sh --short; then
    echo "tests/run.sh: bench/run.sh --short failed" >&2
    status=1
  fi
fi

if [ "$host_table_before" != "$(cat /proc/1/mountinfo)" ]; then
  echo "tests/run.sh: the host mount table changed during the test run" >&2
  status=1
fi

# vstest's closing block: "Total tests: N", then "Passed: N", "Failed: N", "Skipped: N" (each only when non-zero).
count() { grep -E "^ +$1: +[0-9]+\$" "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0; }
if ! grep -qE '^Total tests: +[0-9]+' "$log"; then
  echo "tests/run.sh: no test summary found" >&2
  exit 1
fi
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
if [ "${CI:-}" = "true" ] && [ "$skipped" -ne 0 ]; then
  echo "tests/run.sh: $skipped test(s) skipped; in CI a skipped test is a failure" >&2
  status=1
fi
# CI keeps only the tail of this output, so each failed test's name, message and stack are repeated here.
if [ "$failed" -ne 0 ]; then
  echo "tests/run.sh: the failed tests, again:" >&2
  awk '/^  Failed / { keep = 1; lines = 0 }
       /^  (Passed|Skipped) |^\[xUnit|^Test Run / { keep = 0 }
       keep && lines++ < 60 { print }' "$log" >&2
fi
echo "tests/run.sh: build and tests took $(( $(date +%s) - installed )) s" >&2
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
