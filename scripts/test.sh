#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it. This is the
# README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests start as real peers. Empty lists are fine; later peers
# (kcat for Kafka, PostgreSQL) are added here, never installed by hand.
# postgresql-15: the postgres control store's tests run a throw-away server of their own
# (test/helpers/postgres-server.ts); the package's own cluster is never started.
APT_PACKAGES=(kcat postgresql-15)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  # "install ok installed" only: a removed package keeps a status ("deinstall ... config-files").
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # policy-rc.d exit 101 keeps the packages' postinst from starting system services (the
  # PostgreSQL cluster on :5432): tests start their own peers on ports of their own.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
fi

# npm ci reproduces package-lock.json exactly; skip it when node_modules already matches.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm test
