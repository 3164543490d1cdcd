#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it. This is the
# README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests start as real peers. Empty lists are fine; later peers
# (kcat for Kafka, PostgreSQL) are added here, never installed by hand.
APT_PACKAGES=(kcat)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# npm ci reproduces package-lock.json exactly; skip it when node_modules already matches.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm test
