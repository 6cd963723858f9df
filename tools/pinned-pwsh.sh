#!/usr/bin/env bash
# The pwsh that .config/dotnet-tools.json pins (the `powershell` local .NET tool): sourced by mhp, tests/run.sh and
# bench/startup.sh for `pinned_pwsh`, or run to print its path. It runs the tool's own apphost rather than
# `dotnet pwsh`, whose shim starts a second runtime (about 0.5 s more per start), and restores the tool only when it
# is missing, because `dotnet tool restore` costs about 0.4 s even when there is nothing to do.

pinned_pwsh() {
  local root version tail path account_home
  root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
  version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$root/.config/dotnet-tools.json" | head -n 1)
  tail="powershell/$version/tools/net10.0/any/unix/pwsh"
  path="${NUGET_PACKAGES:-$HOME/.nuget/packages}/$tail"
  # Hooks run with another HOME (LXC's is /nonexistent): the account's own home still has the restored tool.
  account_home=$(getent passwd "$(id -u)" | cut -d: -f6)
  if [ ! -x "$path" ] && [ -z "${NUGET_PACKAGES:-}" ] && [ -x "$account_home/.nuget/packages/$tail" ]; then
    path="$account_home/.nuget/packages/$tail"
  fi
  if [ ! -x "$path" ]; then
    (cd "$root" && dotnet tool restore >&2) || return 1
  fi
  if [ ! -x "$path" ]; then
    echo "pinned-pwsh: dotnet tool restore did not produce pwsh $version at $path" >&2
    return 1
  fi
  printf '%s\n' "$path"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  pinned_pwsh
fi
