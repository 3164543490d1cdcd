#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it. This is the
# README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests start as real peers. Empty lists are fine; later peers
# (kcat for Kafka, PostgreSQL) are added here, never installed by hand.
# postgresql-15: the postgres control store's tests run a throw-away server of their own
# (test/helpers/postgres-server.ts); the package's own cluster is never started.
# chromium: the status page is tested in headless Chromium (playwright-core drives it;
# playwright's own browser download cannot work on a closed network).
APT_PACKAGES=(kcat postgresql-15 chromium)

bash scripts/apt-install.sh "${APT_PACKAGES[@]}"

# npm ci reproduces package-lock.json exactly; skip it when node_modules already matches.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm test
