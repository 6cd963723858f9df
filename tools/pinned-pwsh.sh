#!/usr/bin/env bash
# The pwsh that .config/dotnet-tools.json pins (the `powershell` local .NET tool): sourced by mhp, tests/run.sh and
# bench/startup.sh for `pinned_pwsh`, which sets PINNED_PWSH, or run to print its path. It runs the tool's own
# apphost rather than `dotnet pwsh`, whose shim starts a second runtime (about 0.5 s more per start), and restores
# the tool only when it is missing, because `dotnet tool restore` costs about 0.4 s even when there is nothing to do.
# mhp runs this on every start, hence bash built-ins on the path that finds the tool where it should be.

pinned_pwsh() {
  local root version tail account_home
  root="${BASH_SOURCE[0]%/*}/.."
  [[ $(<"$root/.config/dotnet-tools.json") =~ \"powershell\":[^}]*\"version\":\ *\"([^\"]+)\" ]] || {
    echo "pinned-pwsh: no powershell version in $root/.config/dotnet-tools.json" >&2
    return 1
  }
  version=${BASH_REMATCH[1]}
  tail="powershell/$version/tools/net10.0/any/unix/pwsh"
  PINNED_PWSH="${NUGET_PACKAGES:-$HOME/.nuget/packages}/$tail"
  [ -x "$PINNED_PWSH" ] && return 0
  # Hooks run with another HOME (LXC's is /nonexistent): the account's own home still has the restored tool.
  account_home=$(getent passwd "$(id -u)" | cut -d: -f6)
  if [ -z "${NUGET_PACKAGES:-}" ] && [ -x "$account_home/.nuget/packages/$tail" ]; then
    PINNED_PWSH="$account_home/.nuget/packages/$tail"
    return 0
  fi
  (cd "$root" && dotnet tool restore >&2) || return 1
  if [ ! -x "$PINNED_PWSH" ]; then
    echo "pinned-pwsh: dotnet tool restore did not produce pwsh $version at $PINNED_PWSH" >&2
    return 1
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  pinned_pwsh
  printf '%s\n' "$PINNED_PWSH"
fi
