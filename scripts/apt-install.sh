#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet, without letting their
# post-install scripts start system services (nginx on :80, a PostgreSQL cluster on :5432):
# tests and benchmarks start their own peers, on ports of their own. A no-op when all are
# installed. Used by scripts/test.sh and scripts/bench-deps.sh.
set -euo pipefail

missing=()
for pkg in "$@"; do
  # "install ok installed" only: a removed package keeps a status ("deinstall ... config-files").
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "apt-install: ${missing[*]} missing and this is not root (no sudo); install them first" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "installing Debian packages: ${missing[*]}" >&2
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
