#!/usr/bin/env bash
# Runs every MountHotplug test, as root, on a fresh Debian host: installs what the tests need when it is missing
# (busybox-static for the sandbox containers, util-linux's unshare/nsenter/setpriv, mount's losetup and e2fsprogs'
# mkfs.ext4 for the loop-device ext4 tests, and the real runtimes: lxc, runc, crun, podman, systemd-container,
# docker.io, lxd, uidmap, openssh-server; the pinned pwsh and Pester 6.2.0 from NuGet), builds the solution, and runs
# the xunit suite and then the Pester suite (tests/pester, in the pinned pwsh) inside one private mount namespace so
# the host's mount table cannot change. The closing line sums both suites' counts; tests/TestResults holds
# xunit.trx and pester.xml. Loop devices the tests made are detached afterwards. Idempotent.
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
# LXD's daemon is started by its test fixture (LxdDaemon: no network, loopback proxies), never by the package.
[ -x /usr/bin/lxd ] || missing+=(lxd)
# The remoting test starts its own sshd on loopback (nothing starts Debian's service).
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: missing ${missing[*]}; run as root (sudo tests/run.sh) so it can install them." >&2
    exit 1
  fi
  echo "tests/run.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The pinned pwsh (.config/dotnet-tools.json) runs the Pester suite; Pester 6.2.0 comes from NuGet, where its package's
# tools/ folder is the module. Both steps are no-ops once done.
dotnet tool restore >/dev/null
# shellcheck source=../tools/pinned-pwsh.sh
. tools/pinned-pwsh.sh
pinned_pwsh
export MHP_PWSH="$PINNED_PWSH"
export PESTER_MANIFEST="${NUGET_PACKAGES:-$HOME/.nuget/packages}/pester/6.2.0/tools/Pester.psd1"
[ -f "$PESTER_MANIFEST" ] || dotnet restore tests/pester/Pester.csproj -nologo -v quiet >/dev/null
installed=$(date +%s)
echo "tests/run.sh: prerequisites ready in $((installed - started)) s" >&2

# losetup --find needs the loop driver; it is built in or a module (best effort: a test that cannot get a device fails).
if [ "$(id -u)" -eq 0 ] && [ ! -e /dev/loop-control ]; then modprobe loop 2>/dev/null || true; fi

dotnet build MountHotplug.slnx -nologo -v quiet -clp:ErrorsOnly

host_table_before=$(cat /proc/1/mountinfo)
log=$(mktemp /tmp/mhp-test-log.XXXXXX)
pester_log=$(mktemp /tmp/mhp-pester-log.XXXXXX)
suite_status=$(mktemp /tmp/mhp-test-status.XXXXXX)
# The xunit TRX and Pester's NUnit XML, side by side: what a CI job keeps as artifacts.
export MHP_TEST_RESULTS="$PWD/tests/TestResults"
export MHP_PESTER_FAILURES="$MHP_TEST_RESULTS/pester-failures.txt"

# The loop-device tests attach images under /tmp/mhp-img-<tag>-*; a test that was killed may leave one attached.
# The tag is this run's, so a run never detaches the devices of another one going on beside it.
export MHP_TEST_LOOP_TAG="run$$"
detach_test_loops() {
  command -v losetup >/dev/null || return 0
  losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v prefix="/tmp/mhp-img-$MHP_TEST_LOOP_TAG-" 'index($2, prefix) == 1 { print $1 }' |
    while read -r dev; do losetup -d "$dev" 2>/dev/null || true; done
}
trap 'rm -f "$log" "$pester_log" "$suite_status"; detach_test_loops' EXIT

# Both suites, one after the other, in ONE mount namespace; writes "xunit-status pester-status" to $3.
run_suites() {
  local xunit pester
  set +e
  dotnet test tests/MountHotplug.Tests/MountHotplug.Tests.csproj --no-build -nologo --logger "console;verbosity=normal" \
    --logger "trx;LogFileName=xunit.trx" --results-directory "$MHP_TEST_RESULTS" 2>&1 | tee "$1"
  xunit=${PIPESTATUS[0]}
  "$MHP_PWSH" -NoProfile -NonInteractive -File tests/pester/Invoke-PesterSuite.ps1 -PesterManifest "$PESTER_MANIFEST" \
    -ResultDirectory "$MHP_TEST_RESULTS" -FailureFile "$MHP_PESTER_FAILURES" 2>&1 | tee "$2"
  pester=${PIPESTATUS[0]}
  echo "$xunit $pester" >"$3"
}

rm -f "$MHP_PESTER_FAILURES"
if [ "$(id -u)" -eq 0 ]; then
  # Privileged tests make their mounts in containers they start; the private namespace is the second fence.
  unshare --mount --propagation private -- bash -c "$(declare -f run_suites); run_suites \"\$@\"" run_suites "$log" "$pester_log" "$suite_status" || true
else
  run_suites "$log" "$pester_log" "$suite_status"
fi
read -r xunit_status pester_status <"$suite_status" || { xunit_status=1; pester_status=1; }
status=0
[ "$xunit_status" = 0 ] && [ "$pester_status" = 0 ] || status=1

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
# Pester's closing line (tests/pester/Invoke-PesterSuite.ps1); without it, Pester did not get to the end.
pester_counts=$(grep -oE '^Pester: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$pester_log" | tail -n 1 | grep -oE '[0-9]+' | tr '\n' ' ' || true)
if [ -z "$pester_counts" ]; then
  echo "tests/run.sh: no Pester summary found" >&2
  pester_counts="0 1 0"
  status=1
fi
read -r pester_passed pester_failed pester_skipped <<<"$pester_counts"
echo "tests/run.sh: xunit $passed passed, $failed failed, $skipped skipped; Pester $pester_passed passed, $pester_failed failed, $pester_skipped skipped" >&2
passed=$((passed + pester_passed))
failed=$((failed + pester_failed))
skipped=$((skipped + pester_skipped))
if [ "${CI:-}" = "true" ] && [ "$skipped" -ne 0 ]; then
  echo "tests/run.sh: $skipped test(s) skipped; in CI a skipped test is a failure" >&2
  status=1
fi
# CI keeps only the tail of this output, so each failed test's name, message and stack are repeated here (xunit's from
# its log, Pester's from the file its runner wrote).
if [ "$failed" -ne 0 ]; then
  echo "tests/run.sh: the failed tests, again:" >&2
  awk '/^  Failed / { keep = 1; lines = 0 }
       /^  (Passed|Skipped) |^\[xUnit|^Test Run / { keep = 0 }
       keep && lines++ < 60 { print }' "$log" >&2
  if [ -s "$MHP_PESTER_FAILURES" ]; then cat "$MHP_PESTER_FAILURES" >&2; fi
fi
echo "tests/run.sh: build and tests took $(( $(date +%s) - installed )) s" >&2
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
