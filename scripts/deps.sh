#!/usr/bin/env bash
# Installs the Debian packages of the given groups (see deps/packages.txt) that are missing.
# Idempotent and quiet when everything is present. Usage: scripts/deps.sh build [fuzz ...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
groups=" ${*:-build} "
missing=()
while read -r pkg group _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    [[ "$groups" == *" $group "* ]] || continue
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done < "$here/deps/packages.txt"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A stale package list makes installs fail; refresh it once per install.
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
