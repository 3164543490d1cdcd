#!/usr/bin/env bash
# The newcomer's command: install if needed, then run vecshift on its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
exec node --import tsx src/cli/main.ts demo "$@"
