#!/usr/bin/env bash
# Installs what `npm run bench:proxy` needs from Debian: nginx, the reference reverse proxy
# the gateway is measured against. A no-op when it is already installed; it never starts or
# enables the system service (the benchmark runs its own nginx from a temporary prefix).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
bash scripts/apt-install.sh nginx
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
